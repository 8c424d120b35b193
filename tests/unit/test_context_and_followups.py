"""Pure parts of alert context: the other side, routing by priority and hour, follow-up messages."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.context import build_context, other_side
from bot.model import (
    AlertForDelivery,
    AlertKind,
    Channel,
    Match,
    Priority,
    Speaker,
    StoredStatement,
    Topic,
    Watchlist,
)
from bot.render import render_deletion, render_digest, render_edit, word_diff
from bot.routing import goes_to_digest, in_quiet_hours, is_silent, is_urgent, next_digest
from bot.tghtml import parse_tg_html, utf16_len

T = datetime(2020, 9, 27, 9, 0, tzinfo=UTC)
SPEAKERS = (
    Speaker("am", "Armenian MFA", "Foreign ministry", "Armenia", "Asia/Yerevan"),
    Speaker("am2", "Armenian PM", "Head of government", "Armenia", "Asia/Yerevan"),
    Speaker("az", "Azerbaijani MFA", "Foreign ministry", "Azerbaijan", "Asia/Baku"),
    Speaker("ru", "Russian MFA", "Foreign ministry", "Russia", "Europe/Moscow"),
)
TOPICS = (
    Topic("k", "Karabakh", (), priority=Priority.URGENT),
    Topic("n", "Normal", ()),
    Topic("low", "Low", (), priority=Priority.LOW),
)
WL = Watchlist(SPEAKERS, TOPICS, (), "t")
BY_ID = {t.id: t for t in TOPICS}


def stmt(n: int, speaker: str, minutes_before: float, text: str = "text") -> StoredStatement:
    return StoredStatement(
        id=n,
        source_key=f"feed:{speaker}",
        speaker_id=speaker,
        external_id=str(n),
        title="",
        text=text,
        url=f"https://example.org/{n}",
        published_at=T - timedelta(minutes=minutes_before),
        fetched_at=T,
        language="en",
    )


def alert(st_: StoredStatement, kind: AlertKind = AlertKind.NEW) -> AlertForDelivery:
    return AlertForDelivery(
        id=1, channel_id="main", chat="@main", kind=kind, attempts=0, statement=st_, created_at=T
    )


def test_other_side_is_the_newest_from_other_sides_within_the_window() -> None:
    me = stmt(1, "am", 0)
    cands = [
        stmt(2, "az", 30, "latest from Baku"),
        stmt(3, "az", 90, "older from Baku"),  # same speaker: only the newest
        stmt(4, "am2", 10, "my own side"),
        stmt(5, "ru", 60 * 7, "too old"),
        stmt(6, "ru", -5, "after the statement"),
    ]
    lines = other_side(me, cands, WL)
    assert [m.text for m in lines] == ["latest from Baku"]


def test_context_lists_each_cross_poster_once() -> None:
    ctx = build_context(stmt(1, "am", 0), WL, also=[stmt(2, "am2", 0), stmt(3, "am2", 0)])
    assert ctx.also == (("Armenian PM on its website", "https://example.org/2"),)


def test_urgent_low_and_silent() -> None:
    assert is_urgent([Match("k")], BY_ID) and not is_urgent([Match("n")], BY_ID)
    assert is_silent([Match("low")], BY_ID) and not is_silent([Match("low"), Match("n")], BY_ID)
    assert not is_silent([], BY_ID)


def test_quiet_hours_wrap_midnight_in_the_channels_zone() -> None:
    ch = Channel("c", "@c", timezone="Asia/Yerevan", quiet_hours=(time(23, 0), time(7, 0)))
    # 20:30 UTC is 00:30 in Yerevan (UTC+4): quiet; 04:00 UTC is 08:00 there: not.
    assert in_quiet_hours(ch, datetime(2020, 9, 27, 20, 30, tzinfo=UTC))
    assert not in_quiet_hours(ch, datetime(2020, 9, 27, 4, 0, tzinfo=UTC))
    assert not in_quiet_hours(Channel("d", "@d"), T)


def test_digest_time_is_the_next_local_one() -> None:
    ch = Channel("c", "@c", timezone="Europe/Moscow", digest_at=time(18, 0))
    assert next_digest(ch, datetime(2020, 9, 27, 9, 0, tzinfo=UTC)) == datetime(
        2020, 9, 27, 15, 0, tzinfo=UTC
    )
    assert next_digest(ch, datetime(2020, 9, 27, 15, 0, tzinfo=UTC)) == datetime(
        2020, 9, 28, 15, 0, tzinfo=UTC
    )
    assert goes_to_digest(ch, [Match("low")], BY_ID)
    assert not goes_to_digest(ch, [Match("k"), Match("low")], BY_ID)


words = st.lists(st.sampled_from(["a", "b", "Karabakh", "<b>", "&", "ceasefire", "🕊"]), max_size=30)


@given(words, words)
def test_word_diff_rebuilds_both_sides(old: list[str], new: list[str]) -> None:
    parts = word_diff(" ".join(old), " ".join(new))
    before = " ".join(t for op, t in parts if op in "=-" and t).split()
    after = " ".join(t for op, t in parts if op in "=+" and t).split()
    assert before == old and after == new


@given(st.text(max_size=3000), st.text(max_size=3000))
def test_edit_and_deletion_messages_are_valid_and_fit(before: str, after: str) -> None:
    a = alert(stmt(1, "am", 30, before or "x"))
    for msg in (
        render_edit(a, SPEAKERS[0], before=before, after=after, edited_at=T),
        render_deletion(a, SPEAKERS[0], deleted_at=T),
    ):
        parsed = parse_tg_html(msg)
        assert utf16_len(msg) <= 4096 and utf16_len(parsed.text) <= 4096


def test_edit_marks_removed_and_added_words() -> None:
    a = alert(stmt(1, "am", 20))
    msg = render_edit(
        a,
        SPEAKERS[0],
        before="Civilians in Stepanakert are safe",
        after="Civilians in Stepanakert and Martuni are safe",
        edited_at=T,
    )
    parsed = parse_tg_html(msg)
    assert "20 minutes after publication" in parsed.text
    added = [
        parsed.text[e.offset : e.offset + e.length]
        for e in parsed.entities
        if e.type == "underline"
    ]
    assert added == ["and Martuni"]


def test_digest_lists_every_statement_in_time_order() -> None:
    alerts = [
        alert(stmt(n, sp, m, f"item {n}"))
        for n, sp, m in [(1, "am", 10), (2, "az", 50), (3, "ru", 30)]
    ]
    msg = render_digest(alerts, {s.id: s for s in SPEAKERS})
    text = parse_tg_html(msg).text
    assert text.index("item 2") < text.index("item 3") < text.index("item 1")
    assert "3 statements" in text
