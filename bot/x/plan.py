"""Plan X API polling within the operator's plan: presets, intervals, projections. No I/O.

Two polling strategies watch many X accounts:

- ``per_account``: each account's timeline (``GET /2/users/:id/tweets``) with its own since_id;
- ``batched``: recent search (``GET /2/tweets/search/recent``) for ``from:<id> OR …`` packed up
  to the plan's query-length limit (`bot.x.query`): one request covers many accounts.

`plan_polling` sets each account's or batch's interval so that no per-15-minute request limit and no
monthly cap is exceeded, and projects monthly reads and cost for ``watchpost sources``. Recent posts
are re-checked for deletion (``GET /2/tweets?ids=``, 100 ids a request) at a rate the budget allows.

Reads are what X bills: every post a response returns, once per UTC day on daily-dedup plans.
Thanks to since_id each new post is read once whatever the interval, so polling less often saves
requests, never reads; only deletion re-checks and first polls add reads. The run-time guard is
`bot.x.budget`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

from bot.x.query import HANDLE, MAX_ID_DIGITS, batch_query, ids_per_batch

__all__ = [
    "BASIC",
    "LOOKUP_BATCH",
    "PAY_PER_USE",
    "PRESETS",
    "PRO",
    "USERS_BATCH",
    "AccountPlan",
    "Endpoint",
    "EndpointRates",
    "PollUnit",
    "PollingPlan",
    "Strategy",
    "XAccount",
    "XPlan",
    "plan_polling",
    "plan_preset",
]

Strategy = Literal["per_account", "batched"]

#: ids one ``GET /2/tweets?ids=`` request may carry
LOOKUP_BATCH = 100
#: usernames (or ids) one ``GET /2/users/by?usernames=`` (``GET /2/users?ids=``) request carries
USERS_BATCH = 100

_WINDOW = 900.0  # seconds in one rate-limit window
_WINDOWS_PER_DAY = 86400.0 / _WINDOW


class Endpoint(StrEnum):
    """An X API endpoint with its own request limit."""

    TIMELINE = "timeline"  #: GET /2/users/:id/tweets
    SEARCH = "search"  #: GET /2/tweets/search/recent
    LOOKUP = "lookup"  #: GET /2/tweets?ids= (deletion re-checks)
    USERS = "users"  #: GET /2/users/by?usernames= (handle to id, for timelines)


@dataclass(frozen=True, slots=True)
class XPlan:
    """The operator's X API plan: caps, prices and request limits.

    Limits are per app (bearer token) and per 15-minute window. Every limit and cap is used up to
    ``margin`` only, which also absorbs the scheduler's jitter.
    """

    name: str
    #: posts that may be read in one billing month; None: no cap
    monthly_read_cap: int | None
    #: price of one post read; None: reads are not billed one by one
    price_per_read: float | None
    timeline_per_15m: int
    search_per_15m: int
    lookup_per_15m: int
    users_per_15m: int
    #: longest recent-search query, in characters
    max_query_length: int = 512
    #: most posts one request returns
    max_results: int = 100
    #: share of every limit and cap that may be used
    margin: float = 0.9
    #: price of one request, on plans that bill requests
    price_per_request: float | None = None
    #: the plan's fixed fee per month
    monthly_fee: float | None = None
    #: most that usage (reads and requests, the fee aside) may cost in a month; None: no limit
    monthly_spend_cap: float | None = None
    #: X bills a post returned several times in one (UTC) day once
    daily_dedup: bool = False
    #: day of the month the read cap resets (1-28, UTC midnight): the plan's billing day
    reset_day: int = 1
    #: price of one user read (a handle lookup returns users, not posts); None: not billed
    price_per_user_read: float | None = None

    def __post_init__(self) -> None:
        """Reject figures that cannot describe a plan."""
        for field in ("timeline_per_15m", "search_per_15m", "lookup_per_15m", "users_per_15m"):
            if getattr(self, field) < 0:
                raise ValueError(f"{field} must not be negative")
        if self.max_query_length < 1 or self.max_results < 1:
            raise ValueError("max_query_length and max_results must be positive")
        if not 0 < self.margin <= 1:
            raise ValueError("margin must be in (0, 1]")
        if not 1 <= self.reset_day <= 28:
            raise ValueError("reset_day must be 1-28")
        money = (
            "price_per_read",
            "price_per_request",
            "monthly_fee",
            "monthly_spend_cap",
            "price_per_user_read",
        )
        for field in ("monthly_read_cap", *money):
            value = getattr(self, field)
            if value is not None and value < 0:
                raise ValueError(f"{field} must not be negative")

    def limit_per_15m(self, endpoint: Endpoint) -> int:
        """The plan's request limit for `endpoint` per 15 minutes."""
        return {
            Endpoint.TIMELINE: self.timeline_per_15m,
            Endpoint.SEARCH: self.search_per_15m,
            Endpoint.LOOKUP: self.lookup_per_15m,
            Endpoint.USERS: self.users_per_15m,
        }[endpoint]

    def usable_per_15m(self, endpoint: Endpoint) -> int:
        """Requests to `endpoint` that may be made per 15 minutes: the limit times the margin."""
        return math.floor(self.limit_per_15m(endpoint) * self.margin)

    def usable_reads(self) -> float | None:
        """Reads that may be made per month: the cap times the margin, or None."""
        return None if self.monthly_read_cap is None else self.monthly_read_cap * self.margin

    def usable_spend(self) -> float | None:
        """What usage may cost per month: the spend cap times the margin, or None."""
        return None if self.monthly_spend_cap is None else self.monthly_spend_cap * self.margin


