"""The process entry point (`bot.launch`): the command's result is the command line's, and what
lives as long as the process is kept out of the collector's walks (issue 9)."""

from __future__ import annotations

from importlib.metadata import entry_points

from tests.e2e.conftest import REPO, World, entry

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


def test_a_launched_command_keeps_its_result_and_freezes_what_it_imported(world: World) -> None:
    world.publish("/am.rss", entry(1, "Karabakh", "A statement on Karabakh."))
    done = world.probe(PROBE)
    lines = done.stdout.splitlines()
    assert lines and lines[-1].startswith("STATUS"), done.stderr[-2000:]
    _, status, enabled, frozen, loaded = lines[-1].split()
    # the dry run printed the statement it found, and did its whole work
    assert status == "0" and any('"external_id"' in line for line in lines[:-1]), done.stdout
    # the collector runs for what the command allocates ...
    assert enabled == "True"
    # ... and not over the modules imported before it (SQLAlchemy's alone are ~100,000 objects)
    assert loaded == "True" and int(frozen) > 50_000, frozen
