"""The poller against an in-memory `PollStore` (issue 9): what it stores, routes and records,
and what a failed write leaves behind. The SQL adapter is tested on real databases."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from bot.errors import SourceUnavailable
from bot.matching import Matcher
from bot.metrics import Metrics
from bot.model import CachingInfo, FetchResult, Match, SourceForPoll, SourceKind, Watchlist
from bot.pipeline import Poller, PollPolicy
from bot.ports import Fetcher
from tests.builders import T0, item, spec, watchlist
from tests.fakes.stores import FakePollStore

SPEC = spec()
WL = watchlist(SPEC)


class Feed:
    """A fetcher whose answers the test sets: a result, or an error to raise."""

    def __init__(self) -> None:
        self.answer: FetchResult | Exception = FetchResult(items=())
        self.calls = 0

    async def fetch(self, source: SourceForPoll) -> FetchResult:
        self.calls += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _poller(
    store: FakePollStore,
    feed: Fetcher,
    clock: Clock,
    wl: Watchlist = WL,
    policy: PollPolicy | None = None,
    matcher: Matcher | None = None,
) -> Poller:
    return Poller(
        store=store,
        fetchers={SourceKind.FEED: feed},
        watchlist=wl,
        matcher=matcher or Matcher(wl.topics),
        policy=policy or PollPolicy(jitter=0.0),
        clock=clock,
        metrics=Metrics(),
        owner="w1",
    )


async def test_a_new_statement_is_stored_once_and_routed_once() -> None:
    store, feed, clock = FakePollStore([SPEC], now=T0), Feed(), Clock()
    feed.answer = FetchResult(items=(item(1),), caching=CachingInfo(etag='"v1"'))
    poller = _poller(store, feed, clock)
    (outcome,) = await poller.poll_due()
    assert (outcome.new_statements, outcome.alerts) == (1, 1)
    clock.now += timedelta(minutes=5)
    (again,) = await poller.poll_due()  # the feed shows the same item again
    assert (again.new_statements, again.alerts) == (0, 0)
    assert [s.st.item.external_id for s in store.state.statements.values()] == ["id-1"]
    assert [(ch, kind.value) for _, ch, kind in store.state.alerts] == [("main", "new")]
    source = store.state.sources[SPEC.key]
    assert source.caching.etag == '"v1"' and source.lease_owner is None


async def test_a_failed_write_leaves_nothing_half_done_and_the_poll_is_redone() -> None:
    store, feed, clock = FakePollStore([SPEC], now=T0), Feed(), Clock()
    feed.answer = FetchResult(items=(item(1), item(2)), caching=CachingInfo(etag='"v2"'))
    poller = _poller(store, feed, clock)
    store.fail_after, store.fail_commits = 1, 1  # the claim commits; the poll's write fails
    (outcome,) = await poller.poll_due()
    assert outcome.error is not None
    # neither statement, alert, ETag nor next poll time was written
    assert store.state.statements == {} and store.state.alerts == []
    source = store.state.sources[SPEC.key]
    assert source.caching.etag is None and source.next_poll_at == T0
    # the next tick gives the lease back first (not minutes later), then polls again
    clock.now += timedelta(seconds=5)
    (redone,) = await poller.poll_due()
    assert (redone.new_statements, redone.alerts) == (2, 2)
    assert len(store.state.statements) == 2 and len(store.state.alerts) == 2
    assert store.state.sources[SPEC.key].lease_owner is None
    assert feed.calls == 2


async def test_a_source_that_asks_to_wait_is_retried_after_its_wait() -> None:
    store, feed, clock = FakePollStore([SPEC], now=T0), Feed(), Clock()
    feed.answer = SourceUnavailable(SPEC.key, "429 Too Many Requests", retry_after=600.0)
    poller = _poller(store, feed, clock)
    (outcome,) = await poller.poll_due()
    source = store.state.sources[SPEC.key]
    assert outcome.error and source.failures == 1 and source.lease_owner is None
    assert source.next_poll_at >= T0 + timedelta(seconds=600)
    clock.now += timedelta(seconds=300)
    assert await poller.poll_due() == []  # not before its Retry-After
    clock.now = source.next_poll_at
    feed.answer = FetchResult(items=(item(1),))
    (ok,) = await poller.poll_due()
    assert ok.new_statements == 1 and store.state.sources[SPEC.key].failures == 0


async def test_polls_waiting_for_their_batch_are_stored_when_the_tick_is_cancelled() -> None:
    # issue 9: a fetched poll waits for others to join its transaction while fetches are under
    # way; a shutdown (the tick cancelled) must not leave one unwritten and its source leased
    fast = [spec(f"feed:https://{n}.example/rss") for n in "abc"]
    slow = spec("feed:https://z.example/rss")
    wl = watchlist(*fast, slow)
    store, clock = FakePollStore([*fast, slow], now=T0), Clock()
    answered, slow_started, never = asyncio.Event(), asyncio.Event(), asyncio.Event()
    waiting = 0

    class Feeds:
        async def fetch(self, source: SourceForPoll) -> FetchResult:
            nonlocal waiting
            if source.key == slow.key:
                slow_started.set()
                await never.wait()
            await slow_started.wait()  # the fast ones answer while the slow one is fetched
            waiting += 1
            if waiting == len(fast):
                answered.set()
            return FetchResult(items=(item(1),))

    # a batch per poll: the tick's end must write every batch, not only the first
    poller = _poller(store, Feeds(), clock, wl, PollPolicy(jitter=0.0, batch_hold=0.0))
    tick = asyncio.create_task(poller.poll_due())
    await answered.wait()
    tick.cancel()
    with pytest.raises(asyncio.CancelledError):
        await tick
    assert sorted(s.source_key for s in store.state.statements.values()) == [f.key for f in fast]
    assert all(store.state.sources[f.key].lease_owner is None for f in fast)


async def test_a_worker_that_falls_behind_counts_its_late_polls_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # issue 9: nothing fails when a worker cannot keep up; its alerts only come later
    store, feed, clock = FakePollStore([SPEC], now=T0), Feed(), Clock()
    poller = _poller(store, feed, clock)
    metrics = poller._metrics
    clock.now = T0 + timedelta(seconds=5)  # due at T0: a tick's lateness is normal
    await poller.poll_due()
    assert metrics.get("polls_late", kind="feed") == 0
    assert "polling is behind" not in caplog.text
    clock.now = store.state.sources[SPEC.key].next_poll_at + timedelta(seconds=45)
    await poller.poll_due()
    assert metrics.get("polls_late", kind="feed") == 1
    behind = [r for r in caplog.records if "polling is behind" in r.getMessage()]
    assert len(behind) == 1 and f"source={SPEC.key} polled 45s after" in behind[0].getMessage()
    assert "WATCHPOST_POLL_CONCURRENCY" in behind[0].getMessage()
    # late again ten seconds later: counted, not said again within the minute
    clock.now += timedelta(seconds=10)
    store.state.sources[SPEC.key].next_poll_at = clock.now - timedelta(seconds=45)
    await poller.poll_due()
    assert metrics.get("polls_late", kind="feed") == 2
    assert len([r for r in caplog.records if "polling is behind" in r.getMessage()]) == 1


async def test_a_worker_behind_says_so_while_its_tick_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A worker that cannot keep up never ends its tick (something is always due): found by
    # benchmarks/many_sources.py --latency 0.3, where the warning never came.
    late, slow = spec("feed:https://a.example/rss"), spec("feed:https://b.example/rss")
    wl = watchlist(late, slow)
    store, clock = FakePollStore([late, slow], now=T0), Clock()
    store.state.sources[late.key].next_poll_at = T0 - timedelta(seconds=45)
    polled, never = asyncio.Event(), asyncio.Event()

    class Feeds:
        async def fetch(self, source: SourceForPoll) -> FetchResult:
            if source.key == slow.key:
                await never.wait()
            polled.set()
            return FetchResult(items=())

    poller = _poller(store, Feeds(), clock, wl)
    tick = asyncio.create_task(poller.poll_due())
    await polled.wait()
    assert not tick.done()
    assert f"polling is behind: source={late.key} polled 45s after" in caplog.text
    # the tick is busy, not stuck: /healthz reads when a poll last finished
    clock.now += timedelta(seconds=3)
    for _ in range(100):  # the late poll's task reports to the tick within a few loop turns
        if poller.progress_at is not None:
            break
        await asyncio.sleep(0)
    assert poller.progress_at == clock.now
    tick.cancel()
    with pytest.raises(asyncio.CancelledError):
        await tick


async def test_a_stopping_worker_finishes_its_polls_in_flight_and_claims_no_more() -> None:
    # A worker that is behind never ends its tick: at shutdown it must stop claiming, so that
    # the tick ends with its polls done instead of being cancelled at the end of the grace
    first, second = spec("feed:https://a.example/rss"), spec("feed:https://b.example/rss")
    wl = watchlist(first, second)
    store, clock = FakePollStore([first, second], now=T0), Clock()
    started, answer = asyncio.Event(), asyncio.Event()
    fetched: list[str] = []

    class Feeds:
        async def fetch(self, source: SourceForPoll) -> FetchResult:
            fetched.append(source.key)
            started.set()
            await answer.wait()
            return FetchResult(items=(item(1),))

    # one source at a time: the other waits
    poller = _poller(store, Feeds(), clock, wl, PollPolicy(jitter=0.0, batch_size=1))
    tick = asyncio.create_task(poller.poll_due())
    await started.wait()
    poller.stop_claiming()
    answer.set()
    (outcome,) = await tick
    assert outcome.source_key == first.key and outcome.new_statements == 1
    assert fetched == [first.key]
    assert store.state.sources[second.key].lease_owner is None


class _Brittle(Matcher):
    """A matcher with a bug that one statement's text sets off."""

    def match(self, title: str, text: str) -> tuple[Match, ...]:
        if "poison" in text:
            raise ValueError("a bug in matching")
        return super().match(title, text)


