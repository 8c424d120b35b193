"""Polls fetched together are written in one transaction (issue 9), on both backends: each sees
the statements of the polls before it in the batch, and a batch that fails costs no poll its
statements."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select

import storage
from bot.errors import StorageError
from bot.matching import Matcher
from bot.metrics import Metrics
from bot.model import Channel, FetchResult, PollOutcome, SourceForPoll, SourceKind
from bot.pipeline import Poller, PollPolicy
from storage.schema import SourceRow, StatementRow
from tests.builders import T0, item, spec, watchlist

A, B, C = (
    spec("feed:https://a.example/rss", speaker="sp1"),
    spec("feed:https://b.example/rss", speaker="sp2"),
    spec("feed:https://c.example/rss", speaker="sp3"),
)
WL = watchlist(A, B, C)

REPORT = (
    "Daily report on Karabakh from the press service of the ministry: as of 28 September the "
    "enemy continued to shell the Tartar and Terter districts and the villages along the line of "
    "contact with artillery and rocket launchers; 3 civilians were wounded, houses and schools "
    "were damaged, and the humanitarian ceasefire agreed in Moscow was violated again by the "
    "other side despite the calls of the co-chairs of the Minsk group."
)

OTHER = (
    "The foreign ministry summoned the ambassador over the statements on Karabakh made at the "
    "press conference in the capital yesterday, and handed him a note of protest demanding that "
    "the government refrain from steps that undermine the negotiations on a settlement."
)


class Feeds:
    """Every source answers at once with what the test set for it."""

    def __init__(self) -> None:
        self.results = {s.key: FetchResult(items=()) for s in (A, B, C)}

    async def fetch(self, source: SourceForPoll) -> FetchResult:
        return self.results[source.key]


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = storage.make_engine(db_url)
    storage.migrate(eng)
    with storage.session_scope(storage.make_sessions(eng)) as s:
        storage.sync_sources(s, [A, B, C], default_interval=timedelta(seconds=60), now=T0)
        storage.sync_channels(s, [Channel("main", "@main")])
    yield eng
    eng.dispose()


def _poller(engine: Engine, feeds: Feeds) -> Poller:
    return Poller(
        sessions=storage.make_sessions(engine),
        fetchers={SourceKind.FEED: feeds},
        watchlist=WL,
        matcher=Matcher(WL.topics),
        # however slow the database, the three polls fit in one batch
        policy=PollPolicy(jitter=0.0, batch_hold=60.0),
        clock=lambda: T0,
        metrics=Metrics(),
        owner="w1",
    )


def _transactions(engine: Engine) -> list[list[str]]:
    """The SQL of each transaction from now on (a new list at each commit or rollback)."""
    txs: list[list[str]] = [[]]

    def execute(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        txs[-1].append(" ".join(statement.split()))

    def end(_c: Any) -> None:
        txs.append([])

    event.listen(engine, "before_cursor_execute", execute)
    event.listen(engine, "commit", end)
    event.listen(engine, "rollback", end)
    return txs


def _writing(txs: list[list[str]]) -> list[list[str]]:
    return [t for t in txs if any(q.startswith("INSERT INTO statements") for q in t)]


async def _primed(engine: Engine) -> tuple[Feeds, Poller]:
    feeds = Feeds()
    poller = _poller(engine, feeds)
    await poller.poll_all()  # each source's first poll: nothing yet, the source is primed
    feeds.results[A.key] = FetchResult(items=(item(1, text=REPORT),))
    # the same report with a hashtag: its SimHash is A's, its content hash is not
    feeds.results[B.key] = FetchResult(items=(item(2, text=REPORT + " #Artsakh"),))
    feeds.results[C.key] = FetchResult(items=(item(3, text=OTHER),))
    return feeds, poller


# per source: new statements, repeats, alerts, no error
ALL_STORED = {A.key: (1, 0, 1, True), B.key: (0, 1, 1, True), C.key: (1, 0, 1, True)}


def _failing(
    monkeypatch: pytest.MonkeyPatch,
    source_key: str,
    times: int | None,
    error: Exception | None = None,
) -> None:
    """Recording `source_key`'s poll fails `times` times (None: always), as a database fault
    (or with `error`)."""
    real = storage.sources.record_poll_success
    left = [times]

    def record(session: Any, key: str, **kw: Any) -> None:
        if key == source_key and left[0] != 0:
            left[0] = None if left[0] is None else left[0] - 1
            raise error or StorageError("database unavailable: injected")
        real(session, key, **kw)

    monkeypatch.setattr(storage.sources, "record_poll_success", record)


def _by_source(outcomes: list[PollOutcome]) -> dict[str, tuple[int, int, int, bool]]:
    return {
        o.source_key: (o.new_statements, o.duplicates, o.alerts, o.error is None) for o in outcomes
    }


async def test_polls_fetched_together_are_written_in_one_transaction_and_see_each_other(
    engine: Engine,
) -> None:
    _, poller = await _primed(engine)
    txs = _transactions(engine)
    outcomes = await poller.poll_all()
    # B repeats A (another speaker: alerted as a repeat), found through the near-duplicate
    # index, which knows A's statement before the transaction that holds both has committed
    assert _by_source(outcomes) == ALL_STORED
    assert len(_writing(txs)) == 1, txs


async def test_a_batch_that_fails_is_written_poll_by_poll(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, poller = await _primed(engine)
    _failing(monkeypatch, C.key, times=1)
    txs = _transactions(engine)
    outcomes = await poller.poll_all()
    # the batch was rolled back as a whole, then each poll written alone: nothing lost, nothing
    # counted twice, B still found to repeat A
    assert _by_source(outcomes) == ALL_STORED
    assert len(_writing(txs)) == 4  # the failed batch, then one per poll
    with storage.session_scope(storage.make_sessions(engine)) as s:
        assert s.scalar(select(func.count()).select_from(StatementRow)) == 3


async def test_a_poll_that_cannot_be_written_leaves_nothing_behind(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, poller = await _primed(engine)
    _failing(monkeypatch, A.key, times=None)
    outcomes = await poller.poll_all()
    # A's statement was rolled back twice (in the batch, then alone): B's report is new, not a
    # repeat of a statement that does not exist, and the index knows only what was stored
    assert _by_source(outcomes) == {
        A.key: (0, 0, 0, False),
        B.key: (1, 0, 1, True),
        C.key: (1, 0, 1, True),
    }
    stored = {sid for o in outcomes for sid in o.statement_ids}
    assert len(stored) == 2
    assert len(poller._near) == len(stored) and all(sid in poller._near for sid in stored)


async def test_a_bug_writing_one_poll_fails_that_poll_alone_and_backs_it_off(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, poller = await _primed(engine)
    _failing(monkeypatch, A.key, times=None, error=RuntimeError("a bug: injected"))
    outcomes = await poller.poll_all()
    assert _by_source(outcomes) == {
        A.key: (0, 0, 0, False),
        B.key: (1, 0, 1, True),
        C.key: (1, 0, 1, True),
    }
    # the failure is recorded after the rollback, in the same session's next transaction
    with storage.session_scope(storage.make_sessions(engine)) as s:
        row = s.scalars(select(SourceRow).where(SourceRow.key == A.key)).one()
        assert row.failures == 1 and row.lease_owner is None and row.next_poll_at > T0
        assert row.last_error is not None and "a bug: injected" in row.last_error
        assert s.scalar(select(func.count()).select_from(StatementRow)) == 2


def test_oldest_due_is_the_longest_wait_among_sources_no_worker_is_polling(
    engine: Engine,
) -> None:
    sessions = storage.make_sessions(engine)
    minute = timedelta(seconds=60)
    with storage.session_scope(sessions) as s:
        storage.postpone_source(s, A.key, next_poll_at=T0 + timedelta(seconds=30))
        (claimed,) = storage.claim_sources(s, T0, limit=1, lease=5 * minute, owner="w2")
        assert claimed.key == B.key and claimed.due_at == T0
        storage.sync_sources(s, [A, B], default_interval=minute, now=T0)  # C leaves
    with storage.session_scope(sessions) as s:
        # A is not due yet, B is being polled, C is no longer watched
        assert storage.oldest_due(s, T0 + timedelta(seconds=10)) is None
        assert storage.oldest_due(s, T0 + timedelta(seconds=40)) == T0 + timedelta(seconds=30)
        # B's lease ran out and nobody polled it: it has waited longest
        assert storage.oldest_due(s, T0 + 6 * minute) == T0
