"""What one poll's items are, against what storage knows: the dedup decisions. No I/O.

reader's decider/pipeline split: `bot.pipeline` asks storage what it knows about the items of a
poll (`Known`), this module decides and returns plain intents, and storage carries them out in
the poll's transaction. Each decision is a function of plain values, tested without a database.

The decisions, in the order they are taken for each item:

1. **Same item, same id.** An id the source gave before, with a text seen before (the first
   text or any later version): nothing to do. With a new text: a new version, which alerts as an
   edit (a reply to the first alert with the word diff) when the source's ``edits`` says so and
   the statement alerted. A text that flips back to an earlier version is not a new edit (two
   mirrors of one feed serving two versions in turn would otherwise alert at every poll).
2. **Same item, new id.** Some feeds make up a new guid at every fetch (a hash of the fetch
   time, a session id). An item whose text a stored statement of this source already has, when
   that statement's own id is not in this fetch, and they share their link, or their date, or one
   of them has none: the same item again, nothing to do. Two items with one text present in the
   same fetch are two statements (an announcement repeated on two days).
3. **Repeat.** The same statement published again: a repost of a stored post (X), the same long
   text, or the same link *with the same or nearly the same text* (an abridgement counts, a
   changed number does not). A link alone proves nothing:
   some sites publish every statement as an anchor of one page (``page.html#post-1`` …), and a
   site's link may be reused for a new text. Stored as evidence (``duplicate_of``), not alerted;
   when it was published by another source, the first alert says "also published by".
4. **Near-duplicate** of another source's statement (SimHash within `dedup.MAX_DISTANCE` bits,
   and the same numbers: casualty counts, dates and times are what a report is about, so two
   reports that differ in one number are two statements): as a repeat.
5. **Thread.** The speaker continuing their own thread within `THREAD_WINDOW`: the thread's
   alert grows instead of a new alert.
6. Otherwise a **new statement**: one alert per routed channel (or its digest).

Items of one fetch that share an id but differ in text are different items (some feeds give
every item the same guid): `distinct_items` gives each its own id, so none is lost or taken for
a version of another.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bot.dedup import confirmed, contained, numbers, numbers_agree, numbers_within, similar
from bot.model import AlertKind, FetchedItem, StatementKind, StatementToStore
from bot.text import content_hash

__all__ = [
    "EXCERPT",
    "ID_SEPARATOR",
    "REPOST_TYPES",
    "THREAD_WINDOW",
    "FollowUp",
    "Known",
    "KnownItems",
    "NewStatement",
    "NewVersion",
    "Pending",
    "Stored",
    "decide",
    "distinct_items",
    "item_hash",
    "text_hash",
]

#: a reply by the same account to its own post within this time continues that post's alert
THREAD_WINDOW = timedelta(minutes=15)
#: references that name the statement a repost repeats: an X repost, a Telegram forward
#: ("channel/number" of the original)
REPOST_TYPES = frozenset({"retweeted", "forwarded"})
#: the share of a shorter text's word triples that must be in the longer one for an excerpt
EXCERPT = 0.8
#: joins a shared guid and the hash of one item's text (an unlikely character in a guid)
ID_SEPARATOR = "\u241f"
# external_id is VARCHAR(1000): a shared guid this long is replaced by its hash
_MAX_ID = 1000
_HASH_CHARS = 16
# Left out of a text's hash besides whitespace: invisible formatting characters (none is ASCII).
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]+")


# issue 9: a poll hashes each fetched item twice (one id per distinct item, then unchanged
# items skipped before matching), and the decider hashes the known rows' texts again; the
# same strings come back within a poll, so a small memo spares the second pass.
@functools.lru_cache(maxsize=4096)
def text_hash(title: str, text: str) -> str:
    """The hash of what a statement says: its title and text without case, whitespace or
    invisible formatting characters.

    Markup, attribute order and links are not part of the text (the parser keeps text only);
    whitespace is left out entirely, since a feed generator that re-indents its HTML moves
    spaces around inline tags ("#481</a>)" becomes "#481 )"); soft hyphens, zero-width and
    bidi controls come and go with editors. None of these is an edit.
    """
    return content_hash(_visible(title).casefold(), _visible(text).casefold())


def _visible(text: str) -> str:
    """`text` without whitespace and invisible formatting characters."""
    # str.split() drops what the regex \s matches (both are str.isspace), five times faster than
    # substituting at every space of a text (issue 9); the invisible characters are rare.
    text = "".join(text.split())
    if not text.isascii() and _INVISIBLE.search(text):
        text = _INVISIBLE.sub("", text)
    return text


def item_hash(item: FetchedItem) -> str:
    """`text_hash` of a fetched item."""
    return text_hash(item.title, item.text)


def distinct_items(items: Sequence[FetchedItem]) -> list[FetchedItem]:
    """The items of one fetch with one id per distinct item.

    An item listed twice (same id, same text) is kept once. Items that share an id but differ in
    text each get the id ``<id>␟<hash of their text>``: stable from poll to poll, so none alerts
    twice, and none is mistaken for a new version of another.
    """
    groups: dict[str, list[FetchedItem]] = {}
    for item in items:
        groups.setdefault(item.external_id, []).append(item)
    out: list[FetchedItem] = []
    for ext, group in groups.items():
        by_hash: dict[str, FetchedItem] = {}
        for item in group:
            by_hash.setdefault(item_hash(item), item)
        if len(by_hash) == 1:
            out.append(group[0])
            continue
        base = ext if len(ext) <= _MAX_ID - 1 - _HASH_CHARS else content_hash(ext)
        for chash, item in by_hash.items():
            out.append(replace(item, external_id=f"{base}{ID_SEPARATOR}{chash[:_HASH_CHARS]}"))
    return out


@dataclass(frozen=True, slots=True)
class Stored:
    """A stored statement that may bear on this poll's items, as storage found it."""

    id: int
    source_id: int
    external_id: str
    #: hash of the first text
    content_hash: str
    canonical_url: str | None
    published_at: datetime
    published_estimated: bool
    duplicate_of: int | None
    alerted: bool
    text: str = ""
    simhash: int | None = None
    #: hashes of every text it had (the first and each later version), as stored
    hashes: frozenset[str] = frozenset()
    #: (title, text) of every version, so that texts hashed by an older scheme compare right
    versions: tuple[tuple[str, str], ...] = ()
    #: whether it has a first alert that was not refused (follow-ups answer it)
    live_alert: bool = False
    kind: StatementKind = StatementKind.POST


