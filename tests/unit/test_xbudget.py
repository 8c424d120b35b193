"""The X API budget: packing search queries, planning poll intervals, guarding each request."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.settings import Settings
from bot.x.budget import Budget, BudgetState
from bot.x.plan import (
    BASIC,
    PAY_PER_USE,
    PRESETS,
    PRO,
    Endpoint,
    XAccount,
    XPlan,
    plan_polling,
    plan_preset,
)
from bot.x.query import batch_query, pack_batches

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
ENDPOINTS = tuple(Endpoint)


def account(i: int, freshness: float = 60.0, posts: float = 3.0) -> XAccount:
    # 15 characters: the longest handle X allows, the worst case for packing
    handle = f"acct{i:011d}"
    return XAccount(f"x:{handle}", handle, timedelta(seconds=freshness), posts)


def plan(limit: int = 10, cap: int | None = 15_000, **kw: object) -> XPlan:
    return XPlan(
        name="test",
        monthly_read_cap=cap,
        price_per_read=None,
        timeline_per_15m=limit,
        search_per_15m=limit,
        lookup_per_15m=limit,
        users_per_15m=limit,
        **kw,  # type: ignore[arg-type]
    )


# --- packing ---------------------------------------------------------------------------------


def test_batch_query_is_the_string_sent() -> None:
    assert batch_query(["a", "b"]) == "from:a OR from:b"
    # AND binds before OR at X, so the handles are grouped before an operator for all of them
    assert batch_query(["a", "b"], "-is:retweet") == "(from:a OR from:b) -is:retweet"


def test_a_query_of_exactly_the_limit_fits() -> None:
    q = batch_query(["aa", "bb"])
    assert pack_batches(["aa", "bb"], len(q)) == (("aa", "bb"),)
    assert pack_batches(["aa", "bb"], len(q) - 1) == (("aa",), ("bb",))


def test_packing_keeps_order_and_drops_a_repeated_handle() -> None:
    assert pack_batches(["b", "a", "B", "c"], 512) == (("b", "a", "c"),)


def test_packing_rejects_what_cannot_be_sent() -> None:
    with pytest.raises(ValueError, match="not an X handle"):
        pack_batches(["has space"], 512)
    with pytest.raises(ValueError, match="alone"):
        pack_batches(["abcdefghij"], 10)


handles = st.lists(st.from_regex(r"[A-Za-z0-9_]{1,15}", fullmatch=True), max_size=120).map(
    lambda hs: list({h.lower(): h for h in hs}.values())
)


@given(handles, st.integers(min_value=40, max_value=1100), st.sampled_from(["", "-is:retweet"]))
def test_packing_stays_under_the_limit_and_keeps_every_handle_once(
    hs: list[str], limit: int, suffix: str
) -> None:
    batches = pack_batches(hs, limit, suffix=suffix)
    assert all(len(batch_query(b, suffix)) <= limit for b in batches)
    assert [h for b in batches for h in b] == hs
    assert all(b for b in batches)


# --- planning: examples ----------------------------------------------------------------------


def test_batched_needs_fifteen_times_fewer_requests_than_timelines() -> None:
    accounts = [account(i) for i in range(100)]
    per_account = plan_polling(accounts, PAY_PER_USE, strategy="per_account")
    batched = plan_polling(accounts, PAY_PER_USE, strategy="batched")
    # both at the freshness asked, nothing cut: the comparison is like for like
    assert per_account.warnings == batched.warnings == ()
    assert per_account.worst_interval == batched.worst_interval == timedelta(seconds=60)
    per_hour_timelines = per_account.requests_per_15m.timeline * 4
    per_hour_search = batched.requests_per_15m.search * 4
    assert per_hour_timelines >= 6000
    assert per_hour_timelines >= 15 * per_hour_search
    # 100 accounts searched as from:<id> (ids up to 19 digits) fill 6 queries of at most 512
    assert len(batched.units) == 6
    assert {len(u.keys) for u in batched.units} == {18, 10}
    assert all(u.query is not None and len(u.query) <= 512 for u in batched.units)


def test_the_15000_reads_plan_stays_within_its_cap() -> None:
    accounts = [account(i) for i in range(100)]
    p = plan_polling(accounts, plan(limit=10, cap=15_000), strategy="batched")
    assert p.within_caps and p.within_limits
    assert p.reads_per_month <= 15_000 * 0.9
    assert p.requests_per_15m.search <= 9
    assert p.requests_per_15m.lookup <= 9
    # five batches on 9 requests per 15 minutes: no batch more often than every 500 s
    assert p.worst_interval >= timedelta(seconds=500)
    assert any(w.startswith("freshness not reachable") for w in p.warnings)
    assert any("deletion checks reduced" in w and "read cap" in w for w in p.warnings)
    assert 0 < p.deletion_checks_per_day < 4


def test_a_limit_stretches_only_the_fastest_accounts() -> None:
    fast = [account(i, freshness=60) for i in range(20)]
    slow = [account(100 + i, freshness=3600) for i in range(20)]
    p = plan_polling(fast + slow, plan(limit=20, cap=None), strategy="per_account")
    # 18 usable: the slow take 20·900/3600 = 5, extra pages 40·3/96/100; the fast share the rest,
    # 20·900/T <= 12.9875, so T = 1385.98… s, in whole seconds 1386 s: no longer than needed
    for a in p.accounts:
        if a.asked == timedelta(hours=1):
            assert a.interval == timedelta(hours=1)
        else:
            assert a.interval == timedelta(seconds=1386)
    assert 17.99 < p.requests_per_15m.timeline <= 18


def test_a_cap_that_new_posts_alone_exceed_is_reported_not_hidden() -> None:
    accounts = [account(i, posts=50) for i in range(20)]  # 30,000 new posts a month
    p = plan_polling(accounts, BASIC, strategy="batched")
    assert not p.within_caps
    assert p.deletion_checks_per_day == 0
    assert any(w.startswith("read cap cannot be met") for w in p.warnings)


def test_a_spend_cap_cuts_deletion_checks_then_stretches_intervals() -> None:
    billed = plan(limit=1000, cap=None, price_per_request=0.01, monthly_spend_cap=50.0)
    accounts = [account(i, posts=1) for i in range(10)]
    p = plan_polling(accounts, billed, strategy="per_account", max_interval=timedelta(hours=2))
    assert p.cost_per_month is not None and p.cost_per_month <= 45.0 + 1e-9
    assert p.deletion_checks_per_day == 0
    assert p.worst_interval > timedelta(seconds=60)
    assert p.warnings[0].startswith("deletion checks reduced from 4 to 0")
    assert any("stretched" in w and "spend cap" in w for w in p.warnings)
    assert p.within_caps


def test_nothing_asked_beyond_the_plan_gives_no_warning() -> None:
    accounts = [account(i, freshness=300, posts=2) for i in range(10)]
    p = plan_polling(accounts, PRO, strategy="per_account")
    assert p.warnings == ()
    assert p.deletion_checks_per_day == 4
    assert all(a.interval == a.asked for a in p.accounts)
    assert p.user_lookups == 1
    assert p.cost_per_month == PRO.monthly_fee


def test_projected_reads_add_up() -> None:
    accounts = [account(i, freshness=300, posts=10) for i in range(4)]
    p = plan_polling(
        accounts,
        PAY_PER_USE,
        strategy="per_account",
        deletion_checks_per_day=0.5,
        first_poll_results=5,
    )
    assert p.reads_new == 40 * 30
    assert p.reads_first_poll == 4 * 5
    # one request per poll, plus the extra pages 10 posts a day may need at 100 a page
    assert p.requests_per_15m.timeline == pytest.approx(4 * (3 + 10 / 96 / 100))
    # half a check a day over a 2-day window: each post is read once more
    assert p.reads_deletion == pytest.approx(1200)
    assert sum(a.reads_per_month for a in p.accounts) == pytest.approx(p.reads_per_month)
    assert p.cost_per_month is not None
    assert p.cost_per_month >= p.reads_per_month * 0.005


def test_daily_dedup_makes_more_than_one_check_a_day_free() -> None:
    accounts = [account(i, freshness=300, posts=10) for i in range(4)]
    once = plan_polling(accounts, PAY_PER_USE, strategy="batched", deletion_checks_per_day=1)
    often = plan_polling(accounts, PAY_PER_USE, strategy="batched", deletion_checks_per_day=24)
    assert once.reads_deletion == often.reads_deletion == pytest.approx(2 * 1200)
    assert often.requests_per_15m.lookup > once.requests_per_15m.lookup


def test_presets_by_name() -> None:
    assert plan_preset("Basic") is BASIC
    assert set(PRESETS) == {"pay-per-use", "basic", "pro"}
    # issue 8: recent search takes 512 characters on Basic and Pro (1,024 is full-archive's)
    assert PRO.max_query_length == BASIC.max_query_length == PAY_PER_USE.max_query_length == 512
    # issue 8: pay-per-use as X bills it since 2026
    assert PAY_PER_USE.monthly_read_cap == 3_000_000
    assert (PAY_PER_USE.price_per_read, PAY_PER_USE.price_per_user_read) == (0.005, 0.010)
    assert Settings().x_plan == "pay-per-use"


def test_handles_are_resolved_a_hundred_a_request_in_both_strategies() -> None:
    accounts = [account(i) for i in range(250)]
    for strategy in ("batched", "per_account"):
        p = plan_polling(accounts, BASIC, strategy=strategy)  # type: ignore[arg-type]
        assert p.user_lookups == 3
    with pytest.raises(ValueError, match="known"):
        plan_preset("enterprise")


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="freshness"):
        XAccount("x:a", "a", timedelta(0), 1)
    with pytest.raises(ValueError, match="handles must be unique"):
        plan_polling(
            [XAccount("x:a", "a", timedelta(60), 1), XAccount("x:b", "A", timedelta(60), 1)],
            BASIC,
            strategy="batched",
        )
    with pytest.raises(ValueError, match="margin"):
        plan(margin=1.5)


# --- planning: properties --------------------------------------------------------------------

accounts_st = st.lists(
    st.tuples(
        st.floats(min_value=1, max_value=86_400, allow_nan=False),
        st.floats(min_value=0, max_value=300, allow_nan=False),
    ),
    max_size=60,
).map(lambda xs: [account(i, f, p) for i, (f, p) in enumerate(xs)])

plans_st = st.builds(
    XPlan,
    name=st.just("prop"),
    monthly_read_cap=st.none() | st.integers(min_value=0, max_value=3_000_000),
    price_per_read=st.none() | st.floats(min_value=0, max_value=0.01),
    timeline_per_15m=st.integers(min_value=0, max_value=2000),
    search_per_15m=st.integers(min_value=0, max_value=500),
    lookup_per_15m=st.integers(min_value=0, max_value=500),
    users_per_15m=st.integers(min_value=0, max_value=300),
    max_query_length=st.sampled_from([512, 1024]),
    margin=st.floats(min_value=0.5, max_value=1.0),
    price_per_request=st.none() | st.floats(min_value=0, max_value=0.01),
    monthly_spend_cap=st.none() | st.floats(min_value=0, max_value=10_000),
    daily_dedup=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(
    accounts_st,
    plans_st,
    st.sampled_from(["per_account", "batched"]),
    st.floats(min_value=0, max_value=48),
    st.integers(min_value=0, max_value=96),
)
def test_plans_respect_limits_caps_and_asked_freshness(
    accounts: list[XAccount], xplan: XPlan, strategy: str, checks: float, window_hours: int
) -> None:
    p = plan_polling(
        accounts,
        xplan,
        strategy=strategy,  # type: ignore[arg-type]
        deletion_checks_per_day=checks,
        deletion_window=timedelta(hours=window_hours),
    )
    # intervals never shorter than asked (a batch follows its most demanding account)
    for u in p.units:
        assert u.interval >= u.asked
    for a in p.accounts:
        assert a.interval >= p.units[a.unit].asked
        if strategy == "per_account":
            assert a.interval >= a.asked
    assert sorted(a.key for a in p.accounts) == sorted(a.key for a in accounts)
    # rates within every limit times the margin, or a warning says it cannot be
    if p.within_limits:
        for e in ENDPOINTS:
            assert p.requests_per_15m.of(e) <= xplan.limit_per_15m(e) * xplan.margin
    else:
        assert any("cannot" in w for w in p.warnings)
    # reads within the cap, or a warning says it cannot be
    cap = xplan.usable_reads()
    if cap is not None:
        if p.within_caps:
            assert p.reads_per_month <= cap
        else:
            assert any("cannot be met" in w for w in p.warnings)
    assert 0 <= p.deletion_checks_per_day <= checks
    # nothing cut means no warning, and every warning names what was cut
    if not p.warnings:
        assert p.within_limits and p.within_caps
        for u in p.units:
            assert u.interval.total_seconds() == max(math.ceil(u.asked.total_seconds()), 1)
        assert p.deletion_checks_per_day == checks
    if p.deletion_checks_per_day < checks:
        assert any(w.startswith("deletion checks reduced") for w in p.warnings)


# --- the run-time guard ----------------------------------------------------------------------


def test_the_window_holds_at_most_the_usable_share_of_the_limit() -> None:
    b = Budget.start(plan(limit=10), T0)
    for i in range(9):
        assert b.may_request(Endpoint.SEARCH, T0 + timedelta(seconds=i)) == 0
        b = b.record(Endpoint.SEARCH, 1, 0, T0 + timedelta(seconds=i))
    now = T0 + timedelta(seconds=10)
    assert b.may_request(Endpoint.SEARCH, now) == pytest.approx(890)
    assert b.may_request(Endpoint.SEARCH, T0 + timedelta(seconds=900.5)) == 0
    # other endpoints have windows of their own
    assert b.may_request(Endpoint.TIMELINE, now) == 0


def test_the_servers_word_is_kept_until_its_reset() -> None:
    b = Budget.start(plan(limit=10), T0)
    reset = T0 + timedelta(seconds=300)
    b = b.record(Endpoint.TIMELINE, 1, 0, T0)
    b = b.observe_limits(Endpoint.TIMELINE, 2, reset.timestamp(), T0, limit=10)
    assert b.may_request(Endpoint.TIMELINE, T0) == 0
    b = b.record(Endpoint.TIMELINE, 1, 0, T0 + timedelta(seconds=1))
    # one left is the 10 % reserve: wait for the reset, and a second past it
    assert b.may_request(Endpoint.TIMELINE, T0 + timedelta(seconds=2)) == pytest.approx(299)
    assert b.may_request(Endpoint.TIMELINE, reset) == 0


def test_a_429_waits_for_the_reset() -> None:
    b = Budget.start(PRO, T0)
    b = b.observe_limits(Endpoint.SEARCH, 0, T0.timestamp() + 60, T0)
    assert b.may_request(Endpoint.SEARCH, T0) == pytest.approx(61)


def test_the_read_cap_stops_reads_until_the_month_turns() -> None:
    b = Budget.start(plan(limit=1000, cap=1000), T0)
    b = b.record(Endpoint.SEARCH, 1, 850, T0)
    assert b.reads_left(T0) == 50
    month_end = datetime(2026, 4, 1, tzinfo=UTC)
    assert b.may_request(Endpoint.SEARCH, T0) == (month_end - T0).total_seconds()
    assert b.may_request(Endpoint.SEARCH, T0, max_reads=50) == 0
    assert b.may_request(Endpoint.USERS, T0) == 0
    assert b.reads_left(month_end) == 900
    assert b.may_request(Endpoint.SEARCH, month_end) == 0


def test_the_month_follows_the_reset_day() -> None:
    b = Budget.start(plan(reset_day=15), T0)
    assert b.state.period_start == datetime(2026, 2, 15, tzinfo=UTC)
    b = b.record(Endpoint.SEARCH, 1, 10, datetime(2026, 3, 15, 0, 0, 1, tzinfo=UTC))
    assert b.state.period_start == datetime(2026, 3, 15, tzinfo=UTC)
    assert b.state.reads == 10


def test_deletion_lookups_do_not_run_ahead_of_an_even_spread() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    b = Budget.start(plan(limit=1000, cap=3100), start)  # 2790 usable: 90 a day in March
    b = b.record(Endpoint.SEARCH, 1, 150, start)
    # polling goes on, lookups wait until the spread allows 150 + 100 reads (one day ahead)
    assert b.may_request(Endpoint.SEARCH, start) == 0
    wait = b.may_request(Endpoint.LOOKUP, start, max_reads=100)
    assert wait == pytest.approx(250 / 90 * 86400 - 86400)
    assert b.may_request(Endpoint.LOOKUP, start + timedelta(seconds=wait)) == pytest.approx(0)


def test_no_usable_request_means_never() -> None:
    assert Budget.start(plan(limit=1), T0).may_request(Endpoint.SEARCH, T0) == math.inf


events = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=120),
        st.sampled_from(ENDPOINTS),
        st.integers(min_value=0, max_value=100),
    ),
    max_size=400,
)


@settings(max_examples=100, deadline=None)
@given(events, st.integers(min_value=1, max_value=20), st.integers(min_value=0, max_value=3000))
def test_a_storm_never_overruns_a_window_or_the_cap(
    attempts: list[tuple[float, Endpoint, int]], limit: int, cap: int
) -> None:
    p = plan(limit=limit, cap=cap)
    b = Budget.start(p, T0)
    now = T0
    sent: dict[Endpoint, list[datetime]] = {e: [] for e in ENDPOINTS}
    reads = 0
    for gap, endpoint, returned in attempts:
        now += timedelta(seconds=gap)
        left = b.reads_left(now)
        ask = min(returned, left) if left is not None else returned
        if b.may_request(endpoint, now, max_reads=ask) == 0:
            got = 0 if endpoint is Endpoint.USERS else ask
            b = b.record(endpoint, 1, got, now)
            sent[endpoint].append(now)
            reads += got
    assert reads <= math.floor(cap * p.margin)
    for e, times in sent.items():
        for i, t in enumerate(times):
            in_window = [u for u in times[: i + 1] if u > t - timedelta(minutes=15)]
            assert len(in_window) <= p.usable_per_15m(e)


def test_the_guard_state_survives_a_round_trip_through_storage_text() -> None:
    b = Budget.start(PAY_PER_USE, T0)
    for n in range(5):
        b = b.record(Endpoint.SEARCH, 1, 0, T0 + timedelta(seconds=n), post_ids=[str(n), "7"])
    b = b.observe_limits(Endpoint.SEARCH, 440, (T0 + timedelta(minutes=15)).timestamp(), T0)
    b = b.cap_reached(T0 + timedelta(seconds=9))
    again = BudgetState.from_json(b.state.to_json())
    assert again == b.state
    resumed = Budget.resume(PAY_PER_USE, again, T0 + timedelta(seconds=10))
    assert resumed.may_request(Endpoint.SEARCH, T0 + timedelta(seconds=10)) > 86400
    assert resumed.state.reads == 6  # "7" billed once that day
    with pytest.raises(ValueError, match="not a stored"):
        BudgetState.from_json('{"reads": 1}')


def test_used_up_until_the_month_ends_when_a_search_would_pass_the_cap() -> None:
    from bot.x.budget import used_up_until

    plan = plan_preset("basic")
    cap = plan.usable_reads()
    assert cap is not None
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    left = Budget.start(plan, now, reads=int(cap) - plan.max_results).state
    assert used_up_until(plan, left, now) is None  # one more full search fits
    spent = Budget.start(plan, now, reads=int(cap) - plan.max_results + 1).state
    end = used_up_until(plan, spent, now)
    assert end is not None and end > now and end.day == plan.reset_day
    assert used_up_until(plan, spent, end) is None  # a new month starts from zero
