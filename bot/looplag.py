"""How long the event loop is held: the lateness of a timer that should fire every `period`.

Everything the worker does shares one event loop: HTTP timeouts, Telegram's pacing, the status
endpoint. Parsing a large feed or a slow query on the loop makes all of them late, and a poll
whose timer fires late can time out without the remote side being slow. Issue 9 asks that the
loop is never held for more than 100 ms with 10,000 sources; this measures it in the running
worker, as a metric (`watchpost_event_loop_lag_seconds`, `..._max_seconds`) and a warning.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from bot.metrics import Metrics

__all__ = ["LoopLag"]

log = logging.getLogger("watchpost.loop")


class LoopLag:
    """Sleeps `period` again and again and records how much later than asked it woke up."""

    def __init__(
        self,
        metrics: Metrics,
        *,
        period: float = 0.05,
        warn_after: float = 1.0,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._metrics = metrics
        self._period = period
        self._warn_after = warn_after
        self._clock = clock
        self._last_warned = float("-inf")

    async def run(self) -> None:
        """Measure until cancelled."""
        while True:
            start = self._clock()
            await asyncio.sleep(self._period)
            late = self._clock() - start - self._period
            self._metrics.observe_loop_lag(late)
            now = self._clock()
            # One warning a minute at most: a loop held again and again is one problem.
            if late >= self._warn_after and now - self._last_warned >= 60:
                self._last_warned = now
                log.warning(
                    "event loop held for %.2fs: polls and sends waited behind it "
                    "(watchpost_event_loop_lag_seconds)",
                    late,
                )
