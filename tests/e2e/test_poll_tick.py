"""Issue 9: one poll tick drains every due source, and a slow source holds only its own slot.

10,000 sources every 60 s need 167 polls a second; a tick that polls one batch and waits for all
of it gives at most `batch_size` per tick, and one source that answers slowly held back every
other poll until it did.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import update

from bot.app import run_once
from bot.fakes.feedgen import rss
from bot.fakes.http import LocalServer, Request, Response
from storage.schema import SourceRow
from tests.e2e.conftest import World, entry


def _watchlist(url: str, paths: list[str]) -> str:
    lines = ["speakers:"]
    for i, path in enumerate(paths):
        lines += [
            f"  - id: s{i}",
            f"    name: Speaker {i}",
            "    role: Ministry",
            "    side: Armenia",
            "    timezone: UTC",
            "    sources:",
            f"      - feed: {url}{path}",
        ]
    lines += [
        "topics:",
        "  - id: karabakh",
        "    name: Karabakh",
        "    terms:",
        "      en: [Karabakh]",
        "channels:",
        "  - id: main",
        '    chat: "@main_watch"',
    ]
    return "\n".join(lines) + "\n"


async def _until(cond: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Wait for `cond` to hold (a condition, checked as the event loop turns)."""
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.01)
    assert cond(), what


async def test_one_tick_polls_every_due_source_beyond_one_batch(world: World) -> None:
    paths = [f"/f{i:02d}.rss" for i in range(12)]
    for i, path in enumerate(paths):
        world.feed_state.set_feed(path, rss("feed", "https://example.org/", [entry(i, "T", "x")]))
    text = _watchlist(world.feeds.url, paths)
    async with world.app(text, WATCHPOST_POLL_BATCH_SIZE="5") as app:
        outcomes = await app.poller.poll_due()
    # all 12 were due (never polled); batches of 5 used to leave 7 for later ticks
    assert sorted(o.source_key.rsplit("/", 1)[1] for o in outcomes) == [p[1:] for p in paths]
    assert all(o.error is None for o in outcomes)
    assert sum(world.feed_state.hits(p) for p in paths) == 12  # each exactly once


async def test_a_slow_source_does_not_hold_back_the_others(world: World) -> None:
    release = threading.Event()
    seen: list[str] = []
    lock = threading.Lock()

    def handler(request: Request) -> Response:
        with lock:
            seen.append(request.path)
        if request.path == "/slow.rss":
            release.wait(30)
        return world.feed_state.handle(request)

    paths = ["/slow.rss", *(f"/f{i}.rss" for i in range(6))]
    for i, path in enumerate(paths):
        world.feed_state.set_feed(path, rss("feed", "https://example.org/", [entry(i, "T", "x")]))
    with LocalServer(handler) as server:
        text = _watchlist(server.url, paths)
        env = {
            "WATCHPOST_POLL_BATCH_SIZE": "3",
            "WATCHPOST_POLL_CONCURRENCY": "3",
            "WATCHPOST_HTTP_TOTAL_TIMEOUT": "60",
            "WATCHPOST_HTTP_READ_TIMEOUT": "60",
        }
        async with world.app(text, **env) as app:
            tick = asyncio.create_task(app.poller.poll_due())
            try:
                # The six others are polled while the slow one still has not answered.
                await _until(
                    lambda: {f"/f{i}.rss" for i in range(6)} <= set(seen),
                    "the other sources were polled while one was slow",
                )
                assert not tick.done()
            finally:
                release.set()
            outcomes = await tick
            assert len(outcomes) == 7 and all(o.error is None for o in outcomes)
            # each was polled once in the tick: a finished poll is not claimed again
            assert sorted(seen) == sorted(paths)


async def test_a_source_due_before_the_next_tick_is_polled_now(world: World) -> None:
    async with world.app(WATCHPOST_POLL_TICK_SECONDS="5") as app:
        await run_once(app, dispatch=False)
        now = app.clock()
        with app.sessions.begin() as s:
            for path, due_in in (("/am.rss", 3), ("/az.rss", 20), ("/ru.rss", 20)):
                s.execute(
                    update(SourceRow)
                    .where(SourceRow.key.endswith(path))
                    .values(next_poll_at=now + timedelta(seconds=due_in))
                )
        outcomes = await app.poller.poll_due()
    # due in 3 s: waiting for the next tick (5 s away, give or take its jitter) would poll it
    # late; due in 20 s: not yet
    assert [o.source_key.rsplit("/", 1)[1] for o in outcomes] == ["am.rss"]
