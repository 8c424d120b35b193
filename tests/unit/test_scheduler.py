"""The worker's ticker on the real APScheduler: a graceful stop lets a running tick finish."""

from __future__ import annotations

import asyncio

from bot.scheduler import Ticker


async def test_stop_lets_the_running_tick_finish() -> None:
    """APScheduler's shutdown cancels running asyncio jobs (`AsyncIOExecutor.shutdown`): the
    dispatch tick used to be cancelled mid-send although the log said it was let finish."""
    started = asyncio.Event()
    release = asyncio.Event()
    finished: list[str] = []

    async def tick() -> None:
        started.set()
        await release.wait()
        await asyncio.sleep(0)  # more work after the wait: a cancellation would land here
        finished.append("done")

    ticker = Ticker()
    ticker.every("dispatch", 3600, tick)
    ticker.start()
    await started.wait()
    stopping = asyncio.create_task(ticker.stop(grace=3600))
    await asyncio.sleep(0)  # one loop turn: `stop` runs up to its first wait
    release.set()
    await stopping
    assert finished == ["done"]
