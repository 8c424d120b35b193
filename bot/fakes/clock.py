"""A simulated clock for the worker: wall time, monotonic time and sleep that only advance
when told (or slept on), so pacing and waits run instantly and the same at every run."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

__all__ = ["SimClock"]


class SimClock:
    """Time that passes only through :meth:`advance` and :meth:`sleep`.

    Args:
        start: the wall time (UTC) at monotonic 0.
    """

    def __init__(self, start: datetime) -> None:
        self._start = start
        self._elapsed = 0.0

    def now(self) -> datetime:
        """The simulated wall time (UTC), for `clock=` parameters."""
        return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        """Seconds since the start, for `monotonic=` parameters."""
        return self._elapsed

    def epoch(self) -> float:
        """The simulated wall time as seconds since the epoch (the fake Bot API's dates)."""
        return self.now().timestamp()

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass."""
        self._elapsed += max(0.0, seconds)

    async def sleep(self, seconds: float) -> None:
        """Let `seconds` pass at once (and let other tasks run, as a real sleep would)."""
        self.advance(seconds)
        await asyncio.sleep(0)
