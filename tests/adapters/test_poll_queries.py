"""What one poll asks the database (issue 9), on both backends: the source's known rows are
read once, and a feed with one new item among twenty costs a fixed handful of statements."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select

import storage
from bot.matching import Matcher
from bot.metrics import Metrics
from bot.model import Channel, FetchResult, SourceForPoll, SourceKind
from bot.pipeline import Poller, PollPolicy
from storage.schema import AlertRow, StatementRow
from tests.builders import T0, item, spec, watchlist

SPEC = spec()
WL = watchlist(SPEC)


class Feed:
    def __init__(self) -> None:
        self.result = FetchResult(items=())

    async def fetch(self, source: SourceForPoll) -> FetchResult:
        return self.result


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = storage.make_engine(db_url)
    storage.migrate(eng)
    with storage.session_scope(storage.make_sessions(eng)) as s:
        storage.sync_sources(s, [SPEC], default_interval=timedelta(seconds=60), now=T0)
        storage.sync_channels(s, [Channel("main", "@main")])
    yield eng
    eng.dispose()


def _statements(engine: Engine) -> list[str]:
    seen: list[str] = []

    def record(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if statement.strip() != "SELECT 1":  # the pool's liveness ping
            seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    return seen


def _poller(engine: Engine, feed: Feed, clock: Callable[[], datetime]) -> Poller:
    return Poller(
        sessions=storage.make_sessions(engine),
        fetchers={SourceKind.FEED: feed},
        watchlist=WL,
        matcher=Matcher(WL.topics),
        policy=PollPolicy(),
        clock=clock,
        metrics=Metrics(),
        owner="w1",
    )


async def test_a_poll_reads_the_known_rows_once(engine: Engine) -> None:
    now = [T0]
    feed = Feed()
    poller = _poller(engine, feed, lambda: now[0])
    feed.result = FetchResult(items=tuple(item(n) for n in range(20)))
    await poller.poll_all()  # the first poll: stored as seen
    await poller.poll_all()  # the source's row id is known from here on
    feed.result = FetchResult(items=tuple(item(n) for n in range(1, 21)))  # one new, one gone
    now[0] = T0 + timedelta(minutes=5)
    seen = _statements(engine)
    (outcome,) = await poller.poll_all()
    assert (outcome.new_statements, outcome.alerts) == (1, 1)
    by_ids = [q for q in seen if "FROM statements" in q and "statements.external_id IN" in q]
    assert len(by_ids) == 1, by_ids
    # claim (read + lease) and the next empty claim; the known rows with their versions;
    # what relates to the new item (and its live alerts, when something relates); the
    # statement, its match, its alert; the source's new state. No per-item reads.
    assert len(seen) <= 10, "\n".join(seen)
    with storage.make_sessions(engine)() as s:
        assert s.scalar(select(func.count()).select_from(StatementRow)) == 21
        assert s.scalar(select(func.count()).select_from(AlertRow)) == 1


async def test_a_new_process_learns_each_source_row_id_from_its_claim(engine: Engine) -> None:
    # `watchpost once` starts with no ids known: one query per changed source cost about 1 ms
    feed = Feed()
    feed.result = FetchResult(items=(item(1),))
    poller = _poller(engine, feed, lambda: T0)
    seen = _statements(engine)
    (outcome,) = await poller.poll_all()
    assert outcome.new_statements == 1
    by_key = [q for q in seen if q.startswith("SELECT sources.id FROM sources WHERE")]
    assert by_key == [], by_key
