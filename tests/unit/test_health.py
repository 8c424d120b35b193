"""The health verdict from plain values, and the ticker state it is fed from."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.health import Health, TickState, judge
from bot.scheduler import Ticker

NOW = datetime(2026, 11, 29, 5, 0, tzinfo=UTC)
START = NOW - timedelta(hours=1)
S = timedelta(seconds=1)


def tick(
    name: str = "poll",
    interval: float = 5,
    last: timedelta | None = 1 * S,
    running: timedelta | None = None,
    progressed: timedelta | None = None,
) -> TickState:
    """A tick last started `last` ago (None: never), running for `running` (None: idle), that
    last got something done `progressed` ago (None: it does not say)."""
    return TickState(
        name,
        timedelta(seconds=interval),
        None if last is None else NOW - last,
        None if running is None else NOW - running,
        START,
        None if progressed is None else NOW - progressed,
    )


@pytest.mark.parametrize(
    ("database_ok", "ticks", "failing"),
    [
        # all well
        (True, (tick("poll"), tick("dispatch", 2)), ()),
        # the database does not answer
        (False, (tick(),), ("database not answering",)),
        # a 5 s tick last started 29 s ago: within the 30 s floor
        (True, (tick(last=29 * S),), ()),
        # ... 31 s ago: late
        (True, (tick(last=31 * S),), ("tick poll late",)),
        # a 60 s tick is late only after 3 intervals
        (True, (tick(interval=60, last=179 * S),), ()),
        (True, (tick(interval=60, last=181 * S),), ("tick poll late",)),
        # never started: counted from the scheduler's start (an hour ago)
        (True, (tick(last=None),), ("tick poll late",)),
        # running for 9 minutes: long, but not stalled, and not late either
        (True, (tick(last=540 * S, running=540 * S),), ()),
        # running for 11 minutes: stalled
        (True, (tick(last=660 * S, running=660 * S),), ("tick poll stalled",)),
        # running for an hour, a poll done a second ago: behind, busy, not stalled (issue 9)
        (True, (tick(last=3600 * S, running=3600 * S, progressed=1 * S),), ()),
        # ... nothing done for 11 minutes: stalled
        (
            True,
            (tick(last=3600 * S, running=3600 * S, progressed=660 * S),),
            ("tick poll stalled",),
        ),
        # progress from before this run began does not count
        (True, (tick(last=660 * S, running=660 * S, progressed=700 * S),), ("tick poll stalled",)),
        # every failing check is named
        (
            False,
            (tick("poll", running=700 * S), tick("dispatch", 2, last=40 * S)),
            ("database not answering", "tick poll stalled", "tick dispatch late"),
        ),
    ],
)
def test_judge(database_ok: bool, ticks: tuple[TickState, ...], failing: tuple[str, ...]) -> None:
    health = judge(database_ok=database_ok, ticks=ticks, now=NOW)
    assert health == Health(failing)
    assert health.ok is (not failing)


async def test_ticker_reports_running_then_last_started() -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def work() -> None:
        started.set()
        await release.wait()

    ticker = Ticker()
    ticker.every("poll", 3600, work)
    ticker.every("later", 3600, work, first_run=datetime.now(UTC) + timedelta(days=1))
    (before,) = ticker.states(("poll", "absent"))
    assert (before.last_started, before.running_since) == (None, None)
    ticker.start()
    await started.wait()
    (running,) = ticker.states(("poll",))
    assert running.running_since is not None and running.last_started == running.running_since
    assert running.interval == timedelta(hours=1)
    release.set()
    await ticker.stop(grace=3600)
    (done,) = ticker.states(("poll",))
    assert done.running_since is None and done.last_started == running.last_started
