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


REPORT = (
    "Daily report on Karabakh from the press service of the ministry: as of {day} September the "
    "enemy continued to shell the Tartar and Terter districts and the villages along the line of "
    "contact with artillery and rocket launchers; {n} civilians were wounded, houses and schools "
    "were damaged, and the humanitarian ceasefire agreed in Moscow was violated again by the "
    "other side despite the calls of the co-chairs of the Minsk group."
)


# the same report with a hashtag added (fingerprints 0 bits apart), or another day's count (5)
@pytest.mark.parametrize(("text", "repeat"), [(("3", " #Artsakh"), True), (("4", ""), False)])
async def test_near_candidates_with_other_numbers_are_not_read(
    db_url: str, text: tuple[str, str], repeat: bool
) -> None:
    # issue 9: templated daily reports are each near the others; the decider refuses a
    # candidate that says other numbers, so it is not asked of storage at all
    other = spec("feed:https://other.org/rss", speaker="sp2")
    wl = watchlist(SPEC, other)
    eng = storage.make_engine(db_url)
    storage.migrate(eng)
    with storage.session_scope(storage.make_sessions(eng)) as s:
        storage.sync_sources(s, [SPEC, other], default_interval=timedelta(seconds=60), now=T0)
    feeds = {SPEC.key: Feed(), other.key: Feed()}

    class ByKey:
        async def fetch(self, source: SourceForPoll) -> FetchResult:
            return feeds[source.key].result

    poller = Poller(
        sessions=storage.make_sessions(eng),
        fetchers={SourceKind.FEED: ByKey()},
        watchlist=wl,
        matcher=Matcher(wl.topics),
        policy=PollPolicy(),
        clock=lambda: T0,
        metrics=Metrics(),
        owner="w1",
    )
    feeds[SPEC.key].result = FetchResult(items=(item(1, text=REPORT.format(day=28, n=3)),))
    await poller.poll_all()
    said = REPORT.format(day=28, n=text[0]) + text[1]
    feeds[other.key].result = FetchResult(items=(item(2, text=said),))
    seen = _statements(eng)
    outcomes = await poller.poll_all()
    eng.dispose()
    assert sum(o.duplicates for o in outcomes) == (1 if repeat else 0)
    by_id = [q for q in seen if "statements.id IN" in q and "content_hash IN" in q]
    assert bool(by_id) == repeat, seen
