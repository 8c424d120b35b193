"""A command imports what it needs when it needs it (issue 9): `once` without X sources never
loads tweepy, and a dry run, which sends nothing, never loads python-telegram-bot."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.e2e.conftest import REPO, World, entry

PROBE = """
import sys
from bot.cli import main
status = main(["--config", sys.argv[1], "once", "--dry-run"])
print(status, "tweepy" in sys.modules, "telegram" in sys.modules, "httpx" in sys.modules,
      "apscheduler" in sys.modules, "ftfy" in sys.modules,
      "sqlalchemy.dialects.postgresql" in sys.modules, "prometheus_client" in sys.modules,
      "bot.x.plan" in sys.modules or "bot.x.budget" in sys.modules)
"""


def test_a_dry_run_of_feeds_loads_neither_tweepy_nor_telegram(world: World) -> None:
    """Nor httpx: only Telegram (the Bot API, channel previews) uses it, and feeds go over
    aiohttp; a watchlist of feeds does not pay its import. Nor APScheduler: only `run` ticks."""
    world.publish("/am.rss", entry(1, "Karabakh", "A statement."))
    done = world.probe(PROBE)
    flags = done.stdout.split()[-9:]
    assert flags[:5] == ["0", "False", "False", "False", "False"], done.stderr[-2000:]
    # Nor ftfy (with wcwidth, 60 ms), while no text has anything but ASCII to repair.
    assert flags[5] == "False", done.stdout
    # Nor prometheus-client (30 ms): nothing is scraped without a metrics port.
    assert flags[7] == "False", done.stdout
    # Nor the X planning modules (their budget and query rules): no X source, no X plan.
    assert flags[8] == "False", done.stdout


def test_a_worker_on_sqlite_does_not_load_the_postgresql_dialect(world: World) -> None:
    """SQLAlchemy's PostgreSQL dialect costs 45 ms to import: storage builds its upserts for
    the database in use. (Creating the schema loads it: Alembic imports every dialect; so the
    second start, on a database already migrated, is the one checked.)"""
    world.publish("/am.rss", entry(1, "Karabakh", "A statement."))
    probe = PROBE.replace('"once", "--dry-run"', '"once", "--console"')
    world.probe(probe)
    done = world.probe(probe)
    flags = done.stdout.split()[-9:]
    assert flags[0] == "0" and flags[6] == "False", done.stdout + done.stderr[-2000:]


def test_the_command_line_loads_no_feed_transport_before_a_feed_is_fetched() -> None:
    """aiohttp (about 0.15 s to import) is loaded by the first feed fetch, not by start-up:
    `check`, `sources`, `match` and a worker without feeds never pay for it (issue 9)."""
    probe = "import sys, bot.cli, bot.app; print('aiohttp' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.stdout.split() == ["False"], done.stderr[-2000:]
