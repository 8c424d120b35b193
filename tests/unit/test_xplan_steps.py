"""The planner's steps on their own: each cut of `plan_polling`, with plain values."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.x.plan import (
    Endpoint,
    XAccount,
    XPlan,
    _freshness_warning,
    _lookup_cut,
    _read_cap_cut,
    _spend_cut,
    _Unit,
    _Usage,
    _water_floor,
)


def _plan(**kw: object) -> XPlan:
    base: dict[str, object] = {
        "name": "t",
        "monthly_read_cap": None,
        "price_per_read": None,
        "timeline_per_15m": 100,
        "search_per_15m": 100,
        "lookup_per_15m": 100,
        "users_per_15m": 100,
        "margin": 1.0,
    }
    base.update(kw)
    return XPlan(**base)  # type: ignore[arg-type]


def _unit(freshness: float = 60.0, posts: float = 0.0) -> _Unit:
    a = XAccount("x:a", "a", timedelta(seconds=freshness), posts)
    return _Unit(Endpoint.TIMELINE, (a,), None)


def _usage(plan: XPlan, *, reads_new: float = 0.0, reads_first: float = 0.0) -> _Usage:
    return _Usage(
        plan=plan,
        units=(_unit(),),
        accounts=1,
        days_in_month=30,
        window_days=2.0,
        per_sweep=1.0,
        reads_new=reads_new,
        reads_first=reads_first,
        user_lookups=1,
    )


def test_the_water_floor_raises_only_the_fastest_intervals() -> None:
    assert _water_floor([60.0, 600.0], 1.0) == 0.0  # fits: nothing raised
    # 1/T + 1/T + 1/600 <= 1/100 gives T = 240: both 60 s units raised, the 600 s one kept
    assert _water_floor([60.0, 60.0, 600.0], 1 / 100) == pytest.approx(240.0)


def test_deletion_checks_fit_the_lookup_limit() -> None:
    plan = _plan(lookup_per_15m=1)
    assert _lookup_cut(plan, 4.0, 1.0) == 4.0  # 4 sweeps a day is far under 1 per 15 min
    cut = _lookup_cut(plan, 1000.0, 1.0)
    assert cut < 1000.0 and cut * 1.0 / 96 <= 1  # at most one lookup per window
    assert _lookup_cut(plan, 0.0, 1.0) == 0.0


def test_the_read_cap_cuts_deletion_checks_only() -> None:
    usage = _usage(_plan(monthly_read_cap=1_000), reads_new=100.0)
    # 100 new posts re-read over a 2-day window: 200 reads a check; 900 reads of room
    cut = _read_cap_cut(usage, 10.0, 60.0)
    assert cut.within and cut.floor == 60.0 and cut.cut is not None
    assert usage.reads(cut.checks) <= 1_000 and cut.checks > 4.0


def test_a_read_cap_new_posts_alone_exceed_is_reported_not_met() -> None:
    usage = _usage(_plan(monthly_read_cap=1_000), reads_new=2_000.0)
    cut = _read_cap_cut(usage, 4.0, 60.0)
    assert not cut.within and cut.checks == 0.0
    assert cut.warnings and cut.warnings[0].startswith("read cap cannot be met")


def test_the_spend_cap_cuts_checks_before_stretching_intervals() -> None:
    plan = _plan(price_per_read=0.01, price_per_request=0.001, monthly_spend_cap=100.0)
    usage = _usage(plan, reads_new=1_000.0)
    # the deletion re-checks alone go over: they are cut, intervals are kept
    cut = _spend_cut(usage, 24.0, 60.0, timedelta(hours=6))
    assert cut.checks < 24.0 and cut.floor == 60.0 and cut.within and cut.cut is not None
    assert usage.cost(cut.checks, cut.floor) <= 100.0


def test_the_spend_cap_stretches_intervals_when_requests_are_billed() -> None:
    plan = _plan(price_per_request=0.01, monthly_spend_cap=100.0)
    usage = _usage(plan)
    # a 60 s poll is 43,200 requests a month: 432; only longer intervals fit
    cut = _spend_cut(usage, 0.0, 60.0, timedelta(hours=6))
    assert cut.floor > 60.0 and cut.within
    assert cut.warnings[0].startswith("intervals stretched to at least")
    assert usage.cost(0.0, cut.floor) <= 100.0 < usage.cost(0.0, cut.floor - 2.0)


def test_a_spend_cap_nothing_meets_is_reported_not_met() -> None:
    plan = _plan(price_per_read=1.0, monthly_spend_cap=10.0)
    usage = _usage(plan, reads_new=1_000.0)
    cut = _spend_cut(usage, 4.0, 60.0, timedelta(hours=6))
    assert cut.checks == 0.0 and not cut.within
    assert cut.warnings[-1].startswith("spend cap cannot be met")


def test_freshness_warning_names_only_the_units_the_limit_slows() -> None:
    plan = _plan()
    units = [_unit(30.0), _unit(3600.0)]
    assert _freshness_warning(units, 0.0, plan, Endpoint.TIMELINE, 2) is None
    warning = _freshness_warning(units, 120.0, plan, Endpoint.TIMELINE, 2)
    assert warning is not None and warning.startswith("freshness not reachable for 1 of 2")
