"""Counters of what the worker did, exposed to Prometheus; also read by the logs and tests.

Each `Metrics` keeps its own counts (not prometheus-client's global registry), so several apps in
one process (tests, the demo) never share or clash. prometheus-client is imported by the first
scrape, not at start: it costs 30 ms, and `once`, `check` and a worker without a metrics port
never expose anything (issue 9). Counters keep the `inc(name, **labels)`
interface the use cases call; gauges read from the database are taken at scrape time through a
reader the composition root gives (`read_gauges`), so they are never stale and no tick writes them.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client.core import Metric
    from prometheus_client.registry import Collector

__all__ = ["PREFIX", "Gauge", "Metrics"]

log = logging.getLogger("watchpost.metrics")

#: every exposed metric's name starts with this
PREFIX = "watchpost_"

_Key = tuple[str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True, slots=True)
class Gauge:
    """One gauge sample read at scrape time, e.g. alerts pending for one channel."""

    name: str
    help: str
    value: float
    labels: tuple[tuple[str, str], ...] = ()


@dataclass
class _Histogram:
    """Observations counted into cumulative buckets, exposed as a Prometheus histogram."""

    name: str
    help: str
    bounds: tuple[float, ...]
    counts: list[int] = field(init=False)
    total: float = 0.0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)  # the last one: above every bound (+Inf)

    def observe(self, value: float) -> None:
        # Prometheus buckets are "less than or equal": a value on a bound counts in it.
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def copy(self) -> _Histogram:
        other = _Histogram(self.name, self.help, self.bounds)
        other.counts, other.total = list(self.counts), self.total
        return other

    def family(self) -> Metric:
        from prometheus_client.core import HistogramMetricFamily
        from prometheus_client.utils import floatToGoString

        cumulative, buckets = 0, []
        bounds = (*map(floatToGoString, self.bounds), "+Inf")
        for bound, n in zip(bounds, self.counts, strict=True):
            cumulative += n
            buckets.append((bound, float(cumulative)))
        return HistogramMetricFamily(self.name, self.help, buckets=buckets, sum_value=self.total)


class Metrics:
    """Named counters with optional labels, e.g. ``inc("poll_errors", error="timeout")``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[_Key] = Counter()
        self._gauges: Callable[[], Iterable[Gauge]] | None = None
        # Buckets from one second to a day: alerts wait on Telegram's rate limits, retries and
        # paused channels, so the tail matters as much as the usual few seconds.
        self._latency = _Histogram(
            PREFIX + "delivery_latency_seconds",
            "Seconds from an alert stored to Telegram accepting it",
            (1, 2, 5, 10, 30, 60, 120, 300, 900, 3600, 4 * 3600, 86400),
        )
        # The event loop's lateness (bot.looplag): a poll parsed or a query run on the loop
        # holds every timer, timeout and send behind it (issue 9: never more than 100 ms).
        self._loop_lag = _Histogram(
            PREFIX + "event_loop_lag_seconds",
            "How late the event loop ran a timer: how long something held the loop",
            (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.loop_lag_max = 0.0

    def inc(self, name: str, n: int = 1, **labels: str) -> None:
        """Add `n` to the counter `name` with these labels."""
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._counts[key] += n

    def get(self, name: str, **labels: str) -> int:
        """The sum of the counter `name` over every label set that has these labels (0 if none).

        ``get("polls", status="ok")`` counts ok polls of every source kind: a label added to a
        counter later does not change what earlier readers see.
        """
        want = set(labels.items())
        with self._lock:
            return sum(
                n for (key, have), n in self._counts.items() if key == name and want <= set(have)
            )

    def snapshot(self) -> dict[str, int]:
        """Every counter, sorted by name, as ``name,label=value``."""
        with self._lock:
            items = list(self._counts.items())
        return dict(
            sorted(
                (name + "".join(f",{k}={v}" for k, v in labels), n) for (name, labels), n in items
            )
        )

    def observe_delivery(self, seconds: float) -> None:
        """An alert was sent `seconds` after it was stored (queued with its statement, or when
        the edit or deletion it reports was found)."""
        with self._lock:
            self._latency.observe(max(0.0, seconds))

    def observe_loop_lag(self, seconds: float) -> None:
        """The event loop ran a timer `seconds` late."""
        seconds = max(0.0, seconds)
        with self._lock:
            self._loop_lag.observe(seconds)
            self.loop_lag_max = max(self.loop_lag_max, seconds)

    def read_gauges(self, reader: Callable[[], Iterable[Gauge]]) -> None:
        """Take gauges from `reader` at each scrape (it may do I/O; scrape off the event loop)."""
        self._gauges = reader

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric (calls the gauge reader)."""
        from prometheus_client import CollectorRegistry, generate_latest

        registry = CollectorRegistry(auto_describe=False)
        registry.register(_collector(self))
        return generate_latest(registry)

    def _histograms(self) -> list[Metric]:
        # Copied under the lock, made into families outside it: the first scrape imports
        # prometheus-client (30 ms), and the event loop's lag timer takes this lock.
        with self._lock:
            copies = [h.copy() for h in (self._latency, self._loop_lag)]
        return [h.family() for h in copies]

    def _counter_items(self) -> list[tuple[_Key, int]]:
        with self._lock:
            return sorted(self._counts.items())


def _collector(metrics: Metrics) -> Collector:
    """The collector of `metrics` (defined here: its base class is prometheus-client's)."""
    from prometheus_client.registry import Collector

    class _Collector(Collector):
        """Turns the counters, and the gauges read now, into Prometheus metric families."""

        def collect(self) -> Iterator[Metric]:
            return _families(metrics)

    return _Collector()


def _families(metrics: Metrics) -> Iterator[Metric]:
    """The counters, the histograms, and the gauges read now, as Prometheus metric families."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    by_name: dict[str, list[tuple[dict[str, str], int]]] = {}
    for (name, labels), n in metrics._counter_items():
        by_name.setdefault(name, []).append((dict(labels), n))
    for name, counted in by_name.items():
        # A family needs one label set: a label missing from a sample is exposed empty.
        label_names = sorted({k for have, _ in counted for k in have})
        family = CounterMetricFamily(PREFIX + name, f"Watchpost counter {name}", labels=label_names)
        for have, n in counted:
            family.add_metric([have.get(k, "") for k in label_names], n)
        yield family
    yield from metrics._histograms()
    worst = GaugeMetricFamily(
        PREFIX + "event_loop_lag_max_seconds",
        "The longest the event loop was held since the worker started",
    )
    worst.add_metric([], metrics.loop_lag_max)
    yield worst
    reader = metrics._gauges
    if reader is None:
        return
    gauges: dict[str, list[Gauge]] = {}
    try:
        read = list(reader())
    except Exception as exc:  # the database is down: the counters are wanted all the more
        log.error("metrics: gauges not read: %s", type(exc).__name__)
        read = []
    for g in read:
        gauges.setdefault(g.name, []).append(g)
    for name, samples in gauges.items():
        first = samples[0]
        gauge = GaugeMetricFamily(PREFIX + name, first.help, labels=[k for k, _ in first.labels])
        for g in samples:
            gauge.add_metric([v for _, v in g.labels], g.value)
        yield gauge