@dataclass(frozen=True, slots=True)
class KnownItems:
    """What storage holds of one source's fetched ids, read once per poll (issue 9): which
    items are unchanged (skipped before matching), and the rows the decider compares with."""

    source_id: int
    #: external id → content hash of its latest version
    latest: Mapping[str, str] = field(default_factory=dict)
    #: external id → the stored statement, with every hash and text it had
    by_external_id: Mapping[str, Stored] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Known:
    """What storage knows about one poll's items."""

    source_id: int
    #: statements of this source by the ids of this fetch
    by_external_id: Mapping[str, Stored] = field(default_factory=dict)
    #: statements of any source sharing a link, a text or a repost target with an item, the
    #: near-duplicate index's candidates, and this source's thread parents and roots
    related: Sequence[Stored] = ()


@dataclass(frozen=True, slots=True)
class Pending:
    """A statement this poll stores, before it has an id: the index of its `NewStatement`."""

    index: int


Ref = int | Pending


@dataclass(frozen=True, slots=True)
class FollowUp:
    """Alerts of `kind` that answer each live first alert of statement `to`."""

    kind: AlertKind
    to: Ref


@dataclass(frozen=True, slots=True)
class NewStatement:
    """Store the item; alert its channels when `alert`, or follow up another statement's alert."""

    st: StatementToStore
    #: the statement this one repeats (stored as evidence with ``duplicate_of``)
    duplicate_of: Ref | None = None
    follow_up: FollowUp | None = None
    #: one first alert per channel (and digest entries)
    alert: bool = False


