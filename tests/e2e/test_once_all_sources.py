"""Issue 7: `once` polls every source exactly once, whatever their number.

Before, each batch of `WATCHPOST_POLL_BATCH_SIZE` claimed again the sources the previous batch
had polled and released, and `once` never ended (800 sources made 140,000 requests).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from threading import Lock

import pytest

from bot.app import open_app, run_once
from bot.fakes.feed_server import FeedServer
from bot.fakes.feedgen import rss
from bot.fakes.http import LocalServer, Request, Response
from bot.settings import load_settings
from bot.watchlist import parse_watchlist

SOURCES = 1200


class _CountingFeeds:
    """The feed server, counting requests per path and flagging the first repeat."""

    def __init__(self, feeds: FeedServer, loop: asyncio.AbstractEventLoop) -> None:
        self.feeds = feeds
        self.hits: Counter[str] = Counter()
        self.repeated = asyncio.Event()
        self._loop = loop
        self._lock = Lock()

    def handle(self, request: Request) -> Response:
        with self._lock:
            self.hits[request.path] += 1
            again = self.hits[request.path] > 1
        if again:
            self._loop.call_soon_threadsafe(self.repeated.set)
        return self.feeds.handle(request)


@pytest.mark.slow
async def test_once_polls_1200_sources_exactly_once(tmp_path: Path) -> None:
    feeds = FeedServer()
    for n in range(SOURCES):
        feeds.set_feed(f"/f{n}.rss", rss(f"feed {n}", "https://example.org/", []))
    counting = _CountingFeeds(feeds, asyncio.get_running_loop())
    with LocalServer(counting.handle) as server:
        sources = "".join(f'      - feed: "{server.url}/f{n}.rss"\n' for n in range(SOURCES))
        wl = parse_watchlist(
            "speakers:\n"
            "  - id: many\n"
            "    name: Many feeds\n"
            "    side: A\n"
            "    timezone: UTC\n"
            "    sources:\n"
            f"{sources}"
            "topics:\n"
            "  - id: t\n"
            "    name: T\n"
            "    terms: {en: [Karabakh]}\n"
            "channels:\n"
            "  - id: main\n"
            "    chat: '@main_watch'\n",
            path="many.yaml",
        )
        settings = load_settings(
            {
                "WATCHPOST_DATABASE_URL": f"sqlite:///{tmp_path / 'wp.sqlite'}",
                "WATCHPOST_CONSOLE": "true",
                "WATCHPOST_POLL_BATCH_SIZE": "500",
            }
        )
        async with open_app(settings, wl) as app:
            once = asyncio.create_task(run_once(app))
            repeat = asyncio.create_task(counting.repeated.wait())
            await asyncio.wait({once, repeat}, return_when=asyncio.FIRST_COMPLETED)
            repeat.cancel()
            if not once.done():
                once.cancel()
                pytest.fail("a source was polled twice in one `once`")
            outcomes, _ = once.result()
    assert len(outcomes) == SOURCES
    assert len(counting.hits) == SOURCES and set(counting.hits.values()) == {1}
