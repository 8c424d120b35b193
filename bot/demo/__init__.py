"""`watchpost demo`: replays a bundled scenario through local fake servers and the real worker.

Starts a feed server and a fake Telegram Bot API on 127.0.0.1, releases the scenario's statements
into their feeds on a timeline, runs the real worker (scheduler, pipeline, outbox,
python-telegram-bot) until everything is delivered, and prints each alert as the channel shows
it. No network, no credentials.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import yaml

import storage
from bot.app import open_app, run_worker
from bot.fakes.feed_server import FeedServer
from bot.fakes.feedgen import FeedEntry, render_feed
from bot.fakes.http import LocalServer
from bot.fakes.telegram_api import FakeTelegram
from bot.log import setup_logging
from bot.settings import load_settings
from bot.watchlist import parse_watchlist

__all__ = ["DemoFeed", "load_scenario", "run_demo"]

DEMO_TOKEN = "123456789:DEMO-token-for-the-local-fake-only"
CHATS = {"@karabakh_watch": -1001000000001, "@ceasefire_watch": -1001000000002}
TIMEOUT = 50.0


@dataclass(frozen=True)
class DemoItem:
    """One statement of the scenario and when it appears."""

    entry: FeedEntry
    #: seconds after the worker starts; None: already in the feed before the start
    release: float | None


@dataclass(frozen=True)
class DemoFeed:
    """One feed of the scenario."""

    path: str
    fmt: str
    title: str
    link: str
    language: str | None
    items: tuple[DemoItem, ...]

    def body(self, elapsed: float | None) -> tuple[bytes, str]:
        """The feed as published `elapsed` seconds after the start (None: before it)."""
        shown = [
            i.entry
            for i in self.items
            if i.release is None or (elapsed is not None and i.release <= elapsed)
        ]
        shown.sort(key=lambda e: e.published or datetime.min, reverse=True)
        return render_feed(self.fmt, self.title, self.link, shown, language=self.language)


def _data(name: str) -> str:
    return resources.files("bot.demo").joinpath(name).read_text(encoding="utf-8")


def load_scenario(text: str | None = None) -> tuple[DemoFeed, ...]:
    """The bundled scenario (or `text` in its format)."""
    doc: dict[str, Any] = yaml.safe_load(text if text is not None else _data("scenario.yaml"))
    feeds = []
    for f in doc["feeds"]:
        items = []
        for it in f["items"]:
            published = it.get("published")
            if isinstance(published, str):
                published = datetime.fromisoformat(published)
            entry = FeedEntry(
                id=str(it["id"]),
                title=str(it["title"]),
                html=str(it["html"]),
                link=it.get("link"),
                published=published,
                language=it.get("language"),
            )
            release = it["release"]
            items.append(DemoItem(entry, None if release == "before" else float(release)))
        feeds.append(
            DemoFeed(
                path=f["path"],
                fmt=f["format"],
                title=f["title"],
                link=f["link"],
                language=f.get("language"),
                items=tuple(items),
            )
        )
    return tuple(feeds)


def _publish(server: FeedServer, feeds: tuple[DemoFeed, ...], elapsed: float | None) -> None:
    for f in feeds:
        body, content_type = f.body(elapsed)
        server.set_feed(f.path, body, content_type=content_type)


def demo_env(db_path: Path, feeds_url: str, telegram_url: str) -> Mapping[str, str]:
    """The settings the demo runs with: fast ticks, a local database, the fake Bot API."""
    return {
        "WATCHPOST_DATABASE_URL": f"sqlite:///{db_path}",
        "TELEGRAM_BOT_TOKEN": DEMO_TOKEN,
        "TELEGRAM_API_BASE_URL": telegram_url,
        "WATCHPOST_POLL_TICK_SECONDS": "0.5",
        "WATCHPOST_DISPATCH_TICK_SECONDS": "0.5",
        "WATCHPOST_TELEGRAM_CHAT_INTERVAL_SECONDS": "0.3",
        "WATCHPOST_LOG_LEVEL": "WARNING",
    }


async def run_demo(*, speed: float = 1.0, out: TextIO | None = None) -> int:
    """Run the scenario end to end; returns the exit code (0 when everything was delivered)."""
    out = out or sys.stdout
    feeds = load_scenario()
    feed_state = FeedServer()
    telegram = FakeTelegram(tokens={DEMO_TOKEN}, chats=CHATS)
    _publish(feed_state, feeds, None)
    releases = sorted({i.release for f in feeds for i in f.items if i.release is not None})
    with (
        LocalServer(feed_state.handle) as feed_srv,
        LocalServer(telegram.handle) as tg_srv,
        tempfile.TemporaryDirectory(prefix="watchpost-demo-") as tmp,
    ):
        settings = load_settings(demo_env(Path(tmp) / "demo.sqlite", feed_srv.url, tg_srv.url))
        setup_logging(settings.log_level, settings.log_format, [DEMO_TOKEN])
        watchlist = parse_watchlist(
            _data("watchlist.yaml").replace("{feeds}", feed_srv.url), path="bot/demo/watchlist.yaml"
        )
        out.write(
            f"demo: {len(watchlist.speakers)} speakers, {len(feeds)} feeds on {feed_srv.url}, "
            f"fake Telegram Bot API on {tg_srv.url}\n"
            "demo: replaying the morning of 27 September 2020…\n"
        )
        async with open_app(settings, watchlist) as app:
            stop = asyncio.Event()
            worker = asyncio.create_task(run_worker(app, stop=stop))
            started = time.monotonic()
            printed = 0
            last_release_at: float | None = None
            delivered = False
            while time.monotonic() - started < TIMEOUT:
                elapsed = (time.monotonic() - started) * speed
                if releases and elapsed >= releases[0]:
                    while releases and elapsed >= releases[0]:
                        releases.pop(0)
                    _publish(feed_state, feeds, elapsed)
                    last_release_at = time.monotonic()
                for msg in telegram.messages()[printed:]:
                    out.write(f"\n── {msg.chat} · message {msg.message_id} ──\n{msg.text}\n")
                    printed += 1
                out.flush()
                if not releases and last_release_at is not None and _settled(app, last_release_at):
                    delivered = True
                    break
                await asyncio.sleep(0.2)
            stop.set()
            await worker
            for msg in telegram.messages()[printed:]:
                out.write(f"\n── {msg.chat} · message {msg.message_id} ──\n{msg.text}\n")
            with storage.session_scope(app.sessions) as session:
                counts = storage.outbox_counts(session)
            m = app.metrics
            out.write(
                f"\ndemo: {m.get('statements_new')} statements, {counts['sent']} alerts delivered, "
                f"{m.get('duplicates_suppressed')} duplicates suppressed\n"
            )
            if not delivered:
                out.write(f"demo: not everything was delivered within {TIMEOUT:.0f}s\n")
            return 0 if delivered else 1


def _settled(app: Any, since: float) -> bool:
    """Every source polled after the last release, and nothing left in the outbox."""
    with storage.session_scope(app.sessions) as session:
        rows = storage.source_statuses(session)
        counts = storage.outbox_counts(session)
    polled_since = time.time() - (time.monotonic() - since)
    return counts["pending"] == 0 and all(
        r.last_success_at is not None and r.last_success_at.timestamp() > polled_since + 0.05
        for r in rows
    )
