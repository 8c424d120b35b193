"""The process entry point (`bot.launch`): the command's result is the command line's, and what
lives as long as the process is kept out of the collector's walks (issue 9)."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

from tests.e2e.conftest import WATCHLIST, World, entry

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import gc, sys
sys.argv = ["watchpost", "--config", sys.argv[1], "once", "--dry-run", "--json"]
from bot.launch import main
status = main()
print("STATUS", status, gc.isenabled(), gc.get_freeze_count(), "sqlalchemy" in sys.modules)
"""


def test_the_watchpost_script_and_python_m_bot_start_through_the_launcher() -> None:
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "watchpost"]
    assert script.value == "bot.launch:main"
    main_py = (REPO / "bot" / "__main__.py").read_text(encoding="utf-8")
    assert "from bot.launch import main" in main_py


def test_a_launched_command_keeps_its_result_and_freezes_what_it_imported(
    world: World, tmp_path: Path
) -> None:
    config = tmp_path / "w.yaml"
    config.write_text(WATCHLIST.replace("{feeds}", world.feeds.url), encoding="utf-8")
    world.publish("/am.rss", entry(1, "Karabakh", "A statement on Karabakh."))
    env = {**os.environ, **world.env(), "PYTHONPATH": str(REPO)}
    env.pop("TELEGRAM_BOT_TOKEN")
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(config)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = done.stdout.splitlines()
    assert lines and lines[-1].startswith("STATUS"), done.stderr[-2000:]
    _, status, enabled, frozen, loaded = lines[-1].split()
    # the dry run printed the statement it found, and did its whole work
    assert status == "0" and any('"external_id"' in line for line in lines[:-1]), done.stdout
    # the collector runs for what the command allocates ...
    assert enabled == "True"
    # ... and not over the modules imported before it (SQLAlchemy's alone are ~100,000 objects)
    assert loaded == "True" and int(frozen) > 50_000, frozen
