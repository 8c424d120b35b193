"""Per-host pacing: when the next request to a host may go, so many sources stay polite. No I/O.

Each host gets at most one request per ``interval`` seconds, each gap stretched at random by up
to ``jitter`` of it, so that a few hundred channels polled every minute reach t.me as a steady
few requests a second, never a burst. A server's "wait" (429 Retry-After) holds the whole host.
Times are plain seconds on a monotonic clock, given by the caller: the decisions are values.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["HostPacer", "Pace", "next_slot"]


@dataclass(frozen=True, slots=True)
class Pace:
    """How a host is paced: from settings."""

    #: the shortest gap between two requests to one host, in seconds
    interval: float = 0.2
    #: each gap is longer by up to this fraction of `interval`, at random
    jitter: float = 0.5


def next_slot(free_at: float | None, now: float, held_until: float | None) -> float:
    """When a request asked for at `now` may go: not before the host's next free slot, nor
    before the time the server asked us to wait for."""
    start = now
    if free_at is not None:
        start = max(start, free_at)
    if held_until is not None:
        start = max(start, held_until)
    return start


class HostPacer:
    """Books request slots per host. Booking is synchronous, so on one event loop two callers
    can never take the same slot; the caller sleeps outside (the returned wait)."""

    def __init__(self, pace: Pace, rng: random.Random | None = None) -> None:
        self._pace = pace
        self._rng = rng or random.Random()
        self._free_at: dict[str, float] = {}
        self._held: dict[str, float] = {}

    def wait_for(self, host: str, now: float) -> float:
        """Seconds until the next request to `host` may go, without booking it."""
        return next_slot(self._free_at.get(host), now, self._held.get(host)) - now

    def reserve(self, host: str, now: float) -> float:
        """Book the next slot for `host`; returns how many seconds to wait for it (0: go)."""
        start = next_slot(self._free_at.get(host), now, self._held.get(host))
        gap = self._pace.interval * (1.0 + self._pace.jitter * self._rng.random())
        self._free_at[host] = start + gap
        return start - now

    def hold(self, host: str, until: float) -> None:
        """The server asked us to wait: no request to `host` before `until`."""
        self._held[host] = max(until, self._held.get(host, until))
