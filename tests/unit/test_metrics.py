"""Counters, the latency histogram and scrape-time gauges in the Prometheus text format."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import Gauge, Metrics


def _samples(m: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(m.exposition().decode())
        for s in f.samples
    }


def test_counters_are_exposed_with_their_labels() -> None:
    m = Metrics()
    m.inc("polls", status="ok", kind="feed")
    m.inc("polls", 2, status="ok", kind="x")
    m.inc("statements_new", 3)
    got = _samples(m)
    assert got[("watchpost_polls_total", (("kind", "feed"), ("status", "ok")))] == 1
    assert got[("watchpost_polls_total", (("kind", "x"), ("status", "ok")))] == 2
    assert got[("watchpost_statements_new_total", ())] == 3


def test_a_label_missing_from_one_sample_is_exposed_empty() -> None:
    """One family has one label set: a sample without a label would fail the scrape."""
    m = Metrics()
    m.inc("storage_errors", where="claim")
    m.inc("storage_errors")
    got = _samples(m)
    assert got[("watchpost_storage_errors_total", (("where", "claim"),))] == 1
    assert got[("watchpost_storage_errors_total", (("where", ""),))] == 1


def test_get_sums_the_label_sets_that_include_the_asked_labels() -> None:
    m = Metrics()
    m.inc("polls", status="ok", kind="feed")
    m.inc("polls", status="ok", kind="x")
    m.inc("polls", status="not_modified", kind="feed")
    assert m.get("polls", status="ok") == 2
    assert m.get("polls", status="ok", kind="x") == 1
    assert m.get("polls") == 3
    assert m.get("polls", status="gone") == 0
    assert m.snapshot()["polls,kind=x,status=ok"] == 1


def test_latency_and_gauges() -> None:
    m = Metrics()
    m.observe_delivery(4)
    m.observe_delivery(-1)  # a clock step back counts as 0, not as a negative latency
    reads = [0]

    def gauges() -> list[Gauge]:
        reads[0] += 1
        return [Gauge("alerts", "outbox", 7, (("channel", "main"), ("status", "pending")))]

    m.read_gauges(gauges)
    got = _samples(m)
    assert got[("watchpost_delivery_latency_seconds_count", ())] == 2
    assert got[("watchpost_delivery_latency_seconds_bucket", (("le", "1.0"),))] == 1
    assert got[("watchpost_delivery_latency_seconds_bucket", (("le", "5.0"),))] == 2
    assert got[("watchpost_alerts", (("channel", "main"), ("status", "pending")))] == 7
    _samples(m)
    assert reads == [2]  # read at each scrape, never cached


def test_histograms_count_as_prometheus_client_does() -> None:
    """The histograms are counted without prometheus-client (imported by the first scrape):
    the same observations give the same samples as its own Histogram, bounds included (a value
    on a bound counts in that bucket)."""
    from prometheus_client import CollectorRegistry, Histogram, generate_latest

    values = [0.0, 0.005, 0.0051, 0.1, 0.25, 3.0, 10.0, 11.0, 1e6]
    reference = CollectorRegistry()
    lag = Histogram(
        "event_loop_lag_seconds",
        "lag",
        namespace="watchpost",
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        registry=reference,
    )
    m = Metrics()
    for v in values:
        lag.observe(v)
        m.observe_loop_lag(v)
    ref = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(generate_latest(reference).decode())
        for s in f.samples
        if not s.name.endswith("_created")
    }
    ours = {k: v for k, v in _samples(m).items() if k[0].startswith("watchpost_event_loop_lag_s")}
    assert ours == ref


def test_two_apps_do_not_share_counters() -> None:
    a, b = Metrics(), Metrics()
    a.inc("polls", status="ok")
    assert ("watchpost_polls_total", (("status", "ok"),)) not in _samples(b)


def test_a_failing_gauge_reader_leaves_the_counters(caplog: pytest.LogCaptureFixture) -> None:
    """A scrape while the database is down still shows what the worker counted."""
    m = Metrics()
    m.inc("storage_errors", where="claim")

    def down() -> list[Gauge]:
        raise ConnectionError("database gone")

    m.read_gauges(down)
    got = _samples(m)
    assert got[("watchpost_storage_errors_total", (("where", "claim"),))] == 1
    assert not any(name == "watchpost_alerts" for name, _ in got)
    assert "gauges not read: ConnectionError" in caplog.text


def test_a_scrape_builds_the_histograms_outside_the_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first scrape imports prometheus-client (30 ms) while making the families; the event
    loop's lag timer takes the same lock at every beat, so it must not wait for that."""
    from bot import metrics as metrics_module

    m = Metrics()
    m.observe_loop_lag(0.02)
    held: list[bool] = []
    real = metrics_module._Histogram.family

    def family(self: Any) -> Any:
        held.append(m._lock.locked())
        return real(self)

    monkeypatch.setattr(metrics_module._Histogram, "family", family)
    assert _samples(m)[("watchpost_event_loop_lag_seconds_count", ())] == 1
    assert held == [False, False]
