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
from datetime import UTC, datetime, timedelta
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
from bot.fakes.telegram_preview import FakePreview
from bot.fakes.x_api import FakeX
from bot.log import setup_logging
from bot.settings import load_settings
from bot.tghtml import TgEntity
from bot.watchlist import parse_watchlist

__all__ = ["DemoFeed", "load_scenario", "run_demo"]

DEMO_TOKEN = "123456789:DEMO-token-for-the-local-fake-only"
X_DEMO_TOKEN = "demo-bearer-for-the-local-fake-only"
#: the fake X lives on the morning of the scenario, so that recent search finds its posts
X_SCENARIO_NOW = datetime(2020, 9, 27, 10, 40, tzinfo=UTC)
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


@dataclass(frozen=True)
class XEvent:
    """A post, an edit or a deletion on the fake X, `release` seconds after the start."""

    release: float
    action: str
    fields: dict[str, Any]


def load_x_events(text: str | None = None) -> tuple[XEvent, ...]:
    """The scenario's X events, in release order."""
    doc: dict[str, Any] = yaml.safe_load(text if text is not None else _data("scenario.yaml"))
    events = []
    for ev in doc.get("x") or []:
        (action,) = [k for k in ("post", "edit", "delete") if k in ev]
        events.append(XEvent(float(ev["release"]), action, dict(ev[action])))
    return tuple(sorted(events, key=lambda e: e.release))


class XPlayer:
    """Plays X events on a fake X API, remembering each post's latest version by its `ref`."""

    def __init__(self, fake: FakeX) -> None:
        self.fake = fake
        self.latest: dict[str, str] = {}
        self.deleted = 0

    def play(self, ev: XEvent) -> None:
        f = ev.fields
        when = _utc(f.get("published"))
        if ev.action == "post":
            tweet_id = self.fake.post(
                f["account"],
                f.get("text", ""),
                created_at=when,
                lang=f.get("lang", "en"),
                reply_to=self.latest.get(f.get("reply_to", "")),
                quote_of=self.latest.get(f.get("quote_of", "")),
                repost_of=self.latest.get(f.get("repost_of", "")),
                urls=tuple(f.get("urls", ())),
            )
            if "ref" in f:
                self.latest[f["ref"]] = tweet_id
        elif ev.action == "edit":
            self.latest[f["ref"]] = self.fake.edit(
                self.latest[f["ref"]], f["text"], created_at=when
            )
        else:
            self.fake.delete(self.latest[f["ref"]])
            self.deleted += 1


def load_telegram_events(text: str | None = None) -> tuple[str, str, tuple[XEvent, ...]]:
    """The scenario's Telegram channel (name, title) and its events; "before" releases are 0."""
    doc: dict[str, Any] = yaml.safe_load(text if text is not None else _data("scenario.yaml"))
    channel = doc.get("telegram_channel") or {"name": "", "title": ""}
    events = []
    for ev in doc.get("telegram") or []:
        (action,) = [k for k in ("post", "edit", "delete") if k in ev]
        release = -1.0 if ev["release"] == "before" else float(ev["release"])
        events.append(XEvent(release, action, dict(ev[action])))
    return channel["name"], channel["title"], tuple(sorted(events, key=lambda e: e.release))


class TelegramPlayer:
    """Plays a channel's events on the fake preview, remembering post numbers by `ref`."""

    def __init__(self, fake: FakePreview, channel: str) -> None:
        self.fake = fake
        self.channel = channel
        self.numbers: dict[str, int] = {}
        self.deleted = 0

    def play(self, ev: XEvent) -> None:
        f = ev.fields
        if ev.action == "post":
            forwarded = f.get("forwarded")
            number = self.fake.post(
                self.channel,
                str(f.get("text", "")),
                at=_utc(f.get("published")),
                media="photo" if f.get("photo") else None,
                forwarded=(str(forwarded[0]), str(forwarded[1])) if forwarded else None,
                reply_to=self.numbers.get(str(f.get("reply_to", ""))),
            )
            self.numbers[str(f["ref"])] = number
        elif ev.action == "edit":
            self.fake.edit(self.channel, self.numbers[str(f["ref"])], str(f["text"]))
        else:
            self.fake.delete(self.channel, self.numbers[str(f["ref"])])
            self.deleted += 1


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _publish(server: FeedServer, feeds: tuple[DemoFeed, ...], elapsed: float | None) -> None:
    for f in feeds:
        body, content_type = f.body(elapsed)
        server.set_feed(f.path, body, content_type=content_type)


