"""`watchpost channels` and `watchpost stats`: the operator's tables, read from the database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine

import storage
from bot.cli import main
from tests.e2e.conftest import WATCHLIST, World, entry


def _row(out: str, first: str) -> list[str]:
    (line,) = [ln for ln in out.splitlines() if ln.split()[:1] == [first]]
    return line.split()


def _columns(out: str, header_first: str) -> list[str]:
    (line,) = [ln for ln in out.splitlines() if ln.startswith(header_first + " ")]
    return line.split()


@pytest.fixture
def config(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    path = tmp_path / "w.yaml"
    path.write_text(WATCHLIST.replace("{feeds}", world.feeds.url), encoding="utf-8")
    for name, value in world.env().items():
        monkeypatch.setenv(name, value)
    return str(path)


def test_channels_and_stats_tables(
    world: World, config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    world.publish("/am.rss", entry(1, "Karabakh", "Primed, not alerted."))
    assert main(["--config", config, "once"]) == 0
    world.publish("/am.rss", entry(3, "On Artsakh", "Shelling of Stepanakert continues."))
    world.publish("/ru.rss", entry(5, "Заявление", "Призываем к ceasefire в Карабахе."))
    assert main(["--config", config, "once"]) == 0
    # The Armenian item is edited at its source: a later version is found.
    edited = world.entries["/am.rss"]
    edited[-1] = replace(edited[-1], html="<p>Shelling of Stepanakert has stopped.</p>")
    world.publish("/am.rss")
    assert main(["--config", config, "once"]) == 0
    capsys.readouterr()

    assert main(["channels", "--config", config]) == 0
    out = capsys.readouterr().out
    assert _columns(out, "CHANNEL") == [
        "CHANNEL",
        "CHAT",
        "PAUSED",
        "PENDING",
        "SENT",
        "FAILED",
        "SHOWN",
        "LAST",
        "SENT",
        "WHY",
    ]
    main_row = _row(out, "main")
    assert main_row[:7] == ["main", "@main_watch", "no", "0", "3", "0", "0"]  # 2 new, 1 edit
    assert main_row[7].endswith("s") and main_row[8] == "ago"
    assert _row(out, "cf")[:7] == ["cf", "@cf_watch", "no", "0", "1", "0", "0"]

    # Telegram refused the chat: the table says since when and why, and how to resume.
    engine = create_engine(world.env()["WATCHPOST_DATABASE_URL"])
    with storage.session_scope(storage.make_sessions(engine)) as session:
        storage.pause_channel(
            session, "cf", reason="Forbidden: bot was kicked", now=datetime.now(UTC)
        )
    engine.dispose()
    assert main(["channels", "--config", config]) == 0
    out = capsys.readouterr().out
    cf = _row(out, "cf")
    assert cf[2:4] == ["since", cf[3]] and cf[4] == "ago"
    (cf_line,) = [ln for ln in out.splitlines() if ln.startswith("cf ")]
    assert cf_line.endswith("  Forbidden: bot was kicked")
    assert _row(out, "main")[2] == "no"
    assert "watchpost channels resume ID" in out

    assert main(["stats", "--config", config]) == 0
    out = capsys.readouterr().out
    assert _columns(out, "SPEAKER") == ["SPEAKER", "KIND", "24", "H", "7", "D"]
    assert _row(out, "am-mfa") == ["am-mfa", "feed", "2", "2"]  # the primed item and the new one
    assert _row(out, "ru-mfa") == ["ru-mfa", "feed", "1", "1"]
    alerts = [ln.split() for ln in out.splitlines() if ln.startswith(("main ", "cf "))]
    assert alerts == [["cf", "sent", "1", "1"], ["main", "sent", "3", "3"]]
    assert _row(out, "edits") == ["edits", "1", "1"]
    assert _row(out, "deletions") == ["deletions", "0", "0"]
    assert _row(out, "duplicates") == ["duplicates", "suppressed", "0", "0"]
