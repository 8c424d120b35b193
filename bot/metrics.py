"""Counters of what the worker did, for the logs and `watchpost sources`. In memory, per process."""

from __future__ import annotations

import threading
from collections import Counter

__all__ = ["Metrics"]


class Metrics:
    """Named counters with optional labels, e.g. ``inc("poll_errors", kind="timeout")``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def inc(self, name: str, n: int = 1, **labels: str) -> None:
        """Add `n` to the counter `name` with these labels."""
        key = name + "".join(f",{k}={v}" for k, v in sorted(labels.items()))
        with self._lock:
            self._counts[key] += n

    def get(self, name: str, **labels: str) -> int:
        """The counter's value (0 if never incremented)."""
        key = name + "".join(f",{k}={v}" for k, v in sorted(labels.items()))
        with self._lock:
            return self._counts[key]

    def snapshot(self) -> dict[str, int]:
        """Every counter, sorted by name."""
        with self._lock:
            return dict(sorted(self._counts.items()))
