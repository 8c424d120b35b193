"""The worker's clock: APScheduler 3 `AsyncIOScheduler` with a poll tick and a dispatch tick.

What is due lives in the database (`next_poll_at`, `next_attempt_at`), not in the scheduler: the
jobs only say "look now", so a restart resumes where the last run was and no job store is shared
between processes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.health import TickState

__all__ = ["Ticker"]

log = logging.getLogger("watchpost.scheduler")


class Ticker:
    """Runs named async ticks on intervals; never two of the same tick at once."""

    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._running: set[asyncio.Task[None]] = set()
        self._stopping = False
        # name → (interval, last started, running since): what /healthz judges
        self._ticks: dict[str, tuple[timedelta, datetime | None, datetime | None]] = {}
        self._started_at = datetime.now(UTC)

    def every(
        self,
        name: str,
        seconds: float,
        tick: Callable[[], Awaitable[object]],
        *,
        jitter: float | None = None,
        first_run: datetime | None = None,
    ) -> None:
        """Run `tick` every `seconds` (first at `first_run`, default now)."""

        async def job() -> None:
            if self._stopping:
                return
            task = asyncio.current_task()
            if task is not None:
                self._running.add(task)
            started = datetime.now(UTC)
            self._ticks[name] = (every, started, started)
            try:
                await tick()
            except Exception:  # a tick must never take the scheduler down
                log.critical("tick failed tick=%s", name, exc_info=True)
            finally:
                self._ticks[name] = (every, started, None)
                if task is not None:
                    self._running.discard(task)

        every = timedelta(seconds=seconds)
        self._ticks[name] = (every, None, None)
        self._scheduler.add_job(
            job,
            "interval",
            seconds=seconds,
            jitter=jitter,
            id=name,
            name=name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(seconds)),
            next_run_time=first_run or datetime.now(UTC),
        )

    def start(self) -> None:
        """Start ticking on the running event loop."""
        self._started_at = datetime.now(UTC)
        self._scheduler.start()

    def states(self, names: tuple[str, ...]) -> tuple[TickState, ...]:
        """The state of the ticks `names` (those registered), for the health check."""
        return tuple(
            TickState(name, interval, last, running, self._started_at)
            for name in names
            if name in self._ticks
            for interval, last, running in (self._ticks[name],)
        )

    async def stop(self, *, grace: float = 20.0) -> None:
        """Stop scheduling, then let ticks in flight finish (up to `grace` seconds).

        The scheduler is only paused while they run: APScheduler's `shutdown` cancels the
        asyncio tasks of running jobs (`AsyncIOExecutor.shutdown`), which left a dispatch tick's
        claimed alerts leased for minutes (issue 11). It is shut down once they are done.
        """
        self._stopping = True
        if self._scheduler.running:
            self._scheduler.pause()
        pending = [t for t in self._running if not t.done()]
        if pending:
            log.info("waiting for %d running tick(s) to finish", len(pending))
            _done, still = await asyncio.wait(pending, timeout=grace)
            for t in still:
                log.warning("tick still running after %gs: cancelled", grace)
                t.cancel()
            if still:
                await asyncio.wait(still)
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