@dataclass(frozen=True, slots=True)
class NewVersion:
    """Keep the changed text of stored statement `statement_id`; alert the edit when `alert`."""

    statement_id: int
    st: StatementToStore
    alert: bool


Intent = NewStatement | NewVersion


@dataclass(slots=True)
class _Candidate:
    ref: Ref
    source_id: int
    external_id: str
    content_hash: str
    canonical_url: str | None
    published_at: datetime
    published_estimated: bool
    duplicate_of: Ref | None
    text: str
    simhash: int | None
    live_alert: bool
    kind: StatementKind
    alerted: bool


def _from_stored(s: Stored) -> _Candidate:
    return _Candidate(
        ref=s.id,
        source_id=s.source_id,
        external_id=s.external_id,
        content_hash=s.content_hash,
        canonical_url=s.canonical_url,
        published_at=s.published_at,
        published_estimated=s.published_estimated,
        duplicate_of=s.duplicate_of,
        text=s.text,
        simhash=s.simhash,
        live_alert=s.live_alert,
        kind=s.kind,
        alerted=s.alerted,
    )


def decide(statements: Sequence[StatementToStore], known: Known) -> list[Intent]:
    """The intents for one poll's statements (oldest first), given what storage knows."""
    source_id = known.source_id
    in_fetch = {st.item.external_id for st in statements}
    candidates = [_from_stored(s) for s in known.related]
    by_id: dict[int, _Candidate] = {}
    for c in candidates:
        assert isinstance(c.ref, int)
        by_id.setdefault(c.ref, c)
    intents: list[Intent] = []
    handled: set[str] = set()
    for st in statements:
        item = st.item
        if item.external_id in handled:
            continue
        handled.add(item.external_id)
        row = known.by_external_id.get(item.external_id)
        if row is not None:
            seen = row.hashes | {row.content_hash} | {text_hash(t, x) for t, x in row.versions}
            if st.content_hash not in seen:
                alert = st.alert_edits and row.alerted
                intents.append(NewVersion(row.id, st, alert=alert))
            continue
        if _same_item(st, source_id, candidates, in_fetch):
            continue
        original = _original(st, source_id, candidates)
        near = None if original is not None else _near_original(st, source_id, by_id)
        first = original if original is not None else near
        ref = Pending(len(intents))
        if first is not None:
            elsewhere = near is not None or first.source_id != source_id
            follow = FollowUp(AlertKind.ALSO, first.ref) if st.channels and elsewhere else None
            intents.append(NewStatement(st, duplicate_of=first.ref, follow_up=follow))
            candidates.append(_pending(ref, st, source_id, duplicate_of=first.ref))
            continue
        root = _thread_root(st, source_id, candidates) if st.channels else None
        if root is not None:
            intents.append(NewStatement(st, follow_up=FollowUp(AlertKind.THREAD, root.ref)))
        else:
            intents.append(NewStatement(st, alert=bool(st.channels or st.digest)))
        candidates.append(_pending(ref, st, source_id, duplicate_of=None))
    return intents


def _pending(
    ref: Pending, st: StatementToStore, source_id: int, *, duplicate_of: Ref | None
) -> _Candidate:
    item = st.item
    return _Candidate(
        ref=ref,
        source_id=source_id,
        external_id=item.external_id,
        content_hash=st.content_hash,
        canonical_url=st.canonical_url,
        published_at=item.published_at,
        published_estimated=item.published_estimated,
        duplicate_of=duplicate_of,
        text=item.text,
        simhash=st.simhash,
        live_alert=duplicate_of is None and bool(st.channels),
        kind=item.kind,
        alerted=duplicate_of is None and bool(st.channels or st.digest),
    )


