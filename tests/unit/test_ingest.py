"""The dedup decisions of one poll, with plain values: what is new, a repeat, a version, a
near-duplicate or a thread's continuation (`bot.ingest`)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

from hypothesis import example, given
from hypothesis import strategies as st

from bot.dedup import MAX_DISTANCE, distance, fingerprint
from bot.ingest import (
    ID_SEPARATOR,
    FollowUp,
    Known,
    NewStatement,
    NewVersion,
    Pending,
    Stored,
    decide,
    distinct_items,
    item_hash,
    text_hash,
)
from bot.model import AlertKind, FetchedItem, Reference, StatementKind, StatementToStore
from bot.text import content_hash
from tests.builders import T0, item, to_store

ME, OTHER = 1, 2
REPORT = (
    "As of 28 September, 2 helicopters and 7 tanks of the adversary were destroyed along the "
    "line of contact, the ministry of defence reports."
)


def stored(
    sid: int,
    st: StatementToStore,
    *,
    source_id: int = ME,
    duplicate_of: int | None = None,
    live: bool = True,
    hashes: frozenset[str] = frozenset(),
) -> Stored:
    it = st.item
    return Stored(
        id=sid,
        source_id=source_id,
        external_id=it.external_id,
        content_hash=st.content_hash,
        canonical_url=st.canonical_url,
        published_at=it.published_at,
        published_estimated=it.published_estimated,
        duplicate_of=duplicate_of,
        alerted=bool(st.channels),
        text=it.text,
        simhash=st.simhash,
        hashes=hashes or frozenset({st.content_hash}),
        live_alert=live,
        kind=it.kind,
    )


def with_fp(st: StatementToStore, near: tuple[int, ...] = ()) -> StatementToStore:
    return replace(st, simhash=fingerprint(st.item.text), near=near)


def known(*rows: Stored, mine: tuple[Stored, ...] = ()) -> Known:
    return Known(source_id=ME, by_external_id={r.external_id: r for r in mine}, related=tuple(rows))


# --- one page, many anchors; one guid, many items; a new guid at every poll ---------------------


def test_anchors_of_one_page_are_distinct_statements() -> None:
    """A feed whose posts are anchors of one page (`page.html#post-1` … `#post-9`): one link
    once the fragment is dropped, but nine guids and nine texts, so nine statements."""
    page = "https://mfa.example/statements.html"
    todo = [
        with_fp(
            to_store(
                item(n, text=f"Statement {n}: {REPORT.replace('28', str(n + 10))}"),
                canonical=page,
            )
        )
        for n in range(1, 10)
    ]
    intents = decide(todo, known())
    assert [type(i) for i in intents] == [NewStatement] * 9
    assert all(isinstance(i, NewStatement) and i.alert and i.duplicate_of is None for i in intents)


def test_a_link_with_the_same_text_is_a_repeat_and_another_source_says_also() -> None:
    first = with_fp(to_store(item(1, text=REPORT), canonical="https://mod.example/a"))
    again = with_fp(to_store(item(2, text=REPORT + " #Karabakh"), canonical=first.canonical_url))
    row = stored(10, first, source_id=OTHER)
    (intent,) = decide([again], known(row))
    assert intent == NewStatement(again, duplicate_of=10, follow_up=FollowUp(AlertKind.ALSO, 10))


def test_a_link_with_another_text_is_a_new_statement() -> None:
    first = with_fp(to_store(item(1, text=REPORT), canonical="https://mod.example/a"))
    other = with_fp(
        to_store(
            item(2, text="The president met the co-chairs of the Minsk Group in Moscow today."),
            canonical=first.canonical_url,
        )
    )
    (intent,) = decide([other], known(stored(10, first, source_id=OTHER)))
    assert intent == NewStatement(other, alert=True)


def test_an_abridged_republication_behind_the_same_link_is_a_repeat() -> None:
    full = REPORT + " Be ready to defend the homeland. We will stand with Artsakh."
    first = with_fp(to_store(item(1, text=full), canonical="https://pm.example/address"))
    short = REPORT + " We will stand with Artsakh."
    abridged = with_fp(to_store(item(2, text=short), canonical=first.canonical_url))
    (intent,) = decide([abridged], known(stored(10, first, source_id=OTHER)))
    assert isinstance(intent, NewStatement) and intent.duplicate_of == 10
    changed = with_fp(
        to_store(
            item(3, text=REPORT.replace("7 tanks", "8 tanks") + " We will stand with Artsakh."),
            canonical=first.canonical_url,
        )
    )
    (intent,) = decide([changed], known(stored(10, first, source_id=OTHER)))
    assert intent == NewStatement(changed, alert=True)


def test_items_sharing_a_guid_are_each_kept() -> None:
    texts = ["Ceasefire violated near Martuni.", "Shelling of Stepanakert.", "Talks in Moscow."]
    items = [replace(item(n, text=t), external_id="same") for n, t in enumerate(texts, 1)]
    out = distinct_items([*items, items[0]])  # listed twice: kept once
    assert len(out) == 3
    assert len({i.external_id for i in out}) == 3
    assert all(i.external_id.startswith("same" + ID_SEPARATOR) for i in out)
    # stable from poll to poll
    assert [i.external_id for i in distinct_items(items)] == [i.external_id for i in out]
    intents = decide([to_store(i) for i in out], known())
    assert [type(i) for i in intents] == [NewStatement] * 3


def test_an_item_alone_with_its_guid_keeps_it() -> None:
    one = item(1)
    assert distinct_items([one, one]) == [one]


def test_a_guid_made_up_at_every_poll_is_the_same_item() -> None:
    """Short text, no link, a new guid each time: the text and date say it is the one stored."""
    first = to_store(replace(item(1, url=None, text="Air raid alert."), external_id="g-1"))
    again = to_store(replace(first.item, external_id="g-2"))
    assert decide([again], known(stored(10, first))) == []


def test_an_undated_item_under_a_new_guid_is_the_same_item() -> None:
    first = replace(item(1, url=None, text="Air raid alert."), published_estimated=True)
    later = replace(first, external_id="g-2", published_at=first.published_at + timedelta(hours=1))
    assert decide([to_store(later)], known(stored(10, to_store(first)))) == []


def test_one_text_on_two_dates_is_two_statements() -> None:
    """The same short announcement on two days, each dated: two statements."""
    first = to_store(item(1, url=None, text="Air raid alert."))
    second = to_store(replace(first.item, external_id="id-2", published_at=T0 + timedelta(days=1)))
    (intent,) = decide([second], known(stored(10, first)))
    assert intent == NewStatement(second, alert=True)


def test_one_text_twice_in_one_fetch_is_two_statements() -> None:
    """Both items are in the feed at once: neither is the other under a new guid."""
    first = to_store(replace(item(1, url=None, text="Air raid alert."), published_estimated=True))
    second = to_store(replace(first.item, external_id="id-2"))
    row = stored(10, first)
    intents = decide([first, second], known(row, mine=(row,)))
    assert intents == [NewStatement(second, alert=True)]


# --- numbers make statements different ---------------------------------------------------------


def test_near_duplicate_from_another_source_with_the_same_numbers() -> None:
    original = with_fp(to_store(item(1, text=REPORT)))
    cross = with_fp(to_store(item(2, text="RT @mod: " + REPORT)), near=(10,))
    (intent,) = decide([cross], known(stored(10, original, source_id=OTHER)))
    assert intent == NewStatement(cross, duplicate_of=10, follow_up=FollowUp(AlertKind.ALSO, 10))


def test_reports_that_differ_in_a_number_are_two_statements() -> None:
    original = with_fp(to_store(item(1, text=REPORT)))
    for changed in (
        REPORT.replace("2 helicopters", "3 helicopters"),
        REPORT.replace("28 September", "29 September"),
        REPORT.replace("7 tanks", "17 tanks"),
    ):
        other = with_fp(to_store(item(2, text=changed)), near=(10,))
        (intent,) = decide([other], known(stored(10, original, source_id=OTHER)))
        assert intent == NewStatement(other, alert=True), changed


def test_a_cut_text_keeps_its_numbers_as_a_prefix() -> None:
    original = with_fp(to_store(item(1, text=REPORT)))
    cut = with_fp(to_store(item(2, text=REPORT[:70] + "…")), near=(10,))
    (intent,) = decide([cut], known(stored(10, original, source_id=OTHER)))
    assert isinstance(intent, NewStatement) and intent.duplicate_of == 10


def test_the_closest_candidate_with_the_same_numbers_wins() -> None:
    older = with_fp(to_store(item(1, text=REPORT.replace("28 September", "27 September"))))
    same = with_fp(to_store(item(2, text=REPORT)))
    new = with_fp(to_store(item(3, text=REPORT + " #Artsakh")), near=(10, 11))
    rows = (stored(10, older, source_id=OTHER), stored(11, same, source_id=OTHER))
    (intent,) = decide([new], known(*rows))
    assert isinstance(intent, NewStatement) and intent.duplicate_of == 11


def test_near_candidates_of_the_same_source_or_repeats_are_not_originals() -> None:
    original = with_fp(to_store(item(1, text=REPORT)))
    new = with_fp(to_store(item(2, text=REPORT + " #Artsakh")), near=(10, 11))
    rows = (stored(10, original), stored(11, original, source_id=OTHER, duplicate_of=10))
    (intent,) = decide([new], known(*rows))
    assert intent == NewStatement(new, alert=True)


# --- edits -----------------------------------------------------------------------------------


def test_a_changed_text_is_a_version_that_alerts_when_edits_alert() -> None:
    first = to_store(item(1))
    row = stored(10, first)
    edited = replace(to_store(item(1, text="Corrected text about Karabakh.")), alert_edits=True)
    assert decide([edited], known(mine=(row,))) == [NewVersion(10, edited, alert=True)]
    quiet = replace(edited, alert_edits=False)
    assert decide([quiet], known(mine=(row,))) == [NewVersion(10, quiet, alert=False)]


def test_an_edit_of_a_statement_stored_as_seen_does_not_alert() -> None:
    first = to_store(item(1), channels=())
    edited = replace(to_store(item(1, text="Corrected.")), alert_edits=True)
    assert decide([edited], known(mine=(stored(10, first),))) == [
        NewVersion(10, edited, alert=False)
    ]


def test_a_text_that_flips_back_is_no_new_edit() -> None:
    first = to_store(item(1))
    second = to_store(item(1, text="Second wording about Karabakh."))
    row = stored(10, first, hashes=frozenset({first.content_hash, second.content_hash}))
    assert decide([replace(first, alert_edits=True)], known(mine=(row,))) == []
    assert decide([replace(second, alert_edits=True)], known(mine=(row,))) == []


# --- X: reposts and threads --------------------------------------------------------------------


def _post(n: int, **kw: object) -> FetchedItem:
    base = item(n, url=f"https://x.com/mfa/status/{n}")
    return replace(base, external_id=str(n), **kw)  # type: ignore[arg-type]


def test_a_repost_of_a_stored_post_is_a_repeat() -> None:
    original = to_store(_post(100))
    repost = to_store(
        _post(
            101,
            kind=StatementKind.REPOST,
            text="RT something else entirely",
            references=(Reference("retweeted", "100"),),
        )
    )
    (intent,) = decide([repost], known(stored(10, original, source_id=OTHER)))
    assert intent == NewStatement(repost, duplicate_of=10, follow_up=FollowUp(AlertKind.ALSO, 10))


def test_a_reply_in_the_speakers_thread_grows_its_alert() -> None:
    root = to_store(_post(100, thread_id="100"))
    reply = to_store(
        _post(
            101,
            kind=StatementKind.REPLY,
            thread_id="100",
            references=(Reference("replied_to", "100"),),
            published_at=root.item.published_at + timedelta(minutes=5),
        )
    )
    late = replace(
        reply, item=replace(reply.item, external_id="102", published_at=T0 + timedelta(hours=2))
    )
    intents = decide([reply, late], known(stored(10, root)))
    assert intents == [
        NewStatement(reply, follow_up=FollowUp(AlertKind.THREAD, 10)),
        NewStatement(late, alert=True),
    ]
    # the root polled in the same fetch as its reply
    intents = decide([root, reply], known())
    assert intents[1] == NewStatement(reply, follow_up=FollowUp(AlertKind.THREAD, Pending(0)))
    # a root whose alerts were all refused is not followed up
    assert decide([reply], known(stored(10, root, live=False))) == [NewStatement(reply, alert=True)]


def test_item_hash_ignores_case_and_whitespace_only() -> None:
    a = item(1, text="Line of  contact.\n\nSecond paragraph.")
    assert item_hash(a) == item_hash(replace(a, text="line of contact. second paragraph."))
    assert item_hash(a) != item_hash(replace(a, text="Line of contact. Third paragraph."))


# Found at scale (benchmarks/many_sources.py, 30,000 generated statements): two unrelated texts
# whose fingerprints are 8 bits apart and that state no number. The second was stored as a
# repeat of the first and its alert was lost.
CHANCE_A = "\n\n".join(
    (
        "Condemn urge ceasefire bodies refugees hospital aid aid release refugees. "
        "Spokesperson positions escalation prisoners infrastructure observers corridor "
        "evacuation corridor shelling co-chairs withdrawal aid prisoners delegation "
        "restraint. Casualties co-chairs parliament civilians community school press "
        "delegation escalation statement violation casualties evacuation hospital foreign "
        "resolution aid sovereignty.",
        "Reaffirm escalation convoy provocation mediators school agreement violation reaffirm"
        " council prisoners commitment immediate defence exchange immediate. Ministry "
        "spokesperson region violation shelling convoy region parliament. Defence school "
        "immediate statement briefing commitment international talks ceasefire briefing "
        "briefing council.",
        "Ministry agreement evacuation peacekeeping peacekeeping foreign mediators delegation"
        " violation commitment aid condemn territorial refugees defence agreement commitment."
        " Bodies briefing artillery civilians resolution hospital bodies withdrawal defence "
        "hospital aid talks. Provocation humanitarian region negotiations mediators refugees "
        "release defence restraint region region region talks ceasefire civilians civilians.",
        "Territorial press wounded integrity resolution agreement briefing statement "
        "settlement aid ceasefire. Mission statement evacuation aid agreement bodies "
        "immediate prisoners ceasefire civilians talks. Corridor corridor bodies restraint "
        "urge wounded immediate delegation positions release reaffirm civilians co-chairs "
        "drones aid parliament infrastructure.",
    )
)
CHANCE_B = "\n\n".join(
    (
        "Mission urge dialogue sovereignty immediate immediate restraint hospital settlement "
        "positions escalation president. Settlement withdrawal negotiations dialogue mission "
        "reaffirm bodies council peacekeeping condemn. Humanitarian corridor delegation "
        "bodies commitment positions reaffirm violation shelling dialogue.",
        "Evacuation press positions school minister commitment school convoy community convoy"
        " wounded. Statement violation briefing ministry restraint delegation region "
        "immediate casualties prisoners co-chairs release. Shelling exchange commitment press"
        " spokesperson president statement release ministry delegation exchange talks drones "
        "spokesperson casualties defence.",
        "Spokesperson shelling condemn spokesperson provocation defence parliament co-chairs "
        "welcome welcome. Welcome agreement welcome exchange welcome delegation mission "
        "prisoners exchange ministry territorial dialogue integrity welcome casualties "
        "minister. Talks foreign international ceasefire withdrawal exchange positions "
        "positions community.",
        "Defence humanitarian commitment minister exchange casualties humanitarian talks "
        "resolution international ministry. Agreement briefing school peacekeeping corridor "
        "escalation drones school delegation dialogue convoy positions co-chairs "
        "international peacekeeping exchange evacuation exchange. Humanitarian settlement "
        "sovereignty spokesperson welcome school welcome settlement aid release observers "
        "peacekeeping community.",
    )
)


def test_fingerprints_close_by_chance_are_two_statements() -> None:
    first = with_fp(to_store(item(1, text=CHANCE_B)))
    second = with_fp(to_store(item(2, text=CHANCE_A)), near=(10,))
    assert first.simhash is not None and second.simhash is not None
    assert distance(first.simhash, second.simhash) <= MAX_DISTANCE  # the index offers it
    (intent,) = decide([second], known(stored(10, first, source_id=OTHER)))
    assert intent == NewStatement(second, alert=True)


# text_hash is stored: its first implementation, one regex substitution, is the reference (issue 9
# made it split on whitespace instead).
_INVISIBLE_REFERENCE = re.compile(
    "[\\s\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]+"
)
_HASHED_PIECES = st.sampled_from(
    [
        "Word", "ЕРЕВАН", "Ա", " ", "\n", "\t", "\r\n", "\v", "\x1c", "\x85", "\u00a0",
        "\u2028", "\u3000", "\u00ad", "\u180e", "\u200b", "\u200d", "\u200f", "\u202e",
        "\u2060", "\u2064", "\u2065", "\u2066", "\u2069", "\ufeff", "\u061c", "ß", "İ",
    ]
)  # fmt: skip


@given(st.lists(_HASHED_PIECES).map("".join), st.text(max_size=50))
@example("Ceasefire", "The  ministry\u00ad states\u200b.")
def test_text_hash_is_the_reference(text: str, title: str) -> None:
    def reference(title: str, text: str) -> str:
        return content_hash(
            _INVISIBLE_REFERENCE.sub("", title).casefold(),
            _INVISIBLE_REFERENCE.sub("", text).casefold(),
        )

    assert text_hash(title, text) == reference(title, text)
    assert text_hash(text, title) == reference(text, title)
