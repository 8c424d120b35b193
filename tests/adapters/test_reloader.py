"""The reload tick on a real file and database: X edits wait for a restart, the rest applies."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import storage
from bot.model import SourceKind, Watchlist
from bot.reload import x_sources_asked
from bot.reloader import Reloader, ReloadResult
from bot.watchlist import load_watchlist
from storage.schema import SourceRow

NOW = datetime(2026, 11, 1, tzinfo=UTC)

TEXT = """
speakers:
  - id: am
    name: Armenia MFA
    role: Foreign ministry
    side: Armenia
    timezone: Asia/Yerevan
    sources:
      - x: "@MFA_Armenia"
      - feed: "https://example.org/am.rss"
topics:
  - id: karabakh
    name: Karabakh
    terms:
      en: [Karabakh]
channels:
  - id: main
    chat: "@main_watch"
"""


@dataclass
class Recorder:
    """Stands for the poller and the dispatcher: what they were handed."""

    given: list[Watchlist] = field(default_factory=list)

    def replace_watchlist(self, watchlist: Watchlist, *_matcher: Any) -> None:
        self.given.append(watchlist)


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = storage.make_engine(f"sqlite:///{tmp_path / 'wp.sqlite'}")
    storage.migrate(engine)
    yield storage.make_sessions(engine)
    engine.dispose()


def _reloader(
    path: Path, sessions: sessionmaker[Session], poller: Recorder, dispatcher: Recorder
) -> Reloader:
    running = load_watchlist(path)
    specs = list(running.sources())
    with storage.session_scope(sessions) as s:
        storage.sync_watchlist(
            s, specs, running.channels, default_interval=timedelta(minutes=1), now=NOW
        )
    return Reloader(
        str(path),
        running=running,
        asked_x=x_sources_asked(running),
        fetchable={SourceKind.FEED, SourceKind.X},
        sessions=sessions,
        poller=poller,  # type: ignore[arg-type]
        dispatcher=dispatcher,  # type: ignore[arg-type]
        default_interval=timedelta(minutes=1),
        clock=lambda: NOW,
    )


def _active(sessions: sessionmaker[Session]) -> set[str]:
    with sessions() as s:
        return set(s.scalars(select(SourceRow.key).where(SourceRow.active)))


async def test_x_edits_wait_for_a_restart_and_the_rest_applies(
    tmp_path: Path, sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_text(TEXT)
    poller, dispatcher = Recorder(), Recorder()
    reloader = _reloader(path, sessions, poller, dispatcher)
    assert await reloader.tick() is ReloadResult.UNCHANGED  # the file it started with
    assert poller.given == []

    edited = TEXT.replace('"@MFA_Armenia"', '"@NewAccount"').replace(
        '      - feed: "https://example.org/am.rss"\n',
        '      - feed: "https://example.org/am2.rss"\n',
    )
    path.write_text(edited)
    with caplog.at_level(logging.INFO, logger="watchpost"):
        assert await reloader.tick() is ReloadResult.APPLIED
        assert await reloader.tick() is ReloadResult.UNCHANGED
    assert "X sources changed: restart to apply" in caplog.text
    assert caplog.text.count("X sources changed") == 1
    (given,) = poller.given
    assert dispatcher.given == [given]
    assert {s.key for s in given.sources()} == {"x:mfa_armenia", "feed:https://example.org/am2.rss"}
    assert _active(sessions) == {"x:mfa_armenia", "feed:https://example.org/am2.rss"}


async def test_a_vanished_file_is_reported_once_and_the_running_watchlist_stays(
    tmp_path: Path, sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_text(TEXT)
    poller = Recorder()
    reloader = _reloader(path, sessions, poller, Recorder())
    running = reloader.watchlist
    path.unlink()
    with caplog.at_level(logging.WARNING, logger="watchpost"):
        assert await reloader.tick() is ReloadResult.UNREADABLE
        assert await reloader.tick() is ReloadResult.UNREADABLE
    assert caplog.text.count("not reloaded") == 1
    assert reloader.watchlist is running and poller.given == []
    path.write_text(TEXT.replace("en: [Karabakh]", "en: [Karabakh, Artsakh]"))
    assert await reloader.tick() is ReloadResult.APPLIED


async def test_the_first_tick_does_not_parse_the_file_the_worker_started_with(
    tmp_path: Path, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """issue 9: parsing 10,000 sources again just after start kept the GIL from the loop."""
    import bot.reloader

    path = tmp_path / "watchlist.yaml"
    path.write_text(TEXT)
    reloader = _reloader(path, sessions, Recorder(), Recorder())
    parsed: list[str] = []
    real = bot.reloader.parse_watchlist_bytes

    def counting(data: bytes, *, path: str) -> Watchlist:
        parsed.append(path)
        return real(data, path=path)

    monkeypatch.setattr(bot.reloader, "parse_watchlist_bytes", counting)
    assert await reloader.tick() is ReloadResult.UNCHANGED
    assert parsed == []
    # an edit made between the start's read and the first tick is parsed and applied
    other = _reloader(path, sessions, Recorder(), Recorder())
    path.write_text(TEXT.replace("en: [Karabakh]", "en: [Karabakh, Artsakh]"))
    assert await other.tick() is ReloadResult.APPLIED
    assert parsed == [str(path)]