@pytest.mark.parametrize("others", [0, 2], ids=["alone", "in a batch"])
async def test_a_bug_storing_one_poll_costs_only_that_poll_and_it_is_retried(
    others: int, caplog: pytest.LogCaptureFixture
) -> None:
    # A bug set off by one statement (here in matching) used to propagate out of the tick:
    # every other poll in flight was cancelled and stayed leased for the lease's 5 minutes,
    # and the poisoned source came back after them to do it again.
    bad = spec("feed:https://bad.example/rss")
    good = [spec(f"feed:https://{n}.example/rss") for n in "ab"[:others]]
    wl = watchlist(bad, *good)
    store, clock = FakePollStore([bad, *good], now=T0), Clock()
    poisoned = True

    class Feeds:
        async def fetch(self, source: SourceForPoll) -> FetchResult:
            await asyncio.sleep(0)  # the polls answer together and share a transaction
            text = "poison" if source.key == bad.key and poisoned else None
            return FetchResult(items=(item(1, text=text),), caching=CachingInfo(etag='"e"'))

    poller = _poller(store, Feeds(), clock, wl, matcher=_Brittle(wl.topics))
    outcomes = {o.source_key: o for o in await poller.poll_due()}
    assert sorted(outcomes) == sorted([bad.key, *(g.key for g in good)])
    assert all(outcomes[g.key].new_statements == 1 for g in good)
    assert "a bug in matching" in (outcomes[bad.key].error or "")
    source = store.state.sources[bad.key]
    # visible, backed off, not leased, and its validator not taken: the next poll gets it all
    assert source.failures == 1 and source.lease_owner is None
    assert source.next_poll_at > clock.now and source.caching.etag is None
    assert f"poll bug source={bad.key}" in caplog.text
    assert all(store.state.sources[g.key].lease_owner is None for g in good)
    poisoned = False  # the bug fixed (or the item gone): the retry stores it
    clock.now = source.next_poll_at
    again = {o.source_key: o for o in await poller.poll_due()}
    assert again[bad.key].new_statements == 1 and again[bad.key].error is None


