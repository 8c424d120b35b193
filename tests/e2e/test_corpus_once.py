"""`watchpost once` on real-world feeds (the shared corpus) against the strict fake Bot API:
every statement one valid, escaped HTML message within Telegram's limits; the second run sends
nothing new."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.exitcodes import ExitStatus
from bot.fakes.feed_server import FeedServer
from bot.fakes.http import LocalServer
from bot.fakes.telegram_api import FakeTelegram
from bot.tghtml import parse_tg_html, utf16_len

TOKEN = "222222:corpus-run-token"
# Real sites' feeds in eight encodings and several shapes (Russian, Turkish, UK government, ...).
FOLDERS = ("chardet/tests", "rss-parser/test/input", "node-feedparser/test/feeds")


@pytest.mark.corpus
def test_once_on_real_feeds_sends_each_statement_once(
    corpus: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = sorted(
        p for folder in FOLDERS for p in (corpus / "feeds" / folder).rglob("*") if p.is_file()
    )
    assert len(files) > 60
    feeds = FeedServer()
    telegram = FakeTelegram(tokens={TOKEN}, chats={"@corpus_watch": -1002000000001})
    with LocalServer(feeds.handle) as fsrv, LocalServer(telegram.handle) as tsrv:
        lines = ["speakers:"]
        for n, path in enumerate(files):
            feeds.set_raw(f"/{n}", path.read_bytes(), {"Content-Type": "application/xml"})
            lines += [
                f"  - id: s{n}",
                f"    name: {path.parent.name} {path.name}",
                "    side: corpus",
                "    timezone: Europe/Moscow",
                "    sources:",
                f"      - feed: {fsrv.url}/{n}",
                "        match: all",
                "        backfill_alerts: 10000",  # alert everything on this first poll
            ]
        lines += ["channels:", "  - id: main", "    chat: '@corpus_watch'"]
        config = tmp_path / "watchlist.yaml"
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        for name, value in {
            "WATCHPOST_DATABASE_URL": f"sqlite:///{tmp_path / 'c.sqlite'}",
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": tsrv.url,
            "WATCHPOST_TELEGRAM_CHAT_INTERVAL_SECONDS": "0",
            "WATCHPOST_TELEGRAM_GLOBAL_RATE_PER_SECOND": "1000",
            "WATCHPOST_LOG_LEVEL": "ERROR",
        }.items():
            monkeypatch.setenv(name, value)

        # Some corpus files are hostile or no feeds at all: those sources fail, the rest go on,
        # and the exit status says "partly done" (issue 7).
        assert main(["--config", str(config), "once", "--json"]) == ExitStatus.PARTIAL
        first = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        sent = telegram.messages()
        assert main(["--config", str(config), "once", "--json"]) == ExitStatus.PARTIAL
        second = capsys.readouterr().out.strip()

    assert len(first) > 500
    assert len(sent) == len(first)  # one message per new statement, none refused
    assert {m.chat for m in sent} == {"@corpus_watch"}
    for m in sent:
        parsed = parse_tg_html(m.html)  # what the strict server accepted, re-checked
        assert utf16_len(m.html) <= 4096 and utf16_len(parsed.text) <= 4096
    # Cyrillic from KOI8-R, windows-1251, ISO-8859-5, IBM866 and MacCyrillic came through decoded.
    assert sum(1 for s in first if any("а" <= ch <= "я" for ch in s["text"])) > 100
    assert second == ""  # nothing new
    assert len(telegram.messages()) == len(sent)  # and nothing sent again
