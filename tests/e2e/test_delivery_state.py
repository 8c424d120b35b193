"""Issue 7: delivery state is honest. A worker without a token refuses to start unless console
mode is asked for; console alerts are *shown*, never *sent*, and are sent only when the operator
asks; a dry run leaves the database as it found it; `once` polls each source exactly once and
its exit status says what happened."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from bot.cli import main
from bot.exitcodes import ExitStatus
from tests.e2e.conftest import WATCHLIST, World, entry


def _config(world: World, tmp_path: Path, body: str = WATCHLIST) -> str:
    config = tmp_path / "w.yaml"
    config.write_text(body.replace("{feeds}", world.feeds.url), encoding="utf-8")
    return str(config)


def _env(
    world: World, monkeypatch: pytest.MonkeyPatch, *, token: bool = True, **extra: str
) -> None:
    for name, value in world.env(**extra).items():
        monkeypatch.setenv(name, value)
    if not token:
        monkeypatch.delenv("TELEGRAM_BOT_TOKEN")


def _prime(world: World, config: str) -> None:
    world.publish("/am.rss", entry(1, "Old news on Karabakh", "Stored as seen, never alerted."))
    assert main(["--config", config, "once"]) == ExitStatus.OK


def _dump(world: World) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, in a stable order."""
    engine = create_engine(world.env()["WATCHPOST_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return {
                table: sorted(
                    (tuple(r) for r in conn.execute(text(f'SELECT * FROM "{table}"'))), key=repr
                )
                for table in inspect(conn).get_table_names()
            }
    finally:
        engine.dispose()


def test_run_without_a_token_refuses_to_start_in_one_line(
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = _config(world, tmp_path)
    _env(world, monkeypatch, token=False)
    assert main(["--config", config, "run"]) == ExitStatus.USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "TELEGRAM_BOT_TOKEN" in err[0] and "--console" in err[0]
    assert world.feed_state.requests() == []  # it did not start polling either


def test_console_alerts_are_shown_not_sent_and_sent_only_when_the_operator_asks(
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = _config(world, tmp_path)
    _env(world, monkeypatch, token=False)
    _ = capsys.readouterr()
    assert main(["--config", config, "once", "--console"]) == ExitStatus.OK  # primes
    world.publish("/am.rss", entry(2, "Karabakh", "Shown on the console."))
    assert main(["--config", config, "once", "--console"]) == ExitStatus.OK
    assert "Shown on the console." in capsys.readouterr().out

    assert main(["--config", config, "sources"]) == ExitStatus.OK
    assert "outbox: 0 pending, 0 sent, 0 failed, 1 shown on the console" in capsys.readouterr().out

    # The token arrives: the worker does not send what the console showed...
    _env(world, monkeypatch)
    assert main(["--config", config, "once"]) == ExitStatus.OK
    assert world.telegram.messages() == []
    # ...until the operator asks.
    assert main(["--config", config, "alerts", "resend", "--shown", "--channel", "main"]) == 0
    assert "1 alert(s) of channel main" in capsys.readouterr().out
    assert main(["--config", config, "once"]) == ExitStatus.OK
    (sent,) = world.telegram.messages("@main_watch")
    assert "Shown on the console." in sent.text
    assert main(["--config", config, "sources"]) == ExitStatus.OK
    assert "outbox: 0 pending, 1 sent, 0 failed\n" in capsys.readouterr().out


def test_console_setting_is_console_mode_too(
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = _config(world, tmp_path)
    _env(world, monkeypatch, token=False, WATCHPOST_CONSOLE="true")
    _prime(world, config)
    world.publish("/am.rss", entry(3, "Karabakh", "Printed because the operator said so."))
    assert main(["--config", config, "once"]) == ExitStatus.OK
    assert "Printed because the operator said so." in capsys.readouterr().out
    assert world.telegram.calls() == []


def test_dry_run_leaves_the_database_as_it_found_it(
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = _config(world, tmp_path)
    _env(world, monkeypatch)
    _prime(world, config)
    world.publish("/am.rss", entry(4, "Karabakh", "Seen by the dry run only."))
    world.publish("/ru.rss", entry(5, "Карабах", "Тоже."))
    world.feed_state.fail("/az.rss", 503)
    _ = capsys.readouterr()
    before = _dump(world)
    calls = len(world.telegram.calls())
    # the dry run needs no token: it sends nothing
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN")
    status = main(["--config", config, "once", "--dry-run", "--json"])
    assert status == ExitStatus.PARTIAL  # az failed
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(p["text"] for p in printed) == ["Seen by the dry run only.", "Тоже."]
    assert _dump(world) == before  # no statement, outbox row, cursor, ETag, lease or failure
    assert len(world.telegram.calls()) == calls
    # What the dry run saw is still new to the real run, and alerted once.
    world.feed_state.heal("/az.rss")
    _env(world, monkeypatch)
    assert main(["--config", config, "once"]) == ExitStatus.OK
    assert len(world.telegram.messages("@main_watch")) == 2


def test_exit_status_tells_failures_apart(
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = _config(world, tmp_path)
    _env(world, monkeypatch)
    _prime(world, config)
    world.feed_state.fail("/az.rss", 503)
    assert main(["--config", config, "once"]) == ExitStatus.PARTIAL
    for path in ("/am.rss", "/ru.rss"):
        world.feed_state.fail(path, 500)
    assert main(["--config", config, "once"]) == ExitStatus.FAILED
    world.feed_state.heal()
    # Every alert refused: nothing could be delivered.
    world.telegram.forbid("@main_watch")
    world.publish("/am.rss", entry(6, "Karabakh", "Refused."))
    assert main(["--config", config, "once"]) == ExitStatus.FAILED
    # One of two channels refused: partial.
    world.telegram.forbid("@main_watch", False)
    assert main(["--config", config, "channels", "resume", "main"]) == ExitStatus.OK
    world.telegram.forbid("@cf_watch")
    world.publish("/am.rss", entry(7, "Karabakh ceasefire", "Half of it."))
    assert main(["--config", config, "once"]) == ExitStatus.PARTIAL
    world.telegram.forbid("@cf_watch", False)
    assert main(["--config", config, "channels", "resume", "cf"]) == ExitStatus.OK
    world.publish("/am.rss", entry(8, "Karabakh", "All well."))
    assert main(["--config", config, "once"]) == ExitStatus.OK


def test_paused_channel_is_shown_and_resumed_from_the_command_line(
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = _config(world, tmp_path)
    _env(world, monkeypatch)
    _prime(world, config)
    world.telegram.forbid("@cf_watch")
    world.publish("/am.rss", entry(9, "Karabakh ceasefire", "For both."))
    assert main(["--config", config, "once"]) == ExitStatus.PARTIAL  # cf's alert waits
    _ = capsys.readouterr()
    assert main(["--config", config, "sources"]) == ExitStatus.OK
    out = capsys.readouterr().out
    assert "channel cf PAUSED" in out and "watchpost channels resume cf" in out
    assert main(["--config", config, "channels", "resume", "nope"]) == ExitStatus.USAGE
    world.telegram.forbid("@cf_watch", False)
    assert main(["--config", config, "channels", "resume", "cf"]) == ExitStatus.OK
    assert "channel cf resumed: 1 alert(s) queued" in capsys.readouterr().out
    assert main(["--config", config, "once"]) == ExitStatus.OK
    assert len(world.telegram.messages("@cf_watch")) == 1