def _same_item(
    st: StatementToStore, source_id: int, candidates: Sequence[_Candidate], in_fetch: set[str]
) -> bool:
    """Whether the item is a stored statement of this source given again under a new id."""
    item = st.item
    for c in candidates:
        if (
            c.source_id != source_id
            or isinstance(c.ref, Pending)
            or c.content_hash != st.content_hash
            or c.external_id in in_fetch
        ):
            continue
        if st.canonical_url is not None and c.canonical_url == st.canonical_url:
            return True
        if c.published_estimated or item.published_estimated:
            return True
        if c.published_at == item.published_at:
            return True
    return False


def _original(
    st: StatementToStore, source_id: int, candidates: Sequence[_Candidate]
) -> _Candidate | None:
    """The earliest statement this item repeats: reposted, same long text, or same link with the
    same or nearly the same text. Never a repeat itself, so chains stay one level deep."""
    item = st.item
    reposted = (
        {r.external_id for r in item.references if r.type in REPOST_TYPES}
        if item.kind is StatementKind.REPOST
        else set()
    )
    for c in candidates:  # storage gives them oldest first; this poll's come after
        if c.duplicate_of is not None:
            continue
        if reposted and c.external_id in reposted:
            return c
        if st.check_repeat and c.content_hash == st.content_hash:
            return c
        if (
            st.canonical_url is not None
            and c.canonical_url == st.canonical_url
            and _same_text(st, c)
        ):
            return c
    return None


def _same_text(st: StatementToStore, c: _Candidate) -> bool:
    """Whether two items behind one link say one thing: the same text; or nearly (within the
    near-duplicate distance, the same numbers); or one an excerpt or abridgement of the other
    (`EXCERPT` of the shorter's word triples in the longer, no number changed)."""
    if c.content_hash == st.content_hash:
        return True
    mine, theirs = numbers(st.item.text), numbers(c.text)
    if st.simhash is not None and c.simhash is not None and similar(st.simhash, c.simhash):
        return numbers_agree(mine, theirs) and confirmed(st.item.text, c.text)
    a, b = st.item.text, c.text
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    return contained(short, long_) >= EXCERPT and numbers_within(mine, theirs)


def _near_original(
    st: StatementToStore, source_id: int, by_id: Mapping[int, _Candidate]
) -> _Candidate | None:
    """The closest of the index's candidates that is another source's original with the same
    numbers (the index gives them closest first)."""
    if not st.near:
        return None
    mine: tuple[str, ...] | None = None
    for sid in st.near:
        c = by_id.get(sid)
        if c is None or c.source_id == source_id or c.duplicate_of is not None:
            continue
        if mine is None:
            mine = st.numbers if st.numbers is not None else numbers(st.item.text)
        # the fingerprints are close; the texts must say so too (a chance collision of two
        # unrelated statements would lose the second one's alert)
        if numbers_agree(mine, numbers(c.text)) and confirmed(st.item.text, c.text):
            return c
    return None


def _thread_root(
    st: StatementToStore, source_id: int, candidates: Sequence[_Candidate]
) -> _Candidate | None:
    """The alerted first post of the thread this reply continues, if it is the speaker's own
    and the post it answers is at most `THREAD_WINDOW` older."""
    item = st.item
    if item.kind is not StatementKind.REPLY or not item.thread_id:
        return None
    replied = {r.external_id for r in item.references if r.type == "replied_to"}
    if not replied:
        return None
    mine = [c for c in candidates if c.source_id == source_id]
    parent = next((c for c in mine if c.external_id in replied), None)
    if parent is None or item.published_at - parent.published_at > THREAD_WINDOW:
        return None
    root = next(
        (c for c in mine if c.external_id == item.thread_id and c.alerted and c.live_alert),
        None,
    )
    return root
