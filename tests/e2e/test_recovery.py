"""Issue 11, recovery: after a transient database error or a stop, polling and delivery resume
within seconds instead of waiting for a 300 s lease to run out."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, update

import storage
from bot.app import App, open_app, run_once
from bot.fakes.http import LocalServer, Request, Response
from bot.watchlist import parse_watchlist
from storage.schema import AlertRow, SourceRow, StatementRow
from tests.e2e.conftest import WATCHLIST, World, entry


class DiskFull:
    """Makes the SQLite file unable to grow (SQLITE_FULL, "database or disk is full"), as a
    full disk does, until `freed`: every connection checked out gets ``max_page_count``."""

    def __init__(self, app: App) -> None:
        self.full = False
        event.listen(app.engine, "checkout", self._checkout)

    def _checkout(self, dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        cur = dbapi_conn.cursor()
        # max_page_count is never set below the current size: 1 means "no growth".
        cur.execute(f"PRAGMA max_page_count={1 if self.full else 1_073_741_823}")
        cur.close()


async def test_a_failed_database_write_does_not_leave_the_source_leased(world: World) -> None:
    world.publish("/am.rss", entry(1, "Old Karabakh news", "Seen."))
    async with world.app() as app:
        await run_once(app)
        disk = DiskFull(app)
        big = "Karabakh. " + "A long statement that needs room on the disk. " * 2000
        world.publish("/am.rss", entry(2, "Karabakh", big))
        disk.full = True
        outcomes = await app.poller.poll_due(due_only=False)
        am = next(o for o in outcomes if o.source_key.endswith("/am.rss"))
        assert am.error is not None and "full" in am.error
        disk.full = False  # the disk is freed: the next tick polls the source again
        again = await app.poller.poll_due(due_only=False)
        assert [o.new_statements for o in again if o.source_key.endswith("/am.rss")] == [1]
        with app.sessions() as s:
            assert s.scalars(select(SourceRow.lease_until)).all() == [None, None, None]
            assert s.scalar(select(StatementRow.id).where(StatementRow.external_id == "urn:test:2"))


@pytest.fixture
def stalled_telegram(
    world: World,
) -> Iterator[tuple[LocalServer, threading.Event, threading.Event]]:
    """The fake Bot API behind a gate: a request waits inside the server until the gate opens."""
    entered = threading.Event()
    gate = threading.Event()

    def handle(request: Request) -> Response:
        if request.path.endswith("/sendMessage"):
            entered.set()
            gate.wait()
        return world.telegram.handle(request)

    with LocalServer(handle) as server:
        yield server, entered, gate
        gate.set()


async def test_alerts_of_a_cancelled_tick_are_given_back_on_stop(
    world: World, stalled_telegram: tuple[LocalServer, threading.Event, threading.Event]
) -> None:
    server, entered, gate = stalled_telegram
    world.publish("/am.rss", entry(1, "Old Karabakh news", "Seen."))
    wl = parse_watchlist(WATCHLIST.replace("{feeds}", world.feeds.url), path="t.yaml")
    settings = world.settings(TELEGRAM_API_BASE_URL=server.url)
    async with open_app(settings, wl) as app:
        await run_once(app)
        world.publish("/am.rss", entry(2, "Karabakh", "In flight when the worker stops."))
        await run_once(app, dispatch=False)
        tick = asyncio.create_task(app.dispatcher.dispatch())
        await asyncio.to_thread(entered.wait)  # the send is in flight
        tick.cancel()  # what a stop does to a tick that outlives its grace
        with pytest.raises(asyncio.CancelledError):
            await tick
        app.dispatcher.release_all()
        gate.set()
        with storage.session_scope(app.sessions) as s:
            (row,) = s.scalars(select(AlertRow)).all()
            assert row.status == "pending" and row.lease_until is None
            # another worker (or this one restarted) takes it at once, not 300 s later
            claimed = storage.claim_alerts(s, app.clock(), limit=10, lease=timedelta(seconds=60))
        assert [a.id for a in claimed] == [row.id]


@pytest.mark.parametrize(("restarted_as", "taken_back"), [("w1", True), ("w2", False)])
async def test_a_restarted_worker_takes_back_its_own_leases(
    world: World, restarted_as: str, taken_back: bool
) -> None:
    """A killed worker leaves its claims leased; restarted under its name it takes them back at
    once. Another worker's leases are left to run out (it may still be working on them)."""
    world.publish("/am.rss", entry(1, "Old Karabakh news", "Seen."))
    async with world.app(WATCHPOST_WORKER_ID="w1") as app:
        await run_once(app)
        world.publish("/am.rss", entry(2, "Karabakh", "Claimed when the worker was killed."))
        await run_once(app, dispatch=False)
        # what a kill -9 in the middle of both ticks leaves behind
        lease = timedelta(seconds=300)
        with storage.session_scope(app.sessions) as s:
            assert storage.claim_alerts(s, app.clock(), limit=10, lease=lease, owner="w1")
            assert storage.claim_sources(
                s, app.clock(), limit=10, lease=lease, owner="w1", due_only=False
            )
    async with world.app(WATCHPOST_WORKER_ID=restarted_as) as app:
        outcomes = await app.poller.poll_due(due_only=False)
        report = await app.dispatcher.dispatch()
    assert (len(outcomes), report.sent) == ((3, 1) if taken_back else (0, 0))


async def test_a_late_answer_costs_at_most_one_repeat(world: World) -> None:
    """Issue 11: Telegram posted the message but answered after our read timeout, at every
    try: 3 copies after 3 runs. After one timeout the next try waits long enough to learn the
    answer. The fake posts first, then answers late (as a slow Bot API does)."""
    delay = 1.0

    def handle(request: Request) -> Response:
        response = world.telegram.handle(request)  # accepted and posted...
        if request.path.endswith("/sendMessage"):
            time.sleep(delay)  # ...but the answer is late
        return response

    world.publish("/am.rss", entry(1, "Old Karabakh news", "Seen."))
    with LocalServer(handle) as slow:
        settings_extra = {
            "TELEGRAM_API_BASE_URL": slow.url,
            "WATCHPOST_TELEGRAM_TIMEOUT": str(delay / 4),
        }
        async with world.app(**settings_extra) as app:
            await run_once(app)
            world.publish("/am.rss", entry(2, "Karabakh", "Answered late."))
            for _ in range(3):  # three runs, as cron would
                await run_once(app)
                with app.sessions.begin() as s:  # the retry's backoff has passed
                    s.execute(
                        update(AlertRow)
                        .where(AlertRow.status == "pending")
                        .values(next_attempt_at=app.clock())
                    )
            with app.sessions() as s:
                (row,) = s.scalars(select(AlertRow)).all()
    copies = world.telegram.messages("@main_watch")
    assert len(copies) == 2  # the one that timed out, and one repeat
    assert row.status == "sent" and row.message_id == str(copies[1].message_id)
