"""The `watchpost` command as an operator uses it: check, sources, once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from tests.e2e.conftest import WATCHLIST, World, entry

REPO = Path(__file__).resolve().parents[2]


def test_check_passes_on_the_shipped_watchlist(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(REPO / "config" / "watchlist.yaml"), "check"]) == 0
    out = capsys.readouterr().out
    assert "speakers:" in out and "TELEGRAM_BOT_TOKEN = unset" in out


def test_check_names_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "speakers:\n"
        "  - id: am\n"
        "    name: A\n"
        "    side: x\n"
        "    timezone: Asia/Yerevan\n"
        "    sources:\n"
        "      - feed: https://example.org/rss\n"
        "        interval: soon\n"
        "channels:\n"
        "  - id: main\n"
        "    chat: '@main_channel'\n"
        "    topics: [nope]\n",
        encoding="utf-8",
    )
    assert main(["--config", str(bad), "check"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"{bad}:8: speakers[0].sources[0].interval: ")
    assert err[1].startswith(f"{bad}:12: channels[0].topics[0]: unknown topic 'nope'")


def test_once_json_then_sources_table(
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "w.yaml"
    config.write_text(WATCHLIST.replace("{feeds}", world.feeds.url), encoding="utf-8")
    for name, value in world.env().items():
        monkeypatch.setenv(name, value)
    world.publish("/am.rss", entry(1, "Karabakh", "Primed, not alerted."))
    assert main(["--config", str(config), "once", "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    st = json.loads(line)
    assert st["source"].endswith("/am.rss") and st["matches"][0]["topic"] == "karabakh"
    assert world.telegram.messages() == []
    world.feed_state.fail("/az.rss", 503)
    assert main(["--config", str(config), "sources"]) == 0
    out = capsys.readouterr().out
    assert "outbox: 0 pending, 0 sent, 0 failed" in out
    az = next(row for row in out.splitlines() if row.startswith("feed:") and "/az.rss" in row)
    assert " 0 " in az  # no failures yet: `sources` only reads


def test_once_json_marks_an_undated_statement(
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from dataclasses import replace

    config = tmp_path / "w.yaml"
    config.write_text(WATCHLIST.replace("{feeds}", world.feeds.url), encoding="utf-8")
    for name, value in world.env().items():
        monkeypatch.setenv(name, value)
    world.publish("/am.rss", entry(1, "Karabakh", "Dated."))
    world.publish("/az.rss", replace(entry(2, "Karabakh", "No date in the feed."), published=None))
    assert main(["--config", str(config), "once", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_text = {r["text"]: r["published_estimated"] for r in rows}
    assert by_text == {"Dated.": False, "No date in the feed.": True}
