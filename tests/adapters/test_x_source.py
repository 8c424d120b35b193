"""The X source adapter against the fake X API, through the real tweepy client (issue 8).

Each test drives `XFetcher` as the pipeline does: it passes the source state storage would hold
(cursor, remote id) from one poll to the next.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest

from bot.errors import SourceError, SourceHeld, SourceProblem, SourceRejected, SourceUnavailable
from bot.fakes.http import LocalServer
from bot.fakes.x_api import Endpoint, FakeX
from bot.model import CachingInfo, FetchResult, SourceForPoll, SourceKind
from bot.x.budget import Budget
from bot.x.plan import PAY_PER_USE
from bot.x.plan import Endpoint as Endpoint_
from bot.x.source import BudgetGuard, XFetcher, make_x_client, tweet_to_item

TOKEN = "x-adapter-token"
START = datetime(2026, 5, 10, 12, 0, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def dt(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)


@dataclass
class Rig:
    fake: FakeX
    clock: Clock
    fetcher: XFetcher
    state: dict[str, SourceForPoll]

    def watch(self, *handles: str) -> None:
        for h in handles:
            self.state[f"x:{h.lower()}"] = SourceForPoll(
                key=f"x:{h.lower()}",
                kind=SourceKind.X,
                target=h,
                caching=CachingInfo(),
                cursor=None,
                failures=0,
                primed=False,
            )

    def _keep(self, key: str, res: FetchResult | SourceError) -> FetchResult | SourceError:
        if isinstance(res, FetchResult):
            s = self.state[key]
            self.state[key] = replace(
                s,
                cursor=res.cursor or s.cursor,
                remote_id=res.remote_id or s.remote_id,
                primed=True,
            )
        return res

    async def batched(self) -> dict[str, FetchResult | SourceError]:
        results = await self.fetcher.fetch_many(list(self.state.values()))
        return {k: self._keep(k, v) for k, v in results.items()}

    async def one(self, handle: str) -> FetchResult:
        key = f"x:{handle.lower()}"
        res = await self.fetcher.fetch(self.state[key])
        self._keep(key, res)
        return res

    def later(self, seconds: float) -> None:
        self.clock.now += seconds


def _texts(res: FetchResult | SourceError) -> list[str]:
    assert isinstance(res, FetchResult), res
    return sorted(i.text for i in res.items)


def _rig(fake: FakeX, clock: Clock, server: LocalServer, budget: BudgetGuard | None = None) -> Rig:
    client = make_x_client(TOKEN, base_url=server.url, timeout=5)
    fetcher = XFetcher(client, budget=budget, clock=clock.dt)
    return Rig(fake, clock, fetcher, {})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> FakeX:
    return FakeX(tokens={TOKEN}, clock=clock)


@pytest.fixture
def rig(fake: FakeX, clock: Clock) -> Iterator[Rig]:
    with LocalServer(fake.handle) as server:
        yield _rig(fake, clock, server)


# --- who said it --------------------------------------------------------------------------------


async def test_a_freed_handle_registered_by_someone_else_is_never_alerted_as_the_official(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """Batched search by id: the impostor's posts never come back under the minister's source."""
    rig.fake.add_user("MinisterFA", name="Minister")
    rig.fake.add_user("Other_MFA")
    rig.watch("MinisterFA", "Other_MFA")
    await rig.batched()  # resolves ids, primes
    rig.later(600)
    rig.fake.rename("MinisterFA", "MinisterFA_2026")
    rig.fake.add_user("MinisterFA", name="Not the minister")
    rig.fake.post("MinisterFA", "Impostor: the ceasefire is off.")
    rig.fake.post("MinisterFA_2026", "The ceasefire holds.")
    rig.later(600)
    with caplog.at_level(logging.WARNING, "watchpost.x"):
        out = await rig.batched()
        await rig.batched()  # the rename is told once
    res = out["x:ministerfa"]
    assert _texts(res) == ["The ceasefire holds."]
    assert isinstance(res, FetchResult) and res.items[0].author == "MinisterFA_2026"
    renames = [r for r in caplog.records if "renamed" in r.getMessage()]
    assert len(renames) == 1 and "@MinisterFA_2026" in renames[0].getMessage()
    queries = [c.target for c in rig.fake.calls(Endpoint.SEARCH_RECENT)]
    assert all("MinisterFA" not in q for q in queries)
    # one users request resolved both handles
    assert rig.fake.requests(Endpoint.USERS_BY) == 1


# --- accounts that went away -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("break_it", "problem"),
    [
        (lambda fake: fake.suspend("MinisterFA"), SourceProblem.SUSPENDED),
        (lambda fake: fake.protect("MinisterFA"), SourceProblem.PROTECTED),
        (lambda fake: fake.deactivate("MinisterFA"), SourceProblem.NOT_FOUND),
    ],
    ids=["suspended", "protected", "deactivated"],
)
async def test_an_errors_only_answer_is_a_paused_source_not_zero_posts(
    rig: Rig, break_it, problem: SourceProblem
) -> None:
    rig.fake.add_user("MinisterFA")
    rig.watch("MinisterFA")
    await rig.one("MinisterFA")
    break_it(rig.fake)
    if problem is SourceProblem.NOT_FOUND:
        rig.fake.add_user("MinisterFA", name="Someone else")  # the freed handle, re-registered
        rig.fake.post("MinisterFA", "Impostor")
    rig.later(300)
    with pytest.raises(SourceRejected) as caught:
        await rig.one("MinisterFA")
    assert caught.value.problem is problem
    assert caught.value.requests >= 1  # the failed poll's cost is carried
    # never re-resolved by handle: the impostor's timeline is never read
    assert rig.fake.requests(Endpoint.USERS_BY) == 1


@pytest.mark.parametrize(
    ("break_it", "problem"),
    [
        (lambda fake: fake.suspend("MinisterFA"), SourceProblem.SUSPENDED),
        (lambda fake: fake.add_user("Quiet"), SourceProblem.NOT_FOUND),
    ],
    ids=["suspended", "unknown"],
)
async def test_a_batch_member_that_cannot_be_resolved_fails_alone(
    rig: Rig, break_it, problem: SourceProblem
) -> None:
    rig.fake.add_user("MinisterFA")
    rig.fake.add_user("Other_MFA")
    break_it(rig.fake)
    rig.watch("MinisterFA", "Other_MFA", "NoSuchOne")
    out = await rig.batched()
    assert isinstance(out["x:other_mfa"], FetchResult)
    err = out["x:ministerfa"]
    if problem is SourceProblem.SUSPENDED:
        assert isinstance(err, SourceRejected) and err.problem is SourceProblem.SUSPENDED
    else:
        assert isinstance(err, FetchResult)
    missing = out["x:nosuchone"]
    assert isinstance(missing, SourceRejected) and missing.problem is SourceProblem.NOT_FOUND
    assert sum(r.requests for r in out.values()) == 2  # one users lookup, one search


async def test_a_failed_batch_carries_its_cost_once_as_a_value(rig: Rig) -> None:
    for h in ("MinisterFA", "Other_MFA"):
        rig.fake.add_user(h)
    rig.watch("MinisterFA", "Other_MFA")
    rig.fake.fail_next(1, 503, endpoint=Endpoint.SEARCH_RECENT)
    out = await rig.batched()
    assert all(isinstance(r, SourceUnavailable) for r in out.values())
    # the users lookup and the failed search, counted on one member, never per member
    assert sorted(r.requests for r in out.values()) == [0, 2]
    assert sum(r.cost.reads for r in out.values()) == 0


# --- nothing lost ------------------------------------------------------------------------------


async def test_an_account_joining_a_batch_does_not_lose_the_others_backlog(rig: Rig) -> None:
    for h in ("MinisterFA", "Other_MFA"):
        rig.fake.add_user(h)
    rig.fake.add_user("NewOne")
    rig.watch("MinisterFA", "Other_MFA")
    await rig.batched()
    rig.later(60)
    for n in range(150):
        rig.fake.post("MinisterFA" if n % 2 else "Other_MFA", f"post {n}", created_at=rig.clock.now)
        rig.later(1)
    rig.later(300)
    rig.watch("NewOne")
    out = await rig.batched()
    got = len(_texts(out["x:ministerfa"])) + len(_texts(out["x:other_mfa"]))
    assert got == 150


async def test_short_pages_with_next_token_are_followed_to_the_end(
    clock: Clock,
) -> None:
    fake = FakeX(tokens={TOKEN}, clock=clock, page_cap=15)
    with LocalServer(fake.handle) as server:
        rig = _rig(fake, clock, server)
        fake.add_user("MinisterFA")
        rig.watch("MinisterFA")
        await rig.batched()
        await rig.one("MinisterFA")
        rig.later(60)
        for n in range(120):
            fake.post("MinisterFA", f"post {n}", created_at=clock.now)
            clock.now += 1
        clock.now += 300
        batched = await rig.fetcher.fetch_many(list(rig.state.values()))
        timeline = await rig.fetcher.fetch(rig.state["x:ministerfa"])
    assert len(_texts(batched["x:ministerfa"])) == 120
    assert len(timeline.items) == 120


async def test_a_post_indexed_late_is_not_skipped_by_the_cursor(clock: Clock) -> None:
    fake = FakeX(tokens={TOKEN}, clock=clock, index_delay=5)
    with LocalServer(fake.handle) as server:
        rig = _rig(fake, clock, server)
        fake.add_user("MinisterFA")
        fake.add_user("Other_MFA")
        rig.watch("MinisterFA", "Other_MFA")
        await rig.batched()
        clock.now += 600
        fake.post("MinisterFA", "slow to index", index_delay=45)
        clock.now += 5
        fake.post("Other_MFA", "fast to index", index_delay=2)
        clock.now += 10
        first = await rig.batched()
        clock.now += 60
        second = await rig.batched()
    assert _texts(first["x:other_mfa"]) == ["fast to index"]
    assert _texts(first["x:ministerfa"]) == []
    assert _texts(second["x:ministerfa"]) == ["slow to index"]


async def test_after_nine_days_down_the_gap_is_read_from_timelines(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    for h in ("MinisterFA", "Other_MFA"):
        rig.fake.add_user(h)
    rig.watch("MinisterFA", "Other_MFA")
    rig.fake.post("MinisterFA", "before")
    rig.later(60)
    await rig.batched()
    rig.later(600)
    await rig.batched()  # cursors are set
    for day in range(9):
        rig.later(86400)
        rig.fake.post("MinisterFA", f"day {day}")
        rig.fake.post("Other_MFA", f"other day {day}")
    rig.later(3600)
    with caplog.at_level(logging.WARNING, "watchpost.x"):
        out = await rig.batched()
    assert _texts(out["x:ministerfa"]) == sorted(f"day {d}" for d in range(9))
    assert len(_texts(out["x:other_mfa"])) == 9
    told = [r.getMessage() for r in caplog.records if "catch-up" in r.getMessage()]
    assert any("9d" in m and "9 posts recovered" in m for m in told), told
    # then back to one search for both
    rig.later(600)
    rig.fake.post("Other_MFA", "back to normal")
    rig.later(300)
    before = rig.fake.requests(Endpoint.USER_TWEETS)
    out = await rig.batched()
    # (a member ahead of the batch's oldest cursor may see a post again; storage knows it)
    assert "back to normal" in _texts(out["x:other_mfa"])
    assert not any(t.startswith("day") for t in _texts(out["x:ministerfa"]))
    assert rig.fake.requests(Endpoint.USER_TWEETS) == before


# --- the monthly cap ---------------------------------------------------------------------------


async def test_usage_cap_exceeded_pauses_every_x_request_until_the_billing_day(
    fake: FakeX, clock: Clock
) -> None:
    plan = replace(PAY_PER_USE, reset_day=20)
    guard = BudgetGuard(Budget.start(plan, clock.dt()))
    with LocalServer(fake.handle) as server:
        rig = _rig(fake, clock, server, guard)
        fake.add_user("MinisterFA")
        rig.watch("MinisterFA")
        await rig.one("MinisterFA")
        fake.set_read_cap(0)
        clock.now += 60
        with pytest.raises(SourceUnavailable) as caught:
            await rig.one("MinisterFA")
        assert caught.value.problem is SourceProblem.USAGE_CAP
        assert "2026-05-20" in caught.value.message
        # 10 May 12:00 to 20 May 00:00
        assert caught.value.retry_after == pytest.approx(9.5 * 86400 - 60, abs=1)
        sent = fake.requests()
        held = await rig.fetcher.fetch_many(list(rig.state.values()))
        assert isinstance(held["x:ministerfa"], SourceHeld)
        assert fake.requests() == sent  # nothing more was sent


# --- the budget at run time --------------------------------------------------------------------


def test_concurrent_reservations_never_exceed_the_window() -> None:
    """25 threads asking at once get exactly the 9 requests 90 % of a limit of 10 allows."""
    import threading

    plan = replace(PAY_PER_USE, timeline_per_15m=10)
    now = datetime.fromtimestamp(START, UTC)
    guard = BudgetGuard(Budget.start(plan, now))
    barrier = threading.Barrier(25)
    granted: list[bool] = []
    lock = threading.Lock()

    def ask() -> None:
        barrier.wait()
        ok = guard.reserve(Endpoint_.TIMELINE, now) == 0.0
        with lock:
            granted.append(ok)

    threads = [threading.Thread(target=ask) for _ in range(25)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert granted.count(True) == 9


async def test_first_polls_of_many_accounts_resolve_their_handles_in_one_request(
    rig: Rig,
) -> None:
    import asyncio

    handles = [f"Ministry{i:02d}" for i in range(25)]
    for h in handles:
        rig.fake.add_user(h)
    rig.watch(*handles)
    rig.fetcher.expect(handles)
    await asyncio.gather(*(rig.one(h) for h in handles))
    assert rig.fake.requests(Endpoint.USERS_BY) == 1
    assert all(s.remote_id for s in rig.state.values())


async def test_the_guard_counts_deletion_re_reads_as_x_bills_them(clock: Clock) -> None:
    """Pay-per-use bills a post once per UTC day: the guard and the fake agree, poll after poll."""
    fake = FakeX(tokens={TOKEN}, clock=clock, daily_dedup=True)
    guard = BudgetGuard(Budget.start(PAY_PER_USE, clock.dt()))
    with LocalServer(fake.handle) as server:
        rig = _rig(fake, clock, server, guard)
        fake.add_user("MinisterFA")
        rig.watch("MinisterFA")
        await rig.one("MinisterFA")
        clock.now += 60
        ids = [fake.post("MinisterFA", f"post {n}") for n in range(30)]
        clock.now += 300
        await rig.one("MinisterFA")
        for _ in range(24):  # a check every hour: the same 30 posts
            clock.now += 600
            present, _ = await rig.fetcher.lookup(ids)
            assert len(present) == 30
        clock.now += 86400
        await rig.fetcher.lookup(ids)
    assert fake.billed_reads() == 60  # 30 posts on two UTC days
    assert guard.budget.state.reads == fake.billed_reads()
    assert fake.posts_read() == 30 * 26  # what was returned, all told


async def test_the_pro_preset_never_sends_a_query_longer_than_recent_search_takes(
    fake: FakeX, clock: Clock
) -> None:
    """Issue 8: with 1,024 characters, every batch from the 26th account on answered 400."""
    from bot.x.plan import PRO

    with LocalServer(fake.handle) as server:
        client = make_x_client(TOKEN, base_url=server.url, timeout=5)
        rig = Rig(
            fake, clock, XFetcher(client, clock=clock.dt, max_query_length=PRO.max_query_length), {}
        )
        handles = [f"Office{i:02d}" for i in range(60)]
        for h in handles:
            fake.add_user(h)
        rig.watch(*handles)
        out = await rig.batched()
    assert all(isinstance(r, FetchResult) for r in out.values()), out
    assert all(len(c.target) < 2000 for c in fake.calls(Endpoint.SEARCH_RECENT))
    assert fake.requests(Endpoint.SEARCH_RECENT) >= 3


def test_a_posts_photos_come_from_its_media_keys_in_order() -> None:
    """Issue 11: ``attachments.media_keys`` looked up in ``includes.media``; a video has no
    ``url`` (only a preview image) and is left out, as is a key the answer did not include."""
    tweet = {
        "id": "1310",
        "text": "Photos from the front line",
        "author_id": "9",
        "attachments": {"media_keys": ["3_2", "7_1", "3_1", "3_9"]},
    }
    payload = {
        "data": [tweet],
        "includes": {
            "users": [{"id": "9", "username": "nk_observer", "name": "NK"}],
            "media": [
                {"media_key": "3_1", "type": "photo", "url": "https://pbs.twimg.com/media/b.jpg"},
                {"media_key": "3_2", "type": "photo", "url": "https://pbs.twimg.com/media/a.jpg"},
                {"media_key": "7_1", "type": "video", "preview_image_url": "https://x/v.jpg"},
            ],
        },
    }
    item = tweet_to_item(tweet, payload)
    assert item.photos == (
        "https://pbs.twimg.com/media/a.jpg",
        "https://pbs.twimg.com/media/b.jpg",
    )
    assert tweet_to_item({**tweet, "attachments": {}}, payload).photos == ()
