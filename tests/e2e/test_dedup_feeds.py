"""Deduplication through the real worker: no two statements merged, no statement alerted twice,
and edits of a press release answered with the diff (feed server → storage → fake Bot API)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

import storage
from bot.app import run_once
from bot.fakes.feedgen import FeedEntry, rss
from storage.schema import AlertRow, SourceRow, StatementRow, VersionRow
from tests.e2e.conftest import World, entry

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "feeds"

TWO_SOURCES = """
speakers:
  - id: am-mod
    name: Ministry of Defence of Armenia
    role: Defence ministry
    side: Armenia
    timezone: Asia/Yerevan
    sources:
      - feed: "{feeds}/am.rss"
        edits: EDITS
  - id: ar-mod
    name: Ministry of Defence of Artsakh
    role: Defence ministry
    side: Artsakh
    timezone: Asia/Yerevan
    sources:
      - feed: "{feeds}/ru.rss"
topics:
  - id: karabakh
    name: Nagorno-Karabakh
    terms:
      en: [Karabakh, Artsakh, Stepanakert]
channels:
  - id: main
    chat: "@main_watch"
"""

REPORT = (
    "Statement {k} of source {n}: shelling near Stepanakert reported; the ministry calls for "
    "restraint along the line of contact. As of {day} September, {heli} helicopters were shot "
    "down in Karabakh."
)


def _kinds(world: World, app_sessions) -> list[str]:  # type: ignore[no-untyped-def]
    with app_sessions.begin() as s:
        return list(s.scalars(select(AlertRow.kind).order_by(AlertRow.id)))


async def test_anchors_of_one_page_are_nine_statements(world: World) -> None:
    async with world.app(TWO_SOURCES.replace("EDITS", "alert")) as app:
        await run_once(app)  # first poll: empty feeds
        page = "https://mod.example/statements.html"
        world.publish(
            "/am.rss",
            *(
                replace(
                    entry(n, f"Report {n}", REPORT.format(k=n, n=1, day=20 + n, heli=n)),
                    link=f"{page}#post-{n}",
                )
                for n in range(1, 10)
            ),
        )
        outcomes, report = await run_once(app)
        assert sum(o.new_statements for o in outcomes) == 9
        assert sum(o.duplicates for o in outcomes) == 0
        assert report.sent == 9
    assert len(world.telegram.messages("@main_watch")) == 9


async def test_items_sharing_one_guid_are_all_alerted_once(world: World) -> None:
    async with world.app(TWO_SOURCES.replace("EDITS", "alert")) as app:
        await run_once(app)
        texts = ["Ceasefire violated in Karabakh.", "Stepanakert shelled.", "Artsakh talks."]
        world.publish(
            "/am.rss",
            *(replace(entry(n, f"News {n}", t), id="same") for n, t in enumerate(texts, 1)),
        )
        _, report = await run_once(app)
        assert report.sent == 3
        _, again = await run_once(app)
        assert again.sent == 0
        with app.sessions.begin() as s:
            assert s.scalar(select(func.count()).select_from(StatementRow)) == 3
            assert s.scalar(select(func.count()).select_from(VersionRow)) == 0
    sent = [m.text for m in world.telegram.messages("@main_watch")]
    assert [any(t in m for m in sent) for t in texts] == [True, True, True]


@pytest.mark.parametrize("dated", [True, False])
async def test_a_guid_made_up_at_every_poll_alerts_once(world: World, dated: bool) -> None:
    async with world.app(TWO_SOURCES.replace("EDITS", "alert")) as app:
        await run_once(app)
        sent = 0
        for poll in range(3):
            e = FeedEntry(
                id=f"session-{poll}-{id(world)}",
                title="Karabakh",
                html="<p>Air raid alert.</p>",
                link=None,
                published=datetime(2020, 9, 27, 4, 0, tzinfo=UTC) if dated else None,
            )
            world.feed_state.set_feed("/am.rss", rss("feed", "https://example.org/", [e]))
            _, report = await run_once(app)
            sent += report.sent
        assert sent == 1


DAILY = (
    "The Ministry of Defence reports that as of {day} September the adversary lost {heli} "
    "helicopters, 7 tanks and 3 armoured vehicles along the entire line of contact in "
    "Nagorno-Karabakh; the Armenian side calls on the international community to condemn the "
    "attacks on civilians in Stepanakert and other settlements of Artsakh."
)


async def test_templated_reports_that_differ_in_numbers_are_not_merged(world: World) -> None:
    async with world.app(TWO_SOURCES.replace("EDITS", "alert")) as app:
        await run_once(app)
        world.publish("/am.rss", entry(1, "Report", DAILY.format(day=28, heli=2)))
        await run_once(app)
        # another source, one number changed (6 of 64 fingerprint bits): a different statement
        world.publish("/ru.rss", entry(2, "Report", DAILY.format(day=28, heli=3)))
        # the same report, cross-posted with a hashtag: also published by
        world.publish("/ru.rss", entry(3, "Report", DAILY.format(day=28, heli=2) + " #Artsakh"))
        outcomes, _ = await run_once(app)
        assert sum(o.new_statements for o in outcomes) == 1
        assert sum(o.duplicates for o in outcomes) == 1
        assert _kinds(world, app.sessions) == ["new", "new", "also"]


@pytest.mark.parametrize(("policy", "replies"), [("alert", 1), ("store", 0)])
async def test_an_edited_press_release_is_answered_with_the_diff(
    world: World, policy: str, replies: int
) -> None:
    async with world.app(TWO_SOURCES.replace("EDITS", policy)) as app:
        await run_once(app)
        first = entry(1, "Karabakh", "Two soldiers were wounded near Stepanakert.")
        world.publish("/am.rss", first)
        await run_once(app)
        world.entries["/am.rss"] = [
            replace(first, html="<p>Three soldiers were wounded near Stepanakert.</p>")
        ]
        world.publish("/am.rss")
        await run_once(app)
        _, again = await run_once(app)
        assert again.sent == 0
        with app.sessions.begin() as s:
            assert s.scalar(select(func.count()).select_from(VersionRow)) == 1
    msgs = world.telegram.messages("@main_watch")
    assert len(msgs) == 1 + replies
    if replies:
        assert msgs[1].reply_to == msgs[0].message_id
        assert "Three" in msgs[1].text and "Two" in msgs[1].text


# --- the corpus, served twice with changes that are no edits -----------------------------------

MATCH_ALL = """
speakers:
  - id: sp
    name: A speaker
    role: Press service
    side: A
    timezone: UTC
    sources:
