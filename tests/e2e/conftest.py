"""End-to-end fixtures: a feed server and a strict fake Bot API on 127.0.0.1, and a worker wired
to them with the real adapters and a real database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import App, open_app
from bot.fakes.feed_server import FeedServer
from bot.fakes.feedgen import FeedEntry, rss
from bot.fakes.http import LocalServer
from bot.fakes.telegram_api import FakeTelegram
from bot.settings import Settings, load_settings
from bot.watchlist import parse_watchlist

TOKEN = "111111:test-token-that-must-never-be-logged"
CHATS = {"@main_watch": -1001000000001, "@cf_watch": -1001000000002}

REPO = Path(__file__).resolve().parents[2]

WATCHLIST = """
speakers:
  - id: am-mfa
    name: Ministry of Foreign Affairs of Armenia
    role: Foreign ministry
    side: Armenia
    timezone: Asia/Yerevan
    sources:
      - feed: "{feeds}/am.rss"
  - id: az-mfa
    name: Ministry of Foreign Affairs of Azerbaijan
    role: Foreign ministry
    side: Azerbaijan
    timezone: Asia/Baku
    sources:
      - feed: "{feeds}/az.rss"
  - id: ru-mfa
    name: Ministry of Foreign Affairs of Russia
    role: Foreign ministry
    side: Russia
    timezone: Europe/Moscow
    sources:
      - feed: "{feeds}/ru.rss"
topics:
  - id: karabakh
    name: Nagorno-Karabakh
    terms:
      en: [Karabakh, Artsakh, Stepanakert]
      az: [Qarabağ*]
      ru: [Карабах*]
  - id: ceasefire
    name: Ceasefire
    terms:
      en: [ceasefire*]
channels:
  - id: main
    chat: "@main_watch"
  - id: cf
    chat: "@cf_watch"
    topics: [ceasefire]
"""


def entry(n: int, title: str, text: str, *, minute: int | None = None) -> FeedEntry:
    return FeedEntry(
        id=f"urn:test:{n}",
        title=title,
        html=f"<p>{text}</p>",
        link=f"https://example.org/news/{n}",
        published=datetime(2020, 9, 27, 4, minute if minute is not None else n % 60, tzinfo=UTC),
    )


class World:
    """The fakes and the database one test runs against."""

    def __init__(
        self,
        tmp: Path,
        feeds: LocalServer,
        feed_state: FeedServer,
        telegram: FakeTelegram,
        tg: LocalServer,
    ) -> None:
        self.tmp = tmp
        self.feeds = feeds
        self.feed_state = feed_state
        self.telegram = telegram
        self.tg = tg
        self.entries: dict[str, list[FeedEntry]] = {"/am.rss": [], "/az.rss": [], "/ru.rss": []}
        for path in self.entries:
            self.publish(path)

    def publish(self, path: str, *new: FeedEntry) -> None:
        self.entries[path].extend(new)
        self.feed_state.set_feed(
            path, rss("feed", "https://example.org/", list(reversed(self.entries[path])))
        )

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            "WATCHPOST_DATABASE_URL": f"sqlite:///{self.tmp / 'wp.sqlite'}",
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": self.tg.url,
            "WATCHPOST_TELEGRAM_CHAT_INTERVAL_SECONDS": "0",
            "WATCHPOST_TELEGRAM_GLOBAL_RATE_PER_SECOND": "1000",
            "WATCHPOST_HTTP_TOTAL_TIMEOUT": "3",
            "WATCHPOST_HTTP_READ_TIMEOUT": "2",
            "WATCHPOST_HTTP_CONNECT_TIMEOUT": "2",
        }
        env.update(extra)
        return env

    def settings(self, **extra: str) -> Settings:
        return load_settings(self.env(**extra))

    def probe(self, code: str) -> subprocess.CompletedProcess[str]:
        """Run `code` in a new Python process with the worker's environment (no Telegram
        token) and the world's watchlist written to a file, whose path is ``sys.argv[1]``."""
        config = self.tmp / "probe-watchlist.yaml"
        config.write_text(WATCHLIST.replace("{feeds}", self.feeds.url), encoding="utf-8")
        env = {**os.environ, **self.env(), "PYTHONPATH": str(REPO)}
        env.pop("TELEGRAM_BOT_TOKEN")
        return subprocess.run(
            [sys.executable, "-c", code, str(config)],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )

    def app(self, text: str = WATCHLIST, **extra: str) -> AbstractAsyncContextManager[App]:
        wl = parse_watchlist(text.replace("{feeds}", self.feeds.url), path="test.yaml")
        return open_app(self.settings(**extra), wl)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    feed_state = FeedServer()
    telegram = FakeTelegram(tokens={TOKEN}, chats=CHATS)
    with LocalServer(feed_state.handle) as feeds, LocalServer(telegram.handle) as tg:
        yield World(tmp_path, feeds, feed_state, telegram, tg)
