"""/metrics and /healthz of a running worker, scraped over HTTP like Prometheus and Docker do."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import LOOP_SWITCH_INTERVAL, run_worker
from bot.errors import StartupError
from tests.e2e.conftest import WATCHLIST, World, entry


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def _until(
    condition: Callable[[], bool],
    *,
    progress: Callable[[], int],
    what: str,
    worker: asyncio.Task[None],
) -> None:
    """Wait on `condition`, bounded by the worker's own polls (never by the wall clock)."""
    start = progress()
    while not condition():
        if worker.done():
            pytest.fail(f"the worker stopped before {what}: {worker!r}")
        if progress() - start > 40:
            pytest.fail(f"not {what} after 40 polls")
        await asyncio.sleep(0.02)  # let the worker run; the condition is checked again


async def test_metrics_move_with_polls_and_deliveries_and_health_follows_the_database(
    world: World,
) -> None:
    switch_interval = sys.getswitchinterval()
    text = WATCHLIST.replace('/am.rss"', '/am.rss"\n        interval: 1s')
    # The database in a directory of its own, so it can be taken away (see below).
    (world.tmp / "db").mkdir()
    async with world.app(
        text,
        WATCHPOST_DATABASE_URL=f"sqlite:///{world.tmp / 'db' / 'wp.sqlite'}",
        WATCHPOST_POLL_TICK_SECONDS="0.2",
        WATCHPOST_DISPATCH_TICK_SECONDS="0.2",
        WATCHPOST_METRICS_PORT="0",
    ) as app:
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(app, stop=stop))

        def am_polls() -> int:
            return world.feed_state.hits("/am.rss")

        try:
            await _until(
                lambda: app.status_port is not None and am_polls() > 0,
                progress=am_polls,
                what="listening",
                worker=worker,
            )
            # issue 9: threads give the event loop the GIL back within 1 ms while it runs
            assert sys.getswitchinterval() == pytest.approx(LOOP_SWITCH_INTERVAL)
            base = f"http://127.0.0.1:{app.status_port}"
            async with httpx.AsyncClient(base_url=base) as client:
                before = _samples((await client.get("/metrics")).text)
                world.publish("/am.rss", entry(80, "Karabakh", "Seen by the scheduled worker."))
                await _until(
                    lambda: app.metrics.get("alerts_sent") > 0,
                    progress=am_polls,
                    what="an alert sent",
                    worker=worker,
                )
                r = await client.get("/metrics")
                assert r.status_code == 200
                assert r.headers["content-type"].startswith("text/plain")
                after = _samples(r.text)

                ok_polls = ("watchpost_polls_total",)
                assert _value(after, *ok_polls, kind="feed", status="ok") > _value(
                    before, *ok_polls, kind="feed", status="ok"
                )
                assert _value(after, "watchpost_statements_new_total") > _value(
                    before, "watchpost_statements_new_total"
                )
                assert _value(after, "watchpost_alerts_sent_total", kind="new") >= 1
                assert _value(after, "watchpost_delivery_latency_seconds_count") >= 1
                # read from the database at scrape time
                assert _value(after, "watchpost_alerts", channel="main", status="sent") >= 1
                assert _value(after, "watchpost_channel_paused", channel="main") == 0
                assert ("watchpost_x_reads_month", frozenset()) in after
                # a worker that keeps up: nothing waits past its tick (issue 9)
                assert 0 <= _value(after, "watchpost_poll_overdue_seconds") < 30

                r = await client.get("/healthz")
                assert (r.status_code, r.json()) == (200, {"status": "ok", "failing": []})

                # The database goes away: the next connection cannot open it.
                app.engine.dispose()
                os.rename(world.tmp / "db", world.tmp / "db-away")
                try:
                    r = await client.get("/healthz")
                    down = await client.get("/metrics")
                finally:
                    os.rename(world.tmp / "db-away", world.tmp / "db")
                assert r.status_code == 503
                assert r.json() == {"status": "failing", "failing": ["database not answering"]}
                # ... while the counters are still served, without the database's gauges
                assert down.status_code == 200
                down_samples = _samples(down.text)
                assert _value(down_samples, "watchpost_alerts_sent_total", kind="new") >= 1
                assert ("watchpost_x_reads_month", frozenset()) not in down_samples

                r = await client.get("/nothing")
                assert r.status_code == 404
                r = await client.post("/healthz")
                assert r.status_code == 405
        finally:
            stop.set()
            await worker
    assert sys.getswitchinterval() == switch_interval  # given back as it was


async def test_no_port_no_endpoint(world: World) -> None:
    async with world.app(WATCHPOST_POLL_TICK_SECONDS="0.2") as app:
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(app, stop=stop))
        await _until(
            lambda: world.feed_state.hits("/am.rss") > 0,
            progress=lambda: 0,
            what="a poll",
            worker=worker,
        )
        stop.set()
        await worker
    assert app.status_port is None


async def test_a_port_in_use_stops_the_start_with_one_line(world: World) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        async with world.app(WATCHPOST_METRICS_PORT=str(port)) as app:
            with pytest.raises(StartupError, match=f"cannot listen on 127.0.0.1:{port} "):
                await run_worker(app, stop=asyncio.Event())
    finally:
        taken.close()
    assert world.feed_state.hits("/am.rss") == 0  # nothing was polled