def demo_env(
    db_path: Path, telegram_url: str, x_url: str, preview_url: str = "http://127.0.0.1:9"
) -> Mapping[str, str]:
    """The settings the demo runs with: fast ticks, a local database, the fake APIs."""
    return {
        "WATCHPOST_TELEGRAM_PREVIEW_BASE_URL": preview_url,
        "WATCHPOST_TELEGRAM_PREVIEW_INTERVAL_SECONDS": "0.05",
        "WATCHPOST_DATABASE_URL": f"sqlite:///{db_path}",
        "TELEGRAM_BOT_TOKEN": DEMO_TOKEN,
        "TELEGRAM_API_BASE_URL": telegram_url,
        "X_BEARER_TOKEN": X_DEMO_TOKEN,
        "X_API_BASE_URL": x_url,
        "WATCHPOST_X_PLAN": "pro",
        "WATCHPOST_X_DELETION_CHECKS_PER_DAY": "17280",
        "WATCHPOST_POLL_TICK_SECONDS": "0.5",
        "WATCHPOST_DISPATCH_TICK_SECONDS": "0.5",
        "WATCHPOST_TELEGRAM_CHAT_INTERVAL_SECONDS": "0.3",
        "WATCHPOST_LOG_LEVEL": "WARNING",
    }


async def run_demo(*, speed: float = 1.0, out: TextIO | None = None) -> int:
    """Run the scenario end to end; returns the exit code (0 when everything was delivered)."""
    out = out or sys.stdout
    feeds = load_scenario()
    x_events = list(load_x_events())
    feed_state = FeedServer()
    telegram = FakeTelegram(tokens={DEMO_TOKEN}, chats=CHATS)
    offset = time.time() - X_SCENARIO_NOW.timestamp()
    fake_x = FakeX(tokens={X_DEMO_TOKEN}, clock=lambda: time.time() - offset)
    for handle in sorted({str(e.fields["account"]) for e in x_events if "account" in e.fields}):
        fake_x.add_user(handle, name=handle)
    player = XPlayer(fake_x)
    tg_name, tg_title, tg_events_all = load_telegram_events()
    preview = FakePreview()
    if tg_name:
        preview.add_channel(tg_name, tg_title)
    tg_player = TelegramPlayer(preview, tg_name)
    tg_events = [e for e in tg_events_all if e.release >= 0]
    for ev in tg_events_all:
        if ev.release < 0:
            tg_player.play(ev)
    _publish(feed_state, feeds, None)
    releases = sorted(
        {i.release for f in feeds for i in f.items if i.release is not None}
        | {e.release for e in x_events}
        | {e.release for e in tg_events}
    )
    with (
        LocalServer(feed_state.handle) as feed_srv,
        LocalServer(telegram.handle) as tg_srv,
        LocalServer(fake_x.handle) as x_srv,
        LocalServer(preview.handle) as preview_srv,
        tempfile.TemporaryDirectory(prefix="watchpost-demo-") as tmp,
    ):
        settings = load_settings(
            demo_env(Path(tmp) / "demo.sqlite", tg_srv.url, x_srv.url, preview_srv.url)
        )
        setup_logging(settings.log_level, settings.log_format, [DEMO_TOKEN])
        watchlist = parse_watchlist(
            _data("watchlist.yaml").replace("{feeds}", feed_srv.url), path="bot/demo/watchlist.yaml"
        )
        out.write(
            f"demo: {len(watchlist.speakers)} speakers, {len(feeds)} feeds on {feed_srv.url}, "
            f"fake X API on {x_srv.url}, fake t.me channel previews on {preview_srv.url}, "
            f"fake Telegram Bot API on {tg_srv.url}\n"
            "demo: replaying the morning of 27 September 2020…\n"
        )
        # The worker lives on the scenario's morning too, so that times read as they would have.
        async with open_app(
            settings, watchlist, clock=lambda: datetime.now(UTC) - timedelta(seconds=offset)
        ) as app:
            stop = asyncio.Event()
            worker = asyncio.create_task(run_worker(app, stop=stop))
            started = time.monotonic()
            printer = ChannelPrinter(out, telegram)
            last_release_at: float | None = None
            delivered = False
            while time.monotonic() - started < TIMEOUT:
                elapsed = (time.monotonic() - started) * speed
                if releases and elapsed >= releases[0]:
                    while releases and elapsed >= releases[0]:
                        releases.pop(0)
                    _publish(feed_state, feeds, elapsed)
                    while x_events and elapsed >= x_events[0].release:
                        player.play(x_events.pop(0))
                    while tg_events and elapsed >= tg_events[0].release:
                        tg_player.play(tg_events.pop(0))
                    last_release_at = time.monotonic()
                printer.show()
                settled = (
                    not releases
                    and last_release_at is not None
                    and app.metrics.get("deletions_found") >= player.deleted + tg_player.deleted
                    and _settled(app, last_release_at)
                )
                if settled:
                    delivered = True
                    break
                await asyncio.sleep(0.2)
            stop.set()
            await worker
            printer.show()
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