#: Pay-per-use (credits), the only plan for new developers since February 2026 (issue 8):
#: $0.005 per post read and $0.010 per user read, a post billed once per UTC day, a cap of
#: 3,000,000 post reads a month since August 2026; per-app limits per 15 min: user timeline
#: 10,000, recent search 450 (512-character queries), post lookup 3,500, users lookup 300.
#: Check every figure against the operator's contract and Developer Console; X changes them.
PAY_PER_USE = XPlan(
    name="pay-per-use",
    monthly_read_cap=3_000_000,
    price_per_read=0.005,
    price_per_user_read=0.010,
    timeline_per_15m=10_000,
    search_per_15m=450,
    lookup_per_15m=3_500,
    users_per_15m=300,
    max_query_length=512,
    daily_dedup=True,
)

#: Legacy Basic ($200 a month): 15,000 post reads a month (10,000 in older documents), per-app
#: limits per 15 min: user timeline 10, recent search 60 (512-character queries), post lookup 15;
#: users lookup is 500 per 24 hours, about 5 per 15 min. Check every figure against the operator's
#: contract; X changes them.
BASIC = XPlan(
    name="basic",
    monthly_read_cap=15_000,
    price_per_read=None,
    timeline_per_15m=10,
    search_per_15m=60,
    lookup_per_15m=15,
    users_per_15m=5,
    max_query_length=512,
    monthly_fee=200.0,
    daily_dedup=True,
)

#: Legacy Pro ($5,000 a month), for existing subscribers: 1,000,000 post reads a month, per-app
#: limits per 15 min: user timeline 1,500, recent search 450, post lookup 450, users lookup 300.
#: Recent search takes 512-character queries on Basic and Pro (1,024 is full-archive search on
#: Pro; issue 8: with 1,024 every batch from the 26th account on answered 400).
#: Check every figure against the operator's contract; X changes them.
PRO = XPlan(
    name="pro",
    monthly_read_cap=1_000_000,
    price_per_read=None,
    timeline_per_15m=1_500,
    search_per_15m=450,
    lookup_per_15m=450,
    users_per_15m=300,
    max_query_length=512,
    monthly_fee=5000.0,
    daily_dedup=True,
)

#: the presets by the name a setting uses
PRESETS: Mapping[str, XPlan] = MappingProxyType({p.name: p for p in (PAY_PER_USE, BASIC, PRO)})


