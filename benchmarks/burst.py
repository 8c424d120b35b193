"""A burst to one channel on a simulated clock: 500 matching statements in 60 s at 20/min.

Run from the repository root (by hand; never part of the tests)::

    python benchmarks/burst.py [--statements 500] [--seconds 60] [--interval 3] [--max-delay 60]
                               [--urgent-every 50]

Issue 11 ("Bursts"). Everything real but the clock: `bot.app.open_app` with a SQLite database in
a temporary directory, the real poller and feed parser against `FeedServer`, the real
`Dispatcher`, python-telegram-bot and `FakeTelegram` on 127.0.0.1 — the fake paces the chat like
Telegram (a post sooner than `--interval` after the previous one is answered 429 with
`retry_after`). One `SimClock` drives the app, the dispatcher (`clock=`, `monotonic=`, `sleep=`)
and the fake, so a run takes seconds and gives the same figures every time.

The loop is a small discrete-event simulation: the feed gets the statements due and is polled
every simulated second, a dispatch tick starts every 2 s (`WATCHPOST_DISPATCH_TICK_SECONDS`)
unless one is still running, and when the dispatcher sleeps for its pace the clock jumps to the
next event (a poll, or its wake-up). Polls and sends take no simulated time.

The same burst runs twice, coalescing on (`WATCHPOST_BURST_MAX_DELAY_SECONDS`, `--max-delay`)
and off (0). Every `--urgent-every`-th statement matches an urgent topic.
Printed per run: 429s provoked (goal 0), p50/p99/max latency from stored (the alert's
`created_at`) to delivered (its `sent_at`) (goal p99 ≤ 90 s), statements present in the
channel, each exactly once (goal 500/500), messages sent, and the urgent statements' worst
latency.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

import storage
from bot.app import open_app
from bot.delivery import DeliveryPolicy, Dispatcher
from bot.fakes.clock import SimClock
from bot.fakes.feed_server import FeedServer
from bot.fakes.feedgen import FeedEntry, rss
from bot.fakes.http import LocalServer
from bot.fakes.telegram_api import FakeTelegram
from bot.settings import load_settings
from bot.watchlist import parse_watchlist
from storage.schema import AlertRow

TOKEN = "111111:bench-token"
CHAT = "@burst_watch"
START = datetime(2020, 9, 27, 5, 0, tzinfo=UTC)
WATCHLIST = """
speakers:
  - id: am-mod
    name: Ministry of Defence of Armenia
    role: Defence ministry
    side: Armenia
    timezone: Asia/Yerevan
    sources:
      - feed: "{feeds}/mod.rss"
topics:
  - id: karabakh
    name: Nagorno-Karabakh
    terms:
      en: [Karabakh]
  - id: strikes
    name: Strikes
    priority: urgent
    terms:
      en: [airstrike*]
channels:
  - id: main
    chat: "@burst_watch"
"""


@dataclass(frozen=True)
class Result:
    max_delay: float
    refusals: int
    latencies: list[float]
    urgent_latencies: list[float]
    present: int
    twice: int
    messages: int
    wall: float


class _Sleeper:
    """The dispatcher's sleep: it waits until the simulation reaches its wake-up time."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.waiting: tuple[float, asyncio.Future[None]] | None = None

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting = (self.clock.monotonic() + seconds, fut)
        await fut


def _entry(k: int, at: datetime, urgent: bool) -> FeedEntry:
    what = "Airstrike reported near" if urgent else "Shelling reported near"
    return FeedEntry(
        id=f"urn:bench:{k}",
        title=f"Karabakh: {what} village {k}",
        html=f"<p>Karabakh: {what.lower()} village {k}, sector {k % 7}, at {at:%H:%M:%S}.</p>",
        link=f"https://mil.am/en/news/{k}",
        published=at,
    )