_MARKS = {"strikethrough": ("[-", "-]"), "underline": ("{+", "+}")}


def _marked(text: str, entities: tuple[TgEntity, ...]) -> str:
    """The plain text with struck and underlined runs marked, as a terminal cannot show them."""
    units = text.encode("utf-16-le")
    cuts: list[tuple[int, str]] = []
    for e in entities:
        if e.type in _MARKS:
            opening, closing = _MARKS[e.type]
            cuts += [(e.offset, opening), (e.offset + e.length, closing)]
    out, pos = [], 0
    for at, mark in sorted(cuts, key=lambda c: c[0]):
        out.append(units[2 * pos : 2 * at].decode("utf-16-le"))
        out.append(mark)
        pos = at
    out.append(units[2 * pos :].decode("utf-16-le"))
    return "".join(out)


class ChannelPrinter:
    """Prints what the channels show: new messages, and messages as they are edited."""

    def __init__(self, out: TextIO, telegram: FakeTelegram) -> None:
        self._out = out
        self._telegram = telegram
        self._printed = 0
        self._edits: dict[tuple[str, int], int] = {}

    def show(self) -> None:
        """Print everything not printed yet."""
        msgs = self._telegram.messages()
        for msg in msgs[self._printed :]:
            answer = f" · reply to message {msg.reply_to}" if msg.reply_to else ""
            text = _marked(msg.text, msg.entities)
            self._out.write(f"\n── {msg.chat} · message {msg.message_id}{answer} ──\n{text}\n")
            self._edits[(msg.chat, msg.message_id)] = len(msg.edits)
        for msg in msgs:
            shown = self._edits.get((msg.chat, msg.message_id), 0)
            for edit in msg.edits[shown:]:
                self._out.write(
                    f"\n── {msg.chat} · message {msg.message_id}, edited ──\n{edit.text}\n"
                )
            self._edits[(msg.chat, msg.message_id)] = len(msg.edits)
        self._printed = len(msgs)
        self._out.flush()


def _settled(app: Any, since: float) -> bool:
    """Every source polled after the last release, and nothing left in the outbox."""
    with storage.session_scope(app.sessions) as session:
        rows = storage.source_statuses(session)
        counts = storage.outbox_counts(session)
    polled_since = app.clock().timestamp() - (time.monotonic() - since)
    return counts["pending"] == 0 and all(
        r.last_success_at is not None and r.last_success_at.timestamp() > polled_since + 0.05
        for r in rows
    )