async def test_a_bug_reporting_one_stored_poll_leaves_the_others_and_the_tick_intact(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # After a batch commits, each poll is counted and logged (`_report`). A bug there for one
    # poll left the batch's other polls waiting for an outcome that never came: the tick hung.
    specs = [spec(f"feed:https://{n}.example/rss") for n in "abc"]
    wl = watchlist(*specs)
    store, clock = FakePollStore(specs, now=T0), Clock()

    class Feeds:
        async def fetch(self, source: SourceForPoll) -> FetchResult:
            await asyncio.sleep(0)  # the three answer together: one batch
            return FetchResult(items=(item(1),))

    poller = _poller(store, Feeds(), clock, wl)
    real = Poller._report

    def report(self: Poller, written: Any) -> Any:
        if written.source.key == specs[0].key:
            raise ValueError("a bug in reporting")
        return real(self, written)

    monkeypatch.setattr(Poller, "_report", report)
    # bounded: on the old code the tick never ended
    outcomes = await asyncio.wait_for(poller.poll_due(), timeout=30)
    assert sorted(o.source_key for o in outcomes) == sorted(s.key for s in specs[1:])
    assert all(o.new_statements == 1 for o in outcomes)
    # stored all the same (the transaction had committed), and said loudly
    assert len(store.state.statements) == 3
    assert "a bug in reporting" in caplog.text


async def test_a_tick_claims_and_records_its_304s_in_few_transactions() -> None:
    # issue 9: each claim and each write of 304s is a transaction whose commit rewrites the
    # same index pages; claimed and written a semaphore's worth at a time, the 60-odd
    # transactions of 1,000 polls cost about 70 µs of CPU per poll (benchmarks/warm_cycle.py)
    specs = [spec(f"feed:https://s{i}.example/rss") for i in range(200)]
    wl = watchlist(*specs)
    store, clock = FakePollStore(specs, now=T0), Clock()

    class Unchanged:
        async def fetch(self, source: SourceForPoll) -> FetchResult:
            await asyncio.sleep(0)
            return FetchResult(items=(), not_modified=True, fetched_at=clock.now)

    policy = PollPolicy(jitter=0.0, batch_size=100, concurrency=4)
    poller = _poller(store, Unchanged(), clock, wl, policy)
    outcomes = await poller.poll_due()
    assert len(outcomes) == 200 and all(o.not_modified for o in outcomes)
    # a quarter of the batch at a time: 14 transactions of claims and writes (a semaphore's
    # worth at a time, 4 here, made 62)
    assert store.commits <= 16, store.commits
    assert all(
        s.lease_owner is None and s.next_poll_at == T0 + timedelta(seconds=60)
        for s in store.state.sources.values()
    )
