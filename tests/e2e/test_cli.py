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


def _world_config(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The e2e watchlist written to a file, and the world's settings in the environment."""
    config = tmp_path / "w.yaml"
    config.write_text(WATCHLIST.replace("{feeds}", world.feeds.url), encoding="utf-8")
    for name, value in world.env().items():
        monkeypatch.setenv(name, value)
    return config


def test_once_json_then_sources_table(
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = _world_config(world, tmp_path, monkeypatch)
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


# --- issue 7: --config before or after the verb; check reports what it read ------------------


@pytest.mark.parametrize("where", ["before", "after"])
def test_config_is_accepted_before_or_after_the_verb(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "elsewhere.yaml"
    config.write_text(WATCHLIST.replace("{feeds}", "https://example.org"), encoding="utf-8")
    # The environment names another file: --config must win wherever it is written.
    monkeypatch.setenv("WATCHPOST_CONFIG", str(tmp_path / "missing.yaml"))
    argv = (
        ["--config", str(config), "check"]
        if where == "before"
        else ["check", "--config", str(config)]
    )
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"watchlist: {config.resolve()} (from --config): ok" in out
    # the settings list must not claim the environment's file was the one read
    line = next(row for row in out.splitlines() if "WATCHPOST_CONFIG" in row)
    assert "missing.yaml" in line and "not read: --config given" in line


def test_check_names_the_environment_file_it_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "env.yaml"
    config.write_text(WATCHLIST.replace("{feeds}", "https://example.org"), encoding="utf-8")
    monkeypatch.setenv("WATCHPOST_CONFIG", str(config))
    assert main(["check"]) == 0
    assert f"watchlist: {config.resolve()} (from WATCHPOST_CONFIG): ok" in capsys.readouterr().out


def test_check_does_not_say_x_sources_are_not_polled(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check", "--config", str(REPO / "config" / "watchlist.yaml")]) == 0
    out = capsys.readouterr().out
    assert " x" in out  # the shipped watchlist has X sources, and check counts them
    assert "not poll" not in out


def test_once_takes_config_after_the_verb(
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "w.yaml"
    config.write_text(WATCHLIST.replace("{feeds}", world.feeds.url), encoding="utf-8")
    for name, value in world.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("WATCHPOST_CONFIG", str(tmp_path / "missing.yaml"))
    world.publish("/am.rss", entry(1, "Karabakh", "Primed, not alerted."))
    assert main(["once", "--json", "--config", str(config)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["matches"][0]["topic"] == "karabakh"


# --- issue 7: watchpost match ----------------------------------------------------------------

MATCH_WATCHLIST = """
speakers: []
topics:
  - id: cities
    name: Cities
    terms:
      uk: [Київ*]
      en: [Kiev]
    exclude:
      en: [Kyivstar]
    require:
      - {en: [attack*], uk: [обстріл*]}
    transliterate: true
  - id: talks
    name: Talks
    terms: [talks]
    require:
      - [Kyiv, Kiev]
      - [Moscow]
  - id: nuclear
    name: Nuclear plants
    terms:
      ru: [АЭС, атомн* станци*]
    transliterate: true
channels: []
"""


@pytest.fixture
def match_config(tmp_path: Path) -> Path:
    config = tmp_path / "m.yaml"
    config.write_text(MATCH_WATCHLIST, encoding="utf-8")
    return config


def test_match_explains_a_hit_and_exits_0(
    match_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["match", "Attack on Kyiv", "--config", str(match_config)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "cities (Cities): match" in out
    assert '  require  attack* [en] group 1: "Attack" folded "attack"' in out
    assert '  term     Київ* [uk]: "Kyiv" folded "kyiv", transliteration "kyiv"' in out
    assert "  transliterate  Київ* [uk] -> kyiv" in out
    assert "nuclear (Nuclear plants): no match" in out
    assert "  transliterate  АЭС [ru] -> (none)" in out
    assert out[-1] == "1 of 3 topics match"


def test_match_shows_vetoes_and_unmet_groups_and_exits_1(
    match_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--config", str(match_config), "match", "Kiev: Kyivstar is down", "--topic", "cities"]
    assert main(argv) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "cities (Cities): no match"
    assert '  exclude  Kyivstar [en]: "Kyivstar" folded "kyivstar" (vetoes the topic)' in out
    assert "  require group 1 unmet: attack*, обстріл*" in out
    assert not any(line.startswith("nuclear") for line in out)
    assert out[-1] == "0 of 1 topics match"


def test_match_marks_terms_of_another_language(
    match_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["match", "атомной станции", "--language", "en", "--config", str(match_config)]
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert (
        '  term     атомн* станци* [ru]: "атомной станции" folded "атомной станции"'
        " (a ru term; the text is en)"
    ) in out


def test_match_names_an_unknown_topic(
    match_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["match", "Kiev", "--topic", "nope", "--config", str(match_config)]) == 2
    assert "unknown topic 'nope' (topics: cities, talks, nuclear)" in capsys.readouterr().err


def test_match_numbers_an_unmet_group_as_the_watchlist_does(
    match_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["match", "talks in Kyiv", "--topic", "talks", "--config", str(match_config)]
    assert main(argv) == 1
    out = capsys.readouterr().out.splitlines()
    assert '  require  Kyiv group 1: "Kyiv" folded "kyiv"' in out
    assert "  require group 2 unmet: Moscow" in out


def test_once_json_marks_an_undated_statement(
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from dataclasses import replace

    config = _world_config(world, tmp_path, monkeypatch)
    world.publish("/am.rss", entry(1, "Karabakh", "Dated."))
    world.publish("/az.rss", replace(entry(2, "Karabakh", "No date in the feed."), published=None))
    assert main(["--config", str(config), "once", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_text = {r["text"]: r["published_estimated"] for r in rows}
    assert by_text == {"Dated.": False, "No date in the feed.": True}
