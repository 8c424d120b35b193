"""Issue 11: workers started together on a fresh PostgreSQL take turns to migrate and to sync
the watchlist (an advisory lock), instead of one dying on a duplicate type or source key."""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

import storage
from bot.model import Channel, SourceKind, SourceSpec
from storage.schema import ChannelRow, SourceRow
from tests.conftest import PostgresServer

WORKERS = 4
ROUNDS = 3
NOW = datetime(2026, 11, 29, tzinfo=UTC)


def _together(n: int, work: Callable[[], None]) -> list[BaseException]:
    """Run `work` in `n` threads released at the same moment; the errors they raised."""
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            work()
        except BaseException as exc:  # every failure is the test's result
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def _migrate_in_a_process(url: str, barrier: Any, errors: Any) -> None:
    """One worker process: import, wait for the others, migrate (as `watchpost run` does)."""
    engine = storage.make_engine(url)
    barrier.wait()
    try:
        storage.migrate(engine)
    except BaseException as exc:  # reported to the test
        errors.put(repr(exc)[:300])
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("round_", range(ROUNDS))
def test_concurrent_first_migrations_on_postgresql(
    postgres_server: PostgresServer, round_: int
) -> None:
    """Separate processes, as separate workers are (Alembic's context is one per process)."""
    url = postgres_server.create_database(f"mig_{round_}_{os.getpid()}")
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    errors = ctx.Queue()
    procs = [
        ctx.Process(target=_migrate_in_a_process, args=(url, barrier, errors))
        for _ in range(WORKERS)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    found = [errors.get() for _ in range(errors.qsize())] if not errors.empty() else []
    assert found == [] and [p.exitcode for p in procs] == [0] * WORKERS


@pytest.mark.postgres
def test_concurrent_watchlist_sync_inserts_each_source_once(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.create_database(f"sync_{threading.get_ident()}")
    engine = storage.make_engine(url)
    storage.migrate(engine)
    sessions = storage.make_sessions(engine)
    specs = [
        SourceSpec(
            key=f"feed:https://example.org/{n}.rss",
            kind=SourceKind.FEED,
            target=f"https://example.org/{n}.rss",
            speaker_id="am-mfa",
        )
        for n in range(200)
    ]
    channels = [Channel(id="main", chat="@main")]

    def sync() -> None:
        with storage.session_scope(sessions) as s:
            storage.sync_watchlist(
                s, specs, channels, default_interval=timedelta(seconds=60), now=NOW
            )

    try:
        assert _together(WORKERS, sync) == []
        with sessions() as s:
            assert s.scalar(select(func.count()).select_from(SourceRow)) == len(specs)
            assert s.scalar(select(func.count()).select_from(ChannelRow)) == 1
    finally:
        engine.dispose()