FEEDS
topics:
  - id: any
    name: Anything
    terms:
      en: [the]
channels:
  - id: main
    chat: "@main_watch"
"""


def _corpus_feeds() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    out = []
    for path in sorted(CORPUS.rglob("*.xml")) + sorted(CORPUS.rglob("*.rss")):
        body = path.read_bytes()
        head = body[:300].lower()
        if (b"<rss" in body[:2000] or b"<feed" in body[:2000]) and (
            b"utf-8" in head or b"encoding" not in head
        ):
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if body.count(b"<item") + body.count(b"<entry") >= 3:
                out.append(path)
    return out[:12]


def _perturb(body: bytes) -> bytes:
    """What a site's feed generator changes between two fetches without changing a statement:
    whitespace between tags, the order of two attributes, tracking parameters on links, and the
    feed's and items' update timestamps."""
    text = body.decode("utf-8")
    root = min(i for i in (text.find("<rss"), text.find("<feed"), len(text)) if i >= 0)
    prolog, text = text[:root], text[root:]  # the XML declaration stays first
    text = re.sub(r">(\s*)<", lambda m: ">\n    <" if not m.group(1) else "><", text)
    text = re.sub(
        r'<a href="([^"]*)" ([a-z]+)="([^"]*)"', r'<a \2="\3" href="\1"', text
    )
    text = re.sub(
        r"(<link>\s*)(https?://[^<\s?]+)(\s*</link>)", r"\1\2?utm_source=rss&amp;utm_medium=feed\3",
        text,
    )
    text = re.sub(r"<lastBuildDate>[^<]*</lastBuildDate>", "<lastBuildDate>Tue, 29 Sep 2020 "
                  "10:00:00 GMT</lastBuildDate>", text)
    text = re.sub(r"<updated>[^<]*</updated>", "<updated>2020-09-29T10:00:00Z</updated>", text)
    return (prolog + text).encode("utf-8")


@pytest.mark.corpus
async def test_corpus_feeds_served_again_with_changes_that_are_no_edits(world: World) -> None:
    feeds = _corpus_feeds()
    if not feeds:
        pytest.skip("../shared/corpus/feeds is absent")
    assert len(feeds) >= 10
    lines = "\n".join(
        f'      - feed: "{{feeds}}/c{n}.xml"\n        match: all\n        backfill_alerts: 1000'
        for n in range(len(feeds))
    )
    for n, path in enumerate(feeds):
        world.feed_state.set_feed(f"/c{n}.xml", path.read_bytes())
    # The default timeouts: a dozen real feeds parse for a while on a busy machine.
    slow_ok = {"WATCHPOST_HTTP_TOTAL_TIMEOUT": "30", "WATCHPOST_HTTP_READ_TIMEOUT": "20"}
    async with world.app(MATCH_ALL.replace("FEEDS", lines), **slow_ok) as app:
        outcomes, _ = await run_once(app, dispatch=False)
        assert sum(o.new_statements for o in outcomes) > 100
        for n, path in enumerate(feeds):
            world.feed_state.set_feed(f"/c{n}.xml", _perturb(path.read_bytes()))
        outcomes, _ = await run_once(app, dispatch=False)
        assert all(o.error is None for o in outcomes)
        assert sum(o.new_statements for o in outcomes) == 0
        with app.sessions.begin() as s:
            assert s.scalar(select(func.count()).select_from(VersionRow)) == 0
            edits = s.scalar(
                select(func.count()).select_from(AlertRow).where(AlertRow.kind == "edit")
            )
            assert edits == 0


# --- 404 and 410 -------------------------------------------------------------------------------


def _next_poll_in(app, key_end: str) -> float:  # type: ignore[no-untyped-def]
    with app.sessions.begin() as s:
        (row,) = [r for r in s.scalars(select(SourceRow)) if r.key.endswith(key_end)]
        return (row.next_poll_at - app.clock()).total_seconds()


async def test_a_404_backs_off_like_any_failure(world: World) -> None:
    async with world.app(TWO_SOURCES.replace("EDITS", "alert")) as app:
        await run_once(app)
        world.feed_state.fail("/am.rss", 404)
        outcomes, _ = await run_once(app)
        assert any(o.error and "HTTP 404" in o.error for o in outcomes)
        assert _next_poll_in(app, "/am.rss") < 600  # the interval, not an hour at once
        for _ in range(3):
            await run_once(app)
        # 30 s · 2^3 after four failures in a row (jittered by a tenth): it grows
        assert 200 < _next_poll_in(app, "/am.rss") < 600


async def test_a_410_stops_polling_the_source_and_says_so(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    async with world.app(TWO_SOURCES.replace("EDITS", "alert")) as app:
        await run_once(app)
        world.feed_state.fail("/am.rss", 410)
        await run_once(app)
        hits = world.feed_state.hits("/am.rss")
        await run_once(app)  # every source, due or not: the gone one is not among them
        await run_once(app)
        assert world.feed_state.hits("/am.rss") == hits
        with app.sessions.begin() as s:
            (gone,) = [r for r in storage.source_statuses(s) if r.gone_at is not None]
        assert gone.key.endswith("/am.rss") and "410" in (gone.last_error or "")
    assert any("source gone" in r.getMessage() for r in caplog.records)
