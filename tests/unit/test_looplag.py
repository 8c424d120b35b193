"""The event-loop lag monitor: a held loop shows in the metrics and in one warning."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from bot.looplag import LoopLag
from bot.metrics import Metrics


async def test_a_held_loop_is_measured_and_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    # another test may have set up the worker's logging at a higher level
    caplog.set_level(logging.WARNING, logger="watchpost.loop")
    metrics = Metrics()
    monitor = asyncio.create_task(LoopLag(metrics, period=0.01, warn_after=0.2).run())
    await asyncio.sleep(0)  # let the monitor take its first timer
    for _ in range(2):
        time.sleep(0.3)  # a blocking call on the loop: what the monitor exists to catch
        # until the monitor has woken and recorded it (a condition, not a fixed wait)
        before = metrics.loop_lag_max
        while metrics.loop_lag_max == before:
            await asyncio.sleep(0.01)
    monitor.cancel()
    assert metrics.loop_lag_max >= 0.25
    text = metrics.exposition().decode()
    exposed = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line.startswith("watchpost_event_loop_lag")
    }
    assert exposed["watchpost_event_loop_lag_max_seconds"] == metrics.loop_lag_max
    assert exposed["watchpost_event_loop_lag_seconds_count"] >= 2
    assert 'watchpost_event_loop_lag_seconds_bucket{le="0.25"}' in text
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and "held" in r.message]
    assert len(warned) == 1  # two holds within a minute: one warning
    # it names where the loop was held: this test's blocking call
    assert "test_a_held_loop_is_measured_and_warned_about" in warned[0].getMessage()
    assert "time.sleep(0.3)" in warned[0].getMessage()
