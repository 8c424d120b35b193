"""Whether a feed body is parsed on the event loop or in a worker thread. No I/O.

Measured (issue 9, `benchmarks/warm_cycle.py`): a 28 KB feed whose settled items are skipped
parses in 0.6 ms in one thread, but cost 1.8 ms of CPU when handed to `asyncio.to_thread` while
the loop was busy with other polls: the hand-over, and the two threads taking the GIL from each
other (the loop's every socket call releases it, and gets it back only after the parser's
switch interval). The first cycle of 1,000 feeds spent 1.5 s more CPU with every parse in a
thread. A thread is still what keeps the loop free for a large body, or for many parses at once.

So a body is parsed inline when it is small and the loop has not spent its inline budget in the
current window; otherwise in a thread. The most the loop is held by inline parsing in a window
is the budget plus one parse of the largest inline body: feedparser (the slow path) reads about
3 KB a millisecond, so 32 KiB is at most about 12 ms, and the window's total stays far below
the 100 ms the loop may be held (issue 9).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["INLINE_MAX_BYTES", "InlineBudget"]

#: bodies up to this size may be parsed on the loop
INLINE_MAX_BYTES = 32 * 1024


@dataclass(slots=True)
class InlineBudget:
    """How much parsing the loop may do itself: `limit` seconds in each `window` seconds.

    Times are plain seconds on a monotonic clock, given by the caller.
    """

    limit: float = 0.010
    window: float = 0.100
    _start: float = float("-inf")
    _used: float = 0.0

    def allows(self, size: int, now: float) -> bool:
        """Whether a body of `size` bytes may be parsed inline at `now`."""
        if size > INLINE_MAX_BYTES:
            return False
        if now - self._start >= self.window:
            self._start, self._used = now, 0.0
        return self._used < self.limit

    def spent(self, seconds: float) -> None:
        """An inline parse took `seconds`."""
        self._used += seconds