def plan_preset(name: str) -> XPlan:
    """The preset plan called `name` ("pay-per-use", "basic" or "pro").

    Raises:
        ValueError: no preset has that name.
    """
    try:
        return PRESETS[name.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown X plan {name!r}; known: {', '.join(PRESETS)}") from None


@dataclass(frozen=True, slots=True)
class XAccount:
    """One watched X account and how fresh its posts must arrive."""

    #: the source key ("x:<handle>")
    key: str
    #: the handle without "@"
    handle: str
    #: the longest acceptable wait between polls
    freshness: timedelta
    #: posts it is expected to publish per day
    expected_posts_per_day: float

    def __post_init__(self) -> None:
        """Reject a handle X cannot have, a freshness of no time, negative posts."""
        if not HANDLE.fullmatch(self.handle):
            raise ValueError(f"{self.key}: not an X handle: {self.handle!r}")
        if self.freshness <= timedelta(0):
            raise ValueError(f"{self.key}: freshness must be positive")
        if not self.expected_posts_per_day >= 0:
            raise ValueError(f"{self.key}: expected_posts_per_day must not be negative")


@dataclass(frozen=True, slots=True)
class EndpointRates:
    """A figure for each endpoint (requests per 15 minutes)."""

    timeline: float = 0.0
    search: float = 0.0
    lookup: float = 0.0
    users: float = 0.0

    def of(self, endpoint: Endpoint) -> float:
        """The figure for `endpoint`."""
        return float(getattr(self, endpoint.value))


@dataclass(frozen=True, slots=True)
class PollUnit:
    """One stream of requests: an account's timeline, or one batch's search."""

    endpoint: Endpoint
    #: the accounts it covers, by source key
    keys: tuple[str, ...]
    handles: tuple[str, ...]
    #: the search query exactly as sent; None for a timeline
    query: str | None
    #: the freshness its most demanding account asks for
    asked: timedelta
    #: the interval planned: never shorter than `asked`
    interval: timedelta
    requests_per_15m: float
    #: new posts and the first poll
    reads_per_month: float


@dataclass(frozen=True, slots=True)
class AccountPlan:
    """One row of ``watchpost sources``: how one account is polled, and what it costs."""

    key: str
    handle: str
    asked: timedelta
    #: the interval its unit is polled at
    interval: timedelta
    #: index into `PollingPlan.units`
    unit: int
    #: its new posts, their deletion re-checks, and its share of the first poll
    reads_per_month: float
    #: its reads and its share of requests at the plan's prices; None if the plan has none
    cost_per_month: float | None


@dataclass(frozen=True, slots=True)
class PollingPlan:
    """What `plan_polling` decided, with the projections and the reasons for each cut."""

    strategy: Strategy
    plan_name: str
    days_in_month: int
    units: tuple[PollUnit, ...]
    accounts: tuple[AccountPlan, ...]
    deletion_window: timedelta
    deletion_checks_asked: float
    #: sweeps of the deletion window per day, as planned (may be below what was asked)
    deletion_checks_per_day: float
    #: projected requests per 15 minutes per endpoint, steady state
    requests_per_15m: EndpointRates
    requests_per_month: float
    reads_new: float
    reads_first_poll: float
    reads_deletion: float
    reads_per_month: float
    #: fee plus usage; None when the plan has no prices
    cost_per_month: float | None
    #: handle-to-id requests at start (timelines need user ids)
    user_lookups: int
    #: every limit respected (False only when no interval can respect one)
    within_limits: bool
    #: the read cap and the spend cap respected
    within_caps: bool
    #: what was cut and why; empty when everything asked fits
    warnings: tuple[str, ...]

    def account(self, key: str) -> AccountPlan | None:
        """The plan of the account with source key `key`, or None."""
        for a in self.accounts:
            if a.key == key:
                return a
        return None

    @property
    def worst_interval(self) -> timedelta:
        """The longest interval any account is polled at (zero when there are none)."""
        return max((u.interval for u in self.units), default=timedelta(0))


# --- planning --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Unit:
    endpoint: Endpoint
    accounts: tuple[XAccount, ...]
    query: str | None

    @property
    def asked(self) -> float:
        return min(a.freshness.total_seconds() for a in self.accounts)

    @property
    def posts_per_day(self) -> float:
        return sum(a.expected_posts_per_day for a in self.accounts)


def _ceil_seconds(seconds: float) -> float:
    # Whole seconds, rounded up, so rounding never makes a poll more frequent.
    return float(math.ceil(seconds - 1e-9)) if seconds > 0 else 0.0


def _interval(asked: float, floor: float) -> float:
    return max(_ceil_seconds(asked), _ceil_seconds(floor), 1.0)


def _unit_rate(unit: _Unit, interval: float, max_results: int) -> float:
    # Requests per window: one per poll, plus the extra pages that posts beyond one page need
    # (pages per poll are at most 1 + posts/max_results).
    return _WINDOW / interval + unit.posts_per_day / _WINDOWS_PER_DAY / max_results


def _poll_rate(units: Sequence[_Unit], floor: float, max_results: int) -> float:
    return sum(_unit_rate(u, _interval(u.asked, floor), max_results) for u in units)


def _water_floor(asked: Sequence[float], polls_per_second: float) -> float:
    """The smallest floor T with sum(1 / max(a, T)) <= polls_per_second; 0 if none is needed.

    Raising only the fastest intervals to a common floor keeps the longest interval as short as
    the limit allows.
    """
    if sum(1 / a for a in asked) <= polls_per_second:
        return 0.0
    fs = sorted(asked)
    tail = sum(1 / f for f in fs)
    for k in range(1, len(fs) + 1):
        tail -= 1 / fs[k - 1]
        rest = polls_per_second - tail
        if rest <= 0:
            continue
        t = k / rest
        if k == len(fs) or t <= fs[k]:
            return max(t, fs[k - 1])
    return math.inf


def _shrink(value: float, fits: Callable[[float], bool]) -> float:
    # A quotient may overshoot its bound by a rounding error: step down to a value that fits.
    while value > 0 and not fits(value):
        value = math.nextafter(value, 0.0)
    return value


def _secs(seconds: float) -> str:
    if seconds >= 3600 and seconds % 60 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 120:
        return f"{seconds / 60:.3g} min"
    return f"{seconds:g} s"


def _check_inputs(
    accounts: Sequence[XAccount],
    strategy: Strategy,
    days_in_month: int,
    deletion_checks_per_day: float,
    deletion_window: timedelta,
) -> None:
    if strategy not in ("per_account", "batched"):
        raise ValueError(f"unknown strategy {strategy!r}")
    if days_in_month < 1 or deletion_checks_per_day < 0 or deletion_window < timedelta(0):
        raise ValueError("days_in_month, deletion checks and window must not be negative")
    if len({a.key for a in accounts}) != len(accounts):
        raise ValueError("account keys must be unique")
    if len({a.handle.lower() for a in accounts}) != len(accounts):
        raise ValueError("account handles must be unique")


def _polling_units(
    accounts: Sequence[XAccount], plan: XPlan, strategy: Strategy, query_suffix: str
) -> tuple[Endpoint, list[_Unit]]:
    """Step 0: the streams of requests, accounts of similar freshness together."""
    ordered = sorted(accounts, key=lambda a: (a.freshness, a.handle.lower()))
    if strategy == "per_account":
        return Endpoint.TIMELINE, [_Unit(Endpoint.TIMELINE, (a,), None) for a in ordered]
    # Queries name accounts by id: pack for the longest id, so every real batch fits.
    placeholder = "9" * MAX_ID_DIGITS
    size = ids_per_batch(plan.max_query_length, query_suffix)
    return Endpoint.SEARCH, [
        _Unit(
            Endpoint.SEARCH,
            tuple(ordered[i : i + size]),
            batch_query([placeholder] * len(ordered[i : i + size]), query_suffix),
        )
        for i in range(0, len(ordered), size)
    ]


def _rate_floor(
    units: Sequence[_Unit], plan: XPlan, endpoint: Endpoint, max_interval: timedelta
) -> tuple[float, bool, str | None]:
    """Step 1: the shortest interval the endpoint's request limit allows every unit; whether
    the limit can be kept at all, and the warning when it cannot."""
    if not units:
        return 0.0, True, None
    usable = plan.usable_per_15m(endpoint)
    pages = sum(u.posts_per_day for u in units) / _WINDOWS_PER_DAY / plan.max_results
    budget = (usable - pages) / _WINDOW
    floor = _water_floor([u.asked for u in units], budget) if budget > 0 else math.inf
    if math.isinf(floor):
        floor = max_interval.total_seconds()
        return (
            floor,
            False,
            f"{endpoint} limit {plan.limit_per_15m(endpoint)}/15 min (using {usable}) cannot "
            f"carry {len(units)} polling units: even every {_secs(floor)} exceeds it",
        )
    while _poll_rate(units, floor, plan.max_results) > usable:
        floor = _ceil_seconds(floor) + 1.0
    return floor, True, None


@dataclass(frozen=True, slots=True)
class _Usage:
    """The month's projected reads, requests and spend as functions of the two figures the cuts
    move: deletion re-checks a day (``checks``) and the interval floor (``floor``, seconds)."""

    plan: XPlan
    units: tuple[_Unit, ...]
    accounts: int
    days_in_month: int
    #: the deletion window in days, and lookup requests one sweep of it takes
    window_days: float
    per_sweep: float
    #: posts read once as new, and read by first polls, in the month
    reads_new: float
    reads_first: float
    #: users requests that resolve the handles to ids (once, 100 a request, both strategies)
    user_lookups: int

    def deletion_reads(self, checks: float) -> float:
        """Billed reads of deletion re-checks in a month at `checks` sweeps a day."""
        # X's daily dedup: re-reading a post on a day it was already read is free, so at most one
        # billed read per day the window reaches past its first.
        per_post = self.window_days * (min(checks, 1.0) if self.plan.daily_dedup else checks)
        return self.reads_new * per_post

    def deletion_requests(self, checks: float) -> float:
        """Lookup requests of deletion re-checks in a month at `checks` sweeps a day."""
        return checks * self.per_sweep * self.days_in_month

    def poll_requests(self, floor: float) -> float:
        """Polling requests in a month with intervals no shorter than `floor` seconds."""
        return (
            _poll_rate(self.units, floor, self.plan.max_results)
            * _WINDOWS_PER_DAY
            * self.days_in_month
        )

    def reads(self, checks: float) -> float:
        """Every billed post read in a month: new posts, first polls, deletion re-checks."""
        return self.reads_new + self.reads_first + self.deletion_reads(checks)

    def cost(self, checks: float, floor: float) -> float:
        """Usage-based spend in a month (the monthly fee not included)."""
        plan = self.plan
        reads = self.reads(checks)
        requests = self.poll_requests(floor) + self.deletion_requests(checks) + self.user_lookups
        return (
            reads * (plan.price_per_read or 0.0)
            + requests * (plan.price_per_request or 0.0)
            + self.accounts * (plan.price_per_user_read or 0.0)
        )


@dataclass(frozen=True, slots=True)
class _Cut:
    """What one cut left: deletion re-checks a day, the interval floor (seconds), the limit or
    cap that cut the checks (None: not cut), warnings, and whether the cap can be met at all."""

    checks: float
    floor: float
    cut: str | None = None
    warnings: tuple[str, ...] = ()
    within: bool = True


def _lookup_cut(plan: XPlan, checks: float, per_sweep: float) -> float:
    """Step 2: deletion re-checks a day that fit the lookup request limit (``checks`` when they
    fit already)."""
    lookup_usable = plan.usable_per_15m(Endpoint.LOOKUP)
    if checks > 0 and checks * per_sweep / _WINDOWS_PER_DAY > lookup_usable:
        return _shrink(
            lookup_usable * _WINDOWS_PER_DAY / per_sweep,
            lambda c: c * per_sweep / _WINDOWS_PER_DAY <= lookup_usable,
        )
    return checks


def _read_cap_cut(usage: _Usage, checks: float, floor: float) -> _Cut:
    """Step 3: the monthly read cap; deletion re-checks are the only reads that can be cut.

    New posts and first polls are read once whatever the interval (since_id), so when they alone
    exceed the cap no cut helps: the cap is reported as not met.
    """
    plan = usage.plan
    cap = plan.usable_reads()
    if cap is None or usage.reads(checks) <= cap:
        return _Cut(checks, floor)
    reads_new, reads_first = usage.reads_new, usage.reads_first
    room = cap - reads_new - reads_first
    cut = None
    # Deletion reads grow linearly with the checks up to where they stop costing more.
    per_check = usage.deletion_reads(1.0)
    if per_check > 0:
        checks = _shrink(
            min(checks, max(room, 0.0) / per_check),
            lambda c: room <= 0 or usage.reads(c) <= cap,
        )
        cut = f"the read cap {plan.monthly_read_cap:,}/month (using {cap:,.0f})"
    if room >= 0:
        return _Cut(checks, floor, cut)
    return _Cut(
        checks,
        floor,
        cut,
        (
            f"read cap cannot be met: new posts ({reads_new:,.0f}) and first polls "
            f"({reads_first:,.0f}) alone need more than {cap:,.0f} reads a month; since_id "
            "reads each post once, so polling less often would not help: watch fewer or "
            "quieter accounts, or raise the cap (the run-time guard stops reading at the cap)",
        ),
        within=False,
    )


def _spend_checks(usage: _Usage, checks: float, floor: float, spend: float) -> float:
    """The most deletion re-checks a day (up to ``checks``) that keep usage within ``spend``
    at the interval floor ``floor``; 0 when even none do."""
    if usage.cost(0.0, floor) > spend:
        return 0.0
    lo, hi = 0.0, checks
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if usage.cost(mid, floor) <= spend else (lo, mid)
    return lo


def _spend_floor(usage: _Usage, checks: float, floor: float, slowest: float, spend: float) -> float:
    """The shortest interval floor between ``floor`` and ``slowest`` that keeps usage within
    ``spend`` (whole seconds); ``slowest`` when none does."""
    if usage.cost(checks, slowest) > spend:
        return slowest
    lo, hi = floor, slowest
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if usage.cost(checks, mid) <= spend else (mid, hi)
    return _ceil_seconds(hi)


def _spend_cut(usage: _Usage, checks: float, floor: float, max_interval: timedelta) -> _Cut:
    """Step 4: the spend cap; deletion re-checks are cut first, then (only when requests are
    billed: polling less often reads no fewer posts) intervals are stretched up to
    ``max_interval``."""
    plan = usage.plan
    spend = plan.usable_spend()
    if spend is None or usage.cost(checks, floor) <= spend:
        return _Cut(checks, floor)
    before = checks
    checks = _spend_checks(usage, checks, floor, spend)
    cut = None
    if checks < before:
        cut = f"the spend cap {plan.monthly_spend_cap:g}/month (using {spend:g})"
    warnings: list[str] = []
    slowest = max(max_interval.total_seconds(), floor)
    if usage.cost(checks, floor) > spend and plan.price_per_request and usage.units:
        floor = _spend_floor(usage, checks, floor, slowest, spend)
        warnings.append(
            f"intervals stretched to at least {_secs(_ceil_seconds(floor))} for the spend cap"
        )
    within = usage.cost(checks, floor) <= spend
    if not within:
        warnings.append(
            f"spend cap cannot be met: usage is projected at {usage.cost(checks, floor):,.2f} "
            f"a month against {spend:,.2f} even with the cuts above"
        )
    return _Cut(checks, floor, cut, tuple(warnings), within)


def _poll_units(
    units: Sequence[_Unit], floor: float, max_results: int, days_in_month: int, first: int
) -> list[PollUnit]:
    """Step 5: each unit's interval (as asked, never under the floor) and its figures."""
    built: list[PollUnit] = []
    for u in units:
        interval = _interval(u.asked, floor)
        built.append(
            PollUnit(
                endpoint=u.endpoint,
                keys=tuple(a.key for a in u.accounts),
                handles=tuple(a.handle for a in u.accounts),
                query=u.query,
                asked=timedelta(seconds=u.asked),
                interval=timedelta(seconds=interval),
                requests_per_15m=_unit_rate(u, interval, max_results),
                reads_per_month=u.posts_per_day * days_in_month + first,
            )
        )
    return built


def _freshness_warning(
    units: Sequence[_Unit], rate_floor: float, plan: XPlan, endpoint: Endpoint, accounts: int
) -> str | None:
    """The warning naming the accounts the request limit polls less often than asked."""
    stretched = [u for u in units if _interval(u.asked, rate_floor) > _interval(u.asked, 0.0)]
    if not stretched:
        return None
    slowest_asked = max(u.asked for u in stretched)
    return (
        f"freshness not reachable for {sum(len(u.accounts) for u in stretched)} of "
        f"{accounts} accounts: the {endpoint} limit {plan.limit_per_15m(endpoint)}/15 min "
        f"(using {plan.usable_per_15m(endpoint)}) allows no poll more often than every "
        f"{_secs(_interval(0.0, rate_floor))} (asked: {_secs(min(u.asked for u in stretched))}"
        f" to {_secs(slowest_asked)})"
    )


def _account_rows(
    units: Sequence[_Unit],
    built: Sequence[PollUnit],
    usage: _Usage,
    checks: float,
    posts_day: float,
    first: int,
) -> list[AccountPlan]:
    """Each account's interval, reads and cost: its unit's shared costs split by posts."""
    plan, days_in_month = usage.plan, usage.days_in_month
    reads_del = usage.deletion_reads(checks)
    rows: list[AccountPlan] = []
    for i, (u, pu) in enumerate(zip(units, built, strict=True)):
        unit_requests = pu.requests_per_15m * _WINDOWS_PER_DAY * days_in_month
        for a in u.accounts:
            own_posts = a.expected_posts_per_day * days_in_month
            share = a.expected_posts_per_day / posts_day if posts_day > 0 else 0.0
            reads = own_posts + (reads_del * share) + first / len(u.accounts)
            requests = unit_requests / len(u.accounts) + usage.deletion_requests(checks) * share
            requests += usage.user_lookups / usage.accounts
            row_cost = None
            if plan.price_per_read is not None or plan.price_per_request is not None:
                row_cost = (
                    reads * (plan.price_per_read or 0.0)
                    + requests * (plan.price_per_request or 0.0)
                    + (plan.price_per_user_read or 0.0)
                )
            rows.append(AccountPlan(a.key, a.handle, a.freshness, pu.interval, i, reads, row_cost))
    return rows


def plan_polling(
    accounts: Sequence[XAccount],
    plan: XPlan,
    *,
    strategy: Strategy,
    deletion_window: timedelta = timedelta(hours=48),
    deletion_checks_per_day: float = 4.0,
    days_in_month: int = 30,
    first_poll_results: int | None = None,
    max_interval: timedelta = timedelta(hours=6),
    query_suffix: str = "",
) -> PollingPlan:
    """Set poll intervals and deletion re-checks within `plan`, and project reads and cost.

    Intervals are never shorter than asked. A request limit raises the fastest intervals to a
    common floor, the smallest that fits. Deletion re-checks are reduced to fit the lookup limit.
    When a monthly cap would be exceeded, deletion re-checks are reduced first, then (only when
    requests are billed, since polling less often reads no fewer posts) intervals are stretched up
    to `max_interval`; each cut is named in `warnings`.

    Args:
        accounts: the accounts to watch; keys and handles unique.
        plan: the operator's plan.
        strategy: ``"per_account"`` (timelines) or ``"batched"`` (recent search).
        deletion_window: how long after publication posts are re-checked for deletion.
        deletion_checks_per_day: sweeps of the window per day wanted.
        days_in_month: the month's length for the projection.
        first_poll_results: posts the first poll of each unit reads (default: `plan.max_results`).
        max_interval: the slowest interval stretched to for a spend cap.
        query_suffix: operators appended to every batch query (see `batch_query`).

    Returns:
        The plan, its projections, and warnings that say what was cut.

    Raises:
        ValueError: duplicate keys or handles, an unknown strategy, or a negative figure.
    """
    _check_inputs(accounts, strategy, days_in_month, deletion_checks_per_day, deletion_window)
    first = plan.max_results if first_poll_results is None else first_poll_results
    warnings: list[str] = []
    endpoint, units = _polling_units(accounts, plan, strategy, query_suffix)

    # 1. The endpoint's request limit: a floor under the fastest intervals.
    rate_floor, within_limits, problem = _rate_floor(units, plan, endpoint, max_interval)
    if problem:
        warnings.append(problem)

    # 2. Deletion re-checks: the lookup limit.
    posts_day = sum(a.expected_posts_per_day for a in accounts)
    window_days = deletion_window.total_seconds() / 86400
    in_window = posts_day * window_days
    per_sweep = 1 + in_window / LOOKUP_BATCH if in_window > 0 else 0.0
    checks = _lookup_cut(plan, deletion_checks_per_day, per_sweep)
    cuts: list[str] = []
    if checks != deletion_checks_per_day:
        cuts.append(f"the lookup limit {plan.limit_per_15m(Endpoint.LOOKUP)}/15 min")

    usage = _Usage(
        plan=plan,
        units=tuple(units),
        accounts=len(accounts),
        days_in_month=days_in_month,
        window_days=window_days,
        per_sweep=per_sweep,
        reads_new=posts_day * days_in_month,
        reads_first=float(len(units) * first),
        user_lookups=math.ceil(len(accounts) / USERS_BATCH),
    )

    # 3. The monthly read cap, then 4. the spend cap.
    within_caps = True
    floor = rate_floor
    read_cut = _read_cap_cut(usage, checks, floor)
    spend_cut = _spend_cut(usage, read_cut.checks, read_cut.floor, max_interval)
    for c in (read_cut, spend_cut):
        cuts.extend([c.cut] if c.cut else [])
        warnings.extend(c.warnings)
        within_caps = within_caps and c.within
    checks, floor = spend_cut.checks, spend_cut.floor

    if checks < deletion_checks_per_day:
        warnings.insert(
            0,
            f"deletion checks reduced from {deletion_checks_per_day:g} to {checks:.3g} a day "
            f"for {' and '.join(cuts)}",
        )

    # 5. Intervals as they will be used, and the final figures from them.
    built = _poll_units(units, floor, plan.max_results, days_in_month, first)
    freshness = _freshness_warning(units, rate_floor, plan, endpoint, len(accounts))
    if freshness and within_limits:
        warnings.insert(0, freshness)

    poll_rate = sum(u.requests_per_15m for u in built)
    lookup_rate = checks * per_sweep / _WINDOWS_PER_DAY
    rates = EndpointRates(
        timeline=poll_rate if endpoint is Endpoint.TIMELINE else 0.0,
        search=poll_rate if endpoint is Endpoint.SEARCH else 0.0,
        lookup=lookup_rate,
    )
    reads_del = usage.deletion_reads(checks)
    requests_month = (
        poll_rate * _WINDOWS_PER_DAY * days_in_month
        + usage.deletion_requests(checks)
        + usage.user_lookups
    )
    reads_total = usage.reads_new + usage.reads_first + reads_del
    priced = (plan.price_per_read, plan.price_per_request, plan.monthly_fee)
    cost = None
    if any(p is not None for p in priced):
        cost = (plan.monthly_fee or 0.0) + usage.cost(checks, floor)
    if plan.users_per_15m and usage.user_lookups > plan.usable_per_15m(Endpoint.USERS):
        warnings.append(
            f"resolving {len(accounts)} handles takes {usage.user_lookups} users requests at "
            f"start, more than the {plan.usable_per_15m(Endpoint.USERS)} one window allows: "
            "start is spread out"
        )

    return PollingPlan(
        strategy=strategy,
        plan_name=plan.name,
        days_in_month=days_in_month,
        units=tuple(built),
        accounts=tuple(_account_rows(units, built, usage, checks, posts_day, first)),
        deletion_window=deletion_window,
        deletion_checks_asked=deletion_checks_per_day,
        deletion_checks_per_day=checks,
        requests_per_15m=rates,
        requests_per_month=requests_month,
        reads_new=usage.reads_new,
        reads_first_poll=usage.reads_first,
        reads_deletion=reads_del,
        reads_per_month=reads_total,
        cost_per_month=cost,
        user_lookups=usage.user_lookups,
        within_limits=within_limits,
        within_caps=within_caps,
        warnings=tuple(warnings),
    )
