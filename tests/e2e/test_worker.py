"""The worker end to end: feed server → poll → storage → outbox → PTB → fake Bot API."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

import storage
from bot.app import App, open_app, run_once, run_worker
from bot.console import ConsoleSender
from bot.fakes.feedgen import FeedEntry
from bot.log import setup_logging
from bot.tghtml import parse_tg_html, utf16_len
from bot.watchlist import parse_watchlist
from storage.schema import AlertRow, SourceRow
from tests.e2e.conftest import TOKEN, WATCHLIST, World, entry


def _time_passes(app: App) -> None:
    """Every alert waiting for a retry becomes due, as if its backoff had run out."""
    with app.sessions.begin() as s:
        s.execute(
            update(AlertRow)
            .where(AlertRow.status == "pending")
            .values(next_attempt_at=app.clock() - timedelta(seconds=1))
        )


async def _until(
    condition: Callable[[], bool],
    *,
    progress: Callable[[], int],
    steps: int,
    what: str,
    worker: asyncio.Task[None] | None = None,
) -> None:
    """Wait until `condition` holds. It fails when the worker made `steps` steps of `progress`
    (feed requests) without it, or stopped: a count of the worker's own work, never a
    wall-clock bound, which would fail on a slow machine (issue 7)."""
    start = progress()
    while not condition():
        if worker is not None and worker.done():
            pytest.fail(f"the worker stopped before {what}: {worker!r}")
        if progress() - start > steps:
            pytest.fail(f"not {what} after {steps} polls")
        await asyncio.sleep(0.02)  # let the worker run; the condition is checked again


def _all_primed(app: App) -> bool:
    with app.sessions() as s:
        flags = list(s.scalars(select(SourceRow.primed)))
    return bool(flags) and all(flags)


def _prime(world: World) -> None:
    world.publish("/am.rss", entry(1, "Old news on Karabakh", "Stored as seen, never alerted."))
    world.publish("/ru.rss", entry(2, "Погода", "Солнечно."))


async def test_first_poll_is_silent_then_new_statements_alert_once(world: World) -> None:
    _prime(world)
    async with world.app() as app:
        outcomes, report = await run_once(app)
        assert report.sent == 0 and world.telegram.messages() == []
        assert sum(o.new_statements for o in outcomes) == 1  # the relevant old item, as seen

        world.publish(
            "/am.rss", entry(3, "On Artsakh", "Shelling of Stepanakert <b>continues</b>.")
        )
        world.publish("/az.rss", entry(4, "Qarabağ", "Qarabağda atəşkəs pozulub & davam edir."))
        world.publish("/ru.rss", entry(5, "Заявление", "Призываем к ceasefire в Карабахе."))
        world.publish("/ru.rss", entry(6, "Визит", "Министр посетит Венесуэлу."))
        _, report = await run_once(app)
        assert report.sent == 4  # three statements, one also to the ceasefire channel

        _, again = await run_once(app)
        assert again.sent == 0

    main = world.telegram.messages("@main_watch")
    cf = world.telegram.messages("@cf_watch")
    assert [m.text.count("example.org/news/") for m in main] == [1, 1, 1]
    assert len(cf) == 1 and "Карабахе" in cf[0].text
    for m in main + cf:
        parsed = parse_tg_html(m.html)  # what Telegram accepted, re-checked
        assert utf16_len(parsed.text) <= 4096
        assert m.parse_mode == "HTML"
    (first,) = [m for m in main if "Stepanakert" in m.text]
    # Statement text is escaped, not interpreted: the <b> of the feed is plain text now.
    assert "Shelling of Stepanakert continues" in first.text
    assert "Ministry of Foreign Affairs of Armenia" in first.text
    assert "UTC" in first.text and "Yerevan" in first.text
    units = first.text.encode("utf-16-le")  # entity offsets count UTF-16 code units
    bold = {
        units[2 * e.offset : 2 * (e.offset + e.length)].decode("utf-16-le")
        for e in first.entities
        if e.type == "bold"
    }
    assert {"Artsakh", "Stepanakert"} <= bold


async def test_304_answers_cost_no_parsing_and_keep_state(world: World) -> None:
    _prime(world)
    async with world.app() as app:
        await run_once(app)
        world.feed_state.reset_counters()
        await run_once(app)
        await run_once(app)
    assert world.feed_state.status_counts() == {304: 6}
    assert app.metrics.get("polls", status="not_modified") == 6
    conditional = [r for r in world.feed_state.requests() if r.if_none_match]
    assert len(conditional) == 6


async def test_restart_between_store_and_send_loses_nothing_and_sends_nothing_twice(
    world: World,
) -> None:
    _prime(world)
    async with world.app() as app:
        await run_once(app)
        for n in range(10, 15):
            world.publish("/am.rss", entry(n, f"Karabakh update {n}", "Details."))
        await run_once(app, dispatch=False)  # stored with alerts; the worker "dies" here
    world.telegram.fail_next(2, status=429, retry_after=1)
    async with world.app() as app:  # a new process on the same database
        _, report = await run_once(app)
        assert report.retried >= 1
        for _ in range(5):
            _time_passes(app)
            await run_once(app)
    texts = [m.text for m in world.telegram.messages("@main_watch")]
    assert len(texts) == 5
    assert len(set(texts)) == 5
    # in the order they were said
    assert [t.split("Karabakh update ")[1][:2] for t in texts] == ["10", "11", "12", "13", "14"]


async def test_failing_feed_backs_off_while_the_others_go_on(world: World) -> None:
    _prime(world)
    async with world.app() as app:
        await run_once(app)
        world.feed_state.fail("/az.rss", 503)
        world.publish("/am.rss", entry(20, "Karabakh", "Still reported."))
        outcomes, report = await run_once(app)
        assert report.sent == 1
        failed = [o for o in outcomes if o.error]
        assert [o.source_key for o in failed] == [f"feed:{world.feeds.url}/az.rss"]
        with app.sessions() as s:
            row = s.scalars(select(SourceRow).where(SourceRow.key.endswith("/az.rss"))).one()
            assert row.failures == 1 and "503" in (row.last_error or "")
            assert row.next_poll_at - app.clock() > timedelta(seconds=20)
        assert app.metrics.get("poll_errors", error="SourceUnavailable") == 1
        # Not due yet: a regular tick leaves it alone.
        due = await app.poller.poll_due()
        assert all(not o.source_key.endswith("/az.rss") for o in due)


async def test_retry_after_from_a_429_feed_is_honoured(world: World) -> None:
    _prime(world)
    async with world.app() as app:
        await run_once(app)
        world.feed_state.fail("/ru.rss", 429, retry_after=3600)
        await run_once(app)
        with app.sessions() as s:
            row = s.scalars(select(SourceRow).where(SourceRow.key.endswith("/ru.rss"))).one()
        assert row.next_poll_at - app.clock() >= timedelta(seconds=3590)


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        (
            lambda w: w.feed_state.set_raw(
                "/am.rss",
                b"<rss>" + b"x" * 3_000_000 + b"</rss>",
                {"Content-Type": "application/rss+xml"},
            ),
            "cap",
        ),
        (lambda w: w.feed_state.slow("/am.rss", 5), "timeout"),
        (
            lambda w: w.feed_state.set_raw(
                "/am.rss", b"<html><body>Not found</body></html>", {"Content-Type": "text/html"}
            ),
            "",
        ),
        (lambda w: w.feed_state.fail("/am.rss", 404), "HTTP 404"),
        (lambda w: w.feed_state.redirect("/am.rss", "/am.rss"), "redirects"),
    ],
    ids=["oversized", "slow", "not-a-feed", "gone", "redirect-loop"],
)
async def test_bad_feeds_are_that_feeds_problem(world: World, setup, error: str) -> None:
    _prime(world)
    async with world.app(WATCHPOST_MAX_BODY_BYTES="1000000") as app:
        await run_once(app)
        setup(world)
        world.publish("/ru.rss", entry(30, "Карабах", "Новое заявление."))
        outcomes, report = await run_once(app)
    by_key = {o.source_key.rsplit("/", 1)[1]: o for o in outcomes}
    assert by_key["am.rss"].error is not None and error in by_key["am.rss"].error
    assert by_key["ru.rss"].error is None and report.sent == 1


async def test_telegram_outage_keeps_alerts_until_it_answers(world: World) -> None:
    _prime(world)
    async with world.app() as app:
        await run_once(app)
        world.publish("/am.rss", entry(40, "Karabakh", "During the outage."))
        world.telegram.fail_next(3, status=502)
        _, report = await run_once(app)
        assert report.sent == 0 and report.retried == 1
        assert storage.outbox_counts(app.sessions())["pending"] == 1
        for _ in range(5):
            _time_passes(app)  # the retry was scheduled with backoff: make it due now
            await app.dispatcher.dispatch()
            if world.telegram.messages():
                break
    assert len(world.telegram.messages("@main_watch")) == 1


async def test_migrated_group_gets_the_alert_at_its_new_id(world: World) -> None:
    _prime(world)
    async with world.app() as app:
        await run_once(app)
        world.telegram.migrate("@main_watch", -1009999)
        world.publish("/am.rss", entry(50, "Karabakh", "After the move."))
        await run_once(app)
        for _ in range(20):
            _time_passes(app)  # a retry after the migration may wait: make it due now
            await app.dispatcher.dispatch()
            if world.telegram.messages(-1009999):
                break
    assert len(world.telegram.messages(-1009999)) == 1


async def test_a_refusing_chat_pauses_its_channel_keeps_its_alerts_and_the_rest_go_on(
    world: World,
) -> None:
    """Issue 11: 403 "bot was kicked" failed every alert for good on the first try."""
    _prime(world)
    async with world.app() as app:
        await run_once(app)
        world.telegram.forbid("@cf_watch")
        world.publish("/am.rss", entry(60, "Karabakh ceasefire", "Both channels want this."))
        _, report = await run_once(app)
        assert (report.sent, report.failed) == (1, 0)
        world.publish("/ru.rss", entry(61, "Заявление", "Призываем к ceasefire."))
        await run_once(app)  # the paused channel is not even tried
        assert len([c for c in world.telegram.calls("sendMessage") if c.status == 403]) == 1
        with storage.session_scope(app.sessions) as s:
            counts = storage.outbox_counts(s)
            ((channel, _, reason),) = storage.paused_channels(s)
        assert counts == {"pending": 2, "sent": 2, "failed": 0, "shown": 0}
        assert channel == "cf" and "kicked" in reason
        # The operator adds the bot back and resumes the channel: both alerts go, in order.
        world.telegram.forbid("@cf_watch", False)
        with storage.session_scope(app.sessions) as s:
            assert storage.resume_channel(s, "cf", now=app.clock()) == 2
        _, report = await run_once(app)
        assert report.sent == 2
    cf = [m.text for m in world.telegram.messages("@cf_watch")]
    assert ["Both channels" in cf[0], "Призываем" in cf[1]] == [True, True]


async def test_chat_not_found_pauses_the_channel_too(world: World) -> None:
    _prime(world)
    text = WATCHLIST.replace('chat: "@cf_watch"', 'chat: "@no_such_chat"')
    async with world.app(text) as app:
        await run_once(app)
        world.publish("/am.rss", entry(62, "Karabakh ceasefire", "Kept for cf."))
        _, report = await run_once(app)
        assert (report.sent, report.failed) == (1, 0)
        with storage.session_scope(app.sessions) as s:
            ((channel, _, reason),) = storage.paused_channels(s)
    assert channel == "cf" and "chat not found" in reason.lower()


async def test_console_mode_shows_alerts_and_records_them_as_shown(world: World) -> None:
    _prime(world)
    out = io.StringIO()
    wl = parse_watchlist(WATCHLIST.replace("{feeds}", world.feeds.url), path="t.yaml")
    env = world.env()
    env.pop("TELEGRAM_BOT_TOKEN")
    from bot.settings import load_settings

    async with open_app(load_settings(env), wl, sender=ConsoleSender(out)) as app:
        await run_once(app)
        world.publish("/am.rss", entry(70, "Karabakh", "To the console & beyond."))
        await run_once(app)
        counts = storage.outbox_counts(app.sessions())
    assert "── alert 1 → main (@main_watch)" in out.getvalue()
    assert "To the console & beyond." in out.getvalue()
    assert world.telegram.calls() == []
    assert (counts["shown"], counts["sent"], counts["pending"]) == (1, 0, 0)


async def test_scheduled_worker_polls_delivers_and_stops_cleanly(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    _prime(world)
    setup_logging("DEBUG", "text", [TOKEN])
    text = WATCHLIST.replace('/am.rss"', '/am.rss"\n        interval: 1s')
    async with world.app(
        text, WATCHPOST_POLL_TICK_SECONDS="0.2", WATCHPOST_DISPATCH_TICK_SECONDS="0.2"
    ) as app:
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(app, stop=stop))

        def am_polls() -> int:
            return world.feed_state.hits("/am.rss")

        # Published before the first polls, the item would be stored as seen, never alerted.
        await _until(
            lambda: _all_primed(app),
            progress=am_polls,
            steps=20,
            what="every source primed",
            worker=worker,
        )
        world.publish("/am.rss", entry(80, "Karabakh", "Seen by the scheduled worker."))
        await _until(
            lambda: bool(world.telegram.messages()),
            progress=am_polls,
            steps=20,
            what="the alert sent",
            worker=worker,
        )
        stop.set()
        await worker  # it stops cleanly once asked; no clock bound (issue 7)
    assert len(world.telegram.messages()) == 1
    logged = capsys.readouterr().err
    logging.getLogger().handlers.clear()
    assert "worker stopped" in logged and "sent alert=" in logged
    assert TOKEN not in logged  # the token never reaches a log, even at DEBUG


async def test_a_gzip_bomb_is_stopped_at_the_cap_while_decoding(world: World) -> None:
    """Issue 11: 60 MB of zeros as 60 KB of gzip, declared as Content-Encoding: gzip."""
    import gzip
    import tracemalloc

    _prime(world)
    async with world.app(WATCHPOST_MAX_BODY_BYTES="1000000") as app:
        await run_once(app)
        bomb = gzip.compress(b"<rss>" + b"\0" * 60_000_000, mtime=0)
        world.feed_state.set_raw(
            "/am.rss",
            bomb,
            {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"},
        )
        world.publish("/ru.rss", entry(31, "Карабах", "Другие идут дальше."))
        tracemalloc.start()
        try:
            outcomes, report = await run_once(app)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    by_key = {o.source_key.rsplit("/", 1)[1]: o for o in outcomes}
    assert by_key["am.rss"].error is not None and "cap" in by_key["am.rss"].error
    assert report.sent == 1
    assert peak < 20_000_000  # the cap and a network chunk, not the bomb's 60 MB


async def test_a_huge_item_is_bounded_for_matching_and_kept_whole_as_raw(world: World) -> None:
    """Issue 11: one 9 MB item (under the cap) drove matching to 872 MB. Any item over the
    bound takes the same path; 3 MB keeps the test quick."""
    from bot.sources.bounds import MAX_TEXT_CHARS
    from storage.schema import StatementRow

    _prime(world)
    async with world.app() as app:
        await run_once(app)
        huge = "Karabakh ceasefire. " + "More words about the talks. " * 110_000
        world.publish("/am.rss", entry(90, "Karabakh", huge))
        _, report = await run_once(app)
        with app.sessions() as s:
            row = s.scalars(
                select(StatementRow).where(StatementRow.external_id == "urn:test:90")
            ).one()
    assert len(row.text) <= MAX_TEXT_CHARS and row.text.startswith("Karabakh ceasefire.")
    assert "More words about the talks. " * 100 in row.raw and len(row.raw) > len(huge)
    assert report.sent == 2  # main and cf: the alert is not lost


async def test_a_statement_of_twelve_paragraphs_arrives_as_twelve_paragraphs(world: World) -> None:
    # Issue 7: the feed's HTML paragraphs reach the channel as paragraphs, not one block.
    _prime(world)
    paragraphs = [f"Paragraph {n} of the statement on Karabakh." for n in range(1, 13)]
    async with world.app() as app:
        await run_once(app)
        world.publish(
            "/am.rss",
            FeedEntry(
                id="urn:test:90",
                title="Statement",
                html="".join(f"<p>{p}</p>" for p in paragraphs) + "<p>Yerevan,<br>27 September</p>",
                link="https://example.org/news/90",
                published=datetime(2020, 9, 27, 5, tzinfo=UTC),
            ),
        )
        _, report = await run_once(app)
        assert report.sent == 1
    (message,) = world.telegram.messages("@main_watch")
    shown = parse_tg_html(message.text).text
    assert "\n\n".join(paragraphs) + "\n\nYerevan,\n27 September" in shown


async def test_a_chat_waiting_for_its_turn_does_not_hold_up_another_chat(world: World) -> None:
    """Issue 11, head-of-line blocking (found by the kill -9 soak): the dispatcher sent in outbox
    order and slept out one chat's pace inside that loop, so every other chat waited behind
    it (71 of 170 sends waited 3 s on another channel). Each chat now has its own lane."""
    _prime(world)
    async with world.app(WATCHPOST_TELEGRAM_CHAT_INTERVAL_SECONDS="1") as app:
        await run_once(app)
        for n in range(30, 33):
            world.publish("/am.rss", entry(n, "Karabakh", f"Karabakh update {n}."))
        world.publish("/az.rss", entry(40, "Ceasefire", "A ceasefire is announced."))
        _, report = await run_once(app)
    assert report.sent == 5  # four to the main channel, one to the ceasefire channel
    order = [m.chat for m in world.telegram.messages()]
    cf = order.index(next(c for c in order if "cf" in str(c)))
    # the ceasefire channel's only alert is not sent after the main channel's paced ones
    assert cf <= 1, order