async def _run(args: argparse.Namespace, max_delay: float, tmp: Path) -> Result:
    clock = SimClock(START)
    feeds = FeedServer()
    telegram = FakeTelegram(
        tokens={TOKEN},
        chats={CHAT: -1001000000009},
        clock=clock.epoch,
        chat_interval=args.interval,
        monotonic=clock.monotonic,
    )
    entries: list[FeedEntry] = [_entry(0, START - timedelta(hours=1), False)]

    def publish() -> None:
        feeds.set_feed("/mod.rss", rss("mod", "https://mil.am/", list(reversed(entries))))

    publish()
    due = [
        (
            i * args.seconds / args.statements,
            i + 1,
            args.urgent_every and (i + 1) % args.urgent_every == 0,
        )
        for i in range(args.statements)
    ]
    with LocalServer(feeds.handle) as feed_srv, LocalServer(telegram.handle) as tg:
        settings = load_settings(
            {
                "WATCHPOST_DATABASE_URL": f"sqlite:///{tmp / f'burst-{max_delay:g}.sqlite'}",
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_API_BASE_URL": tg.url,
                "WATCHPOST_TELEGRAM_CHAT_INTERVAL_SECONDS": str(args.interval),
                "WATCHPOST_BURST_MAX_DELAY_SECONDS": str(max_delay),
            }
        )
        wl = parse_watchlist(WATCHLIST.replace("{feeds}", feed_srv.url), path="bench.yaml")
        async with open_app(settings, wl, clock=clock.now) as app:
            await app.poller.poll_all()  # the first poll stores what is there, silently
            sleeper = _Sleeper(clock)
            dispatcher = Dispatcher(
                sessions=app.sessions,
                sender=app.sender,
                watchlist=app.watchlist,
                policy=DeliveryPolicy(
                    chat_interval=settings.telegram_chat_interval_seconds,
                    global_rate=settings.telegram_global_rate_per_second,
                    burst_max_delay=settings.burst_max_delay_seconds,
                    lease=timedelta(seconds=settings.lease_seconds),
                ),
                clock=clock.now,
                metrics=app.metrics,
                sleep=sleeper.sleep,
                monotonic=clock.monotonic,
            )
            tick = settings.dispatch_tick_seconds
            next_poll, next_tick = 0.0, 0.0
            task: asyncio.Task[object] | None = None
            started = time.perf_counter()
            while True:
                if task is None and clock.monotonic() >= next_tick:
                    task = asyncio.create_task(dispatcher.dispatch())
                    next_tick = clock.monotonic() + tick
                # Let the tick run (its HTTP calls take real time, no simulated time) until it
                # ends or sleeps for its pace.
                while task is not None and not task.done() and sleeper.waiting is None:
                    await asyncio.sleep(0.0005)
                if task is not None and task.done():
                    task.result()
                    task = None
                    if next_poll > args.seconds + 1:
                        with app.sessions() as s:
                            if storage.outbox_counts(s)["pending"] == 0:
                                break
                events = [next_tick if task is None else float("inf")]
                if next_poll <= args.seconds + 1:
                    events.append(next_poll)
                if sleeper.waiting is not None:
                    events.append(sleeper.waiting[0])
                clock.advance(min(events) - clock.monotonic())
                if next_poll <= args.seconds + 1 and clock.monotonic() >= next_poll:
                    while due and due[0][0] <= clock.monotonic():
                        _, k, urgent = due.pop(0)
                        entries.append(_entry(k, clock.now(), bool(urgent)))
                    publish()
                    await app.poller.poll_all()
                    next_poll += 1.0
                if sleeper.waiting is not None and sleeper.waiting[0] <= clock.monotonic():
                    sleeper.waiting[1].set_result(None)
                    sleeper.waiting = None
            wall = time.perf_counter() - started
            with app.sessions() as s:
                rows = s.execute(
                    select(AlertRow.created_at, AlertRow.sent_at, AlertRow.statement_id)
                ).all()
                urgent_ids = {
                    r.statement_id
                    for r in s.execute(select(AlertRow.statement_id))
                    if "Airstrike" in storage.load_statement(s, r.statement_id).title
                }
    lat = [(sent - created).total_seconds() for created, sent, _ in rows if sent is not None]
    urgent_lat = [
        (sent - created).total_seconds()
        for created, sent, sid in rows
        if sent is not None and sid in urgent_ids
    ]
    html = "\n".join(m.html for m in telegram.messages(CHAT))
    counts = [len(re.findall(rf'/news/{k}"', html)) for k in range(1, args.statements + 1)]
    return Result(
        max_delay=max_delay,
        refusals=sum(1 for c in telegram.calls() if c.status == 429),
        latencies=lat,
        urgent_latencies=urgent_lat,
        present=sum(1 for c in counts if c == 1),
        twice=sum(1 for c in counts if c > 1),
        messages=len(telegram.messages(CHAT)),
        wall=wall,
    )


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--statements", type=int, default=500)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--interval", type=float, default=3.0, help="the chat's pace, seconds")
    p.add_argument("--max-delay", type=float, default=60.0, help="the burst budget, seconds")
    p.add_argument("--urgent-every", type=int, default=50, help="every n-th is urgent (0: none)")
    args = p.parse_args(argv)
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    print(
        f"{args.statements} statements in {args.seconds:g} s to one channel at "
        f"{60 / args.interval:g} messages/min (simulated clock)"
    )
    print(
        f"{'coalescing':<16}{'429s':>6}{'p50 s':>9}{'p99 s':>9}{'max s':>9}"
        f"{'urgent max':>12}{'present':>10}{'twice':>7}{'messages':>10}{'wall s':>8}"
    )
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for max_delay in (args.max_delay, 0.0):
            r = await _run(args, max_delay, Path(tmp))
            label = f"on ({max_delay:g} s)" if max_delay else "off"
            print(
                f"{label:<16}{r.refusals:>6}{_pct(r.latencies, 0.5):>9.1f}"
                f"{_pct(r.latencies, 0.99):>9.1f}{max(r.latencies, default=0):>9.1f}"
                f"{max(r.urgent_latencies, default=0):>12.1f}"
                f"{f'{r.present}/{args.statements}':>10}{r.twice:>7}{r.messages:>10}{r.wall:>8.1f}"
            )
            if max_delay:
                ok = (
                    r.refusals == 0
                    and _pct(r.latencies, 0.99) <= 90
                    and r.present == args.statements
                    and r.twice == 0
                )
    print(
        "goals (coalescing on): 0 429s, p99 <= 90 s, every statement once:",
        "met" if ok else "NOT MET",
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
