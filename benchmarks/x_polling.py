"""X polling on a simulated clock: a month with incidents per plan; strategies; a capped month.

Run from the repository root (by hand; never part of the tests)::

    python benchmarks/x_polling.py [--seed 1] [--month-freshness 900]     # the issue-8 months
    python benchmarks/x_polling.py --strategies --cap-month [--quick]      # the older measurements

The default run (about two minutes) is two simulated billing months, pay-per-use and Pro, of 100
accounts in batched search with deletion checks on, a rename with the freed handle re-registered
by an impostor, a suspension and a 9-day outage in the middle (`benchmarks/_x_month.py` says how
and what is real). Goals: 0 impostor statements, 0 false deletions, 0 posts lost, billed reads
within the plan's cap; cost and worst freshness beside the planner's projection.

The older measurements below go through the whole worker (`open_app`, SQLite) and take long.

Everything real but the clock and the X API: `bot.app.open_app` with a SQLite database in a
temporary directory, the real `XFetcher` (tweepy) and budget guard, against `FakeX` served by
`LocalServer` on 127.0.0.1. One simulated clock drives the app (``open_app(clock=...)``) and the
fake (``FakeX(clock=...)``): a loop publishes the posts that are due, calls
``app.poller.poll_due()`` every tick and ``app.deletions.check()`` at the worker's cadence
(``run_worker``: every ``min(60 s, the checker's interval)``), then advances the clock one tick.

Posts: each account publishes a Poisson stream (seeded) with ``created_at`` at its exact
simulated instant, which the next tick finds; every account has a few older posts, so first polls
read something. The watchlist says ``match: all``, so every post becomes one statement.

Three measurements:

1. Requests per simulated hour for ``--accounts`` accounts at ``--freshness`` seconds, strategy
   ``per_account`` against ``batched``, after a warm-up that holds the first polls (handle
   lookups, priming). The plan is ``pay-per-use``: its limits do not bind here (``pro`` would:
   100 timelines every 60 s are 1,500 requests per 15 minutes, above its 1,350 usable), so the
   comparison is of the strategies alone. Goal: batched needs at least 15 times fewer requests.
2. Post reads per new statement in the same window, for both (goal ≤ 1.1: nothing read twice).
   Polling reads (timelines, search) are judged; deletion re-checks (lookups) are deliberate
   second reads and are shown apart.
3. A simulated month (30 days from the 1st, the day X's and the guard's month begins) on a plan
   with a 15,000-read cap and 10 requests per 15 minutes on every endpoint, strategy ``batched``.
   The plan is the ``basic`` preset with the cap and limits overridden by settings
   (``WATCHPOST_X_MONTHLY_READ_CAP``, ``WATCHPOST_X_*_PER_15M``); the fake gets the same.
   Goal: the reads used stay within the cap. A month of 100 accounts at 8 posts a day is 24,000
   posts, more than the cap can ever read, so the month models ``--month-posts-per-day`` (4:
   12,000 posts) and its tick is ``--month-step`` (60 s; the planner's intervals are minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import logging
import random
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# the incident months live beside this file (run as a script, its folder is on sys.path)
from _x_month import MonthResult, MonthScenario, run_month  # noqa: E402

import bot.app as bot_app  # noqa: E402
import storage  # noqa: E402
from bot.app import open_app  # noqa: E402
from bot.console import ConsoleSender  # noqa: E402
from bot.fakes.http import LocalServer  # noqa: E402
from bot.fakes.x_api import Endpoint as FakeEndpoint  # noqa: E402
from bot.fakes.x_api import FakeX, XCall  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.watchlist import parse_watchlist  # noqa: E402
from bot.x.plan import BASIC, PAY_PER_USE, PRO, XPlan, plan_preset  # noqa: E402
from storage.schema import SourceRow, StatementRow  # noqa: E402

TOKEN = "bench-x-bearer"
#: June has 30 days and starts a billing month for both the guard and the fake.
START = datetime(2026, 6, 1, tzinfo=UTC)
#: older posts per account, so that first polls read what a real account would show
HISTORY = 3
#: 10 requests per 15 minutes on every endpoint, 15,000 reads a month: the month's plan
MONTH_PLAN = replace(
    BASIC,
    name="basic+15k-10per15",
    monthly_read_cap=15_000,
    timeline_per_15m=10,
    search_per_15m=10,
    lookup_per_15m=10,
    users_per_15m=10,
)
_WORDS = (
    "ceasefire",
    "corridor",
    "shelling",
    "talks",
    "envoy",
    "ministry",
    "statement",
    "villages",
    "border",
    "civilians",
    "humanitarian",
    "convoy",
    "negotiations",
    "positions",
    "artillery",
    "drone",
    "strike",
    "mediators",
    "observers",
    "agreement",
    "violation",
    "reports",
    "casualties",
    "evacuation",
    "prisoners",
    "exchange",
    "delegation",
    "summit",
    "sovereignty",
    "territory",
    "withdrawal",
    "monitoring",
    "mission",
    "council",
    "resolution",
    "appeal",
    "condemn",
    "reject",
    "welcome",
    "urge",
    "demand",
    "confirm",
    "deny",
    "announce",
)


class SimClock:
    """Simulated time shared by the app (datetimes) and the fake (epoch seconds)."""

    def __init__(self, start: datetime) -> None:
        self.t = start.timestamp()

    def now(self) -> datetime:
        """The simulated time, UTC."""
        return datetime.fromtimestamp(self.t, UTC)

    def epoch(self) -> float:
        """The simulated time in seconds since the epoch."""
        return self.t


@dataclass(frozen=True, slots=True)
class Scenario:
    """One simulation: who is watched, how, on which plan, for how long."""

    label: str
    strategy: str
    plan: XPlan
    accounts: int
    freshness: float
    posts_per_day: float
    #: the measured span starts this long after the first poll
    warmup: float
    #: the measured span
    span: float
    step: float
    seed: int


@dataclass(frozen=True, slots=True)
class Period:
    """One slice of a long run, to show how the month went."""

    label: str
    requests: int
    reads: int
    new_statements: int
    worst_delay: float


@dataclass
class Result:
    """What one simulation measured (window figures cover the measured span only)."""

    scenario: Scenario
    units: int = 0
    intervals: tuple[float, float] = (0.0, 0.0)
    deletion_checks_per_day: float = 0.0
    projected_reads: float = 0.0
    plan_warnings: tuple[str, ...] = ()
    requests: Counter[str] = field(default_factory=Counter)
    reads: Counter[str] = field(default_factory=Counter)
    total_requests: int = 0
    total_reads: int = 0
    app_requests: int = 0
    app_reads: int = 0
    too_many: int = 0
    published: int = 0
    new_statements: int = 0
    delays: list[float] = field(default_factory=list)
    unread: int = 0
    oldest_unread: float = 0.0
    log_counts: Counter[str] = field(default_factory=Counter)
    log_samples: list[str] = field(default_factory=list)
    periods: list[Period] = field(default_factory=list)
    #: handles in each search request of the window
    search_sizes: list[int] = field(default_factory=list)
    #: the most budget holds in a row one source met
    max_holds: int = 0
    #: seconds from the window's start to its last poll request
    last_poll: float = 0.0
    wall: float = 0.0

    @property
    def poll_requests(self) -> int:
        """Timeline, search and handle-lookup requests in the window."""
        return self.requests["timeline"] + self.requests["search"] + self.requests["users"]

    @property
    def poll_reads(self) -> int:
        """Posts read by timelines and search in the window."""
        return self.reads["timeline"] + self.reads["search"]

    @property
    def worst_delay(self) -> float:
        """The longest wait from a post to its statement, unread posts counted by their age."""
        return max([*self.delays, self.oldest_unread], default=0.0)


_ENDPOINT_NAMES = {
    FakeEndpoint.USER_TWEETS: "timeline",
    FakeEndpoint.SEARCH_RECENT: "search",
    FakeEndpoint.TWEETS: "lookup",
    FakeEndpoint.TWEET: "lookup",
    FakeEndpoint.USERS_BY: "users",
    FakeEndpoint.USER_BY_USERNAME: "users",
}


def fake_limits(plan: XPlan) -> dict[FakeEndpoint, int]:
    """The plan's per-15-minute request limits, as the fake's endpoints."""
    return {
        FakeEndpoint.USER_TWEETS: plan.timeline_per_15m,
        FakeEndpoint.SEARCH_RECENT: plan.search_per_15m,
        FakeEndpoint.TWEETS: plan.lookup_per_15m,
        FakeEndpoint.TWEET: plan.lookup_per_15m,
        FakeEndpoint.USERS_BY: plan.users_per_15m,
        FakeEndpoint.USER_BY_USERNAME: plan.users_per_15m,
    }


def make_handles(n: int, rng: random.Random) -> list[str]:
    """`n` distinct handles of 8 to 15 characters, as officials' handles run."""
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = []
    for i in range(n):
        size = rng.randint(8, 15)
        out.append("".join(rng.choice(letters) for _ in range(size - 3)) + f"{i:03d}")
    return out


def watchlist_text(handles: Sequence[str], freshness: float) -> str:
    """One speaker per handle, every post a statement (``match: all``)."""
    lines = ["speakers:"]
    for n, h in enumerate(handles):
        lines += [
            f"  - id: speaker-{n:03d}",
            f"    name: Speaker {n}",
            "    role: Office",
            f"    side: Side{n % 4}",
            "    timezone: UTC",
            "    sources:",
            f"      - x: {h}",
            f"        interval: {int(freshness)}s",
            "        match: all",
        ]
    lines += [
        "topics:",
        "  - id: conflict",
        "    name: Conflict",
        "    terms:",
        "      en: [ceasefire]",
        "channels:",
        "  - id: main",
        '    chat: "@bench_watch"',
    ]
    return "\n".join(lines) + "\n"


def post_schedule(
    handles: Sequence[str], per_day: float, start: float, end: float, rng: random.Random
) -> list[tuple[float, str]]:
    """Each account's Poisson stream of post times in [start, end), merged, oldest first."""
    out: list[tuple[float, str]] = []
    rate = per_day / 86400.0
    for h in handles:
        if rate <= 0:
            continue
        t = start
        while True:
            t += rng.expovariate(rate)
            if t >= end:
                break
            out.append((t, h))
    out.sort()
    return out


def post_text(serial: int, rng: random.Random) -> str:
    """A distinct post text: no two are repeats or near-duplicates of each other."""
    words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(12, 30)))
    return f"Statement {serial}: {words}."


def plan_env(plan: XPlan) -> dict[str, str]:
    """The settings that make the worker's plan `plan`: its preset, with every figure given."""
    base = plan_preset(plan.name.split("+")[0])
    env = {"WATCHPOST_X_PLAN": base.name}
    figures = {
        "WATCHPOST_X_MONTHLY_READ_CAP": plan.monthly_read_cap or 0,
        "WATCHPOST_X_TIMELINE_PER_15M": plan.timeline_per_15m,
        "WATCHPOST_X_SEARCH_PER_15M": plan.search_per_15m,
        "WATCHPOST_X_LOOKUP_PER_15M": plan.lookup_per_15m,
        "WATCHPOST_X_USERS_PER_15M": plan.users_per_15m,
        "WATCHPOST_X_MAX_QUERY_LENGTH": plan.max_query_length,
    }
    env.update({k: str(v) for k, v in figures.items()})
    return env


_FAILURES = re.compile(r"failures=(\d+)")


class _Counting(logging.Handler):
    """Counts the app's warnings and errors by kind and keeps a few samples."""

    def __init__(self, verbose: bool) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[str] = Counter()
        self.samples: list[str] = []
        self.max_holds = 0
        self.verbose = verbose

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "X budget: search waits" in message or "X budget: timeline waits" in message:
            kind = "poll held back by the budget guard"
            held = _FAILURES.search(message)
            if held:
                self.max_holds = max(self.max_holds, int(held.group(1)))
        elif "X 429" in message:
            kind = "poll answered 429"
        elif "deletion check postponed" in message:
            kind = "deletion check held back"
        elif "X budget:" in message:
            kind = "planner warning"
        else:
            kind = f"{record.levelname.lower()} {record.name}"
        self.counts[kind] += 1
        if len(self.samples) < 5 and message not in self.samples:
            self.samples.append(message)
        if self.verbose:
            print(f"    log {record.levelname}: {message}", file=sys.stderr)


async def simulate(sc: Scenario, *, verbose: bool = False) -> Result:
    """Run one scenario end to end and measure it."""
    rng = random.Random(sc.seed)
    handles = make_handles(sc.accounts, rng)
    clock = SimClock(START)
    t0 = clock.t
    m0, m1 = t0 + sc.warmup, t0 + sc.warmup + sc.span
    plan = sc.plan
    fake = FakeX(
        tokens={TOKEN},
        clock=clock.epoch,
        rate_limits=fake_limits(plan),
        query_length=plan.max_query_length,
        read_cap=plan.monthly_read_cap,
    )
    for h in handles:
        fake.add_user(h, name=h)
        for k in range(HISTORY):
            fake.post(h, post_text(-1, rng) + f" ({h} {k})", created_at=t0 - 3600.0 * (k + 1))
    schedule = post_schedule(handles, sc.posts_per_day, t0, m1, rng)
    published: dict[str, float] = {}
    result = Result(sc)
    handler = _Counting(verbose)
    wp_log = logging.getLogger("watchpost")
    wp_log.addHandler(handler)
    wp_log.propagate = False
    wp_log.setLevel(logging.WARNING)
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as tmp, LocalServer(fake.handle) as server:
            env = {
                "WATCHPOST_DATABASE_URL": f"sqlite:///{Path(tmp) / 'wp.sqlite'}",
                "X_BEARER_TOKEN": TOKEN,
                "X_API_BASE_URL": server.url,
                "WATCHPOST_X_STRATEGY": sc.strategy,
                **plan_env(plan),
                "WATCHPOST_X_EXPECTED_POSTS_PER_DAY": f"{sc.posts_per_day:g}",
                "WATCHPOST_DEFAULT_INTERVAL_SECONDS": str(int(sc.freshness)),
            }
            settings = load_settings(env)
            watchlist = parse_watchlist(watchlist_text(handles, sc.freshness), path="bench.yaml")
            async with open_app(
                settings, watchlist, sender=ConsoleSender(), clock=clock.now
            ) as app:
                # The poll jitter's generator, seeded: the same run gives the same figures.
                app.poller._rng = random.Random(sc.seed)
                await _run(app, sc, clock, fake, schedule, published, rng, result, m1)
                _measure(app, fake, sc, published, result, m0, m1, clock)
    finally:
        wp_log.removeHandler(handler)
        wp_log.propagate = True
    result.wall = time.perf_counter() - started
    result.log_counts = handler.counts
    result.log_samples = handler.samples
    result.max_holds = handler.max_holds
    return result


async def _run(
    app: bot_app.App,
    sc: Scenario,
    clock: SimClock,
    fake: FakeX,
    schedule: list[tuple[float, str]],
    published: dict[str, float],
    rng: random.Random,
    result: Result,
    end: float,
) -> None:
    polling = app.x_plan
    if polling is not None:
        result.units = len(polling.units)
        seconds = [u.interval.total_seconds() for u in polling.units]
        result.intervals = (min(seconds), max(seconds))
        result.deletion_checks_per_day = polling.deletion_checks_per_day
        result.projected_reads = polling.reads_per_month
        result.plan_warnings = polling.warnings
    deletions = app.deletions
    # As `run_worker` schedules the checker.
    every = min(60.0, max(1.0, deletions.every.total_seconds())) if deletions else 0.0
    next_check = clock.t
    i = 0
    while clock.t < end:
        while i < len(schedule) and schedule[i][0] <= clock.t:
            when, handle = schedule[i]
            pid = fake.post(handle, post_text(i, rng), created_at=when)
            published[pid] = when
            i += 1
        await app.poller.poll_due()
        if deletions is not None and clock.t >= next_check:
            await deletions.check()
            next_check += every
        clock.t += sc.step


def _measure(
    app: bot_app.App,
    fake: FakeX,
    sc: Scenario,
    published: dict[str, float],
    result: Result,
    m0: float,
    m1: float,
    clock: SimClock,
) -> None:
    calls = fake.calls()
    for c in calls:
        if c.status == 429:
            result.too_many += 1
        if c.endpoint is None:
            continue
        name = _ENDPOINT_NAMES[c.endpoint]
        if m0 <= c.at < m1:
            result.requests[name] += 1
            result.reads[name] += c.posts
            if name in ("search", "timeline"):
                result.last_poll = max(result.last_poll, c.at - m0)
            if name == "search":
                query = parse_qs(urlsplit(c.target).query).get("query", [""])[0]
                result.search_sizes.append(query.count("from:"))
    result.total_requests = len(calls)
    result.total_reads = fake.posts_read()
    with app.sessions() as s:
        # The app counts per calendar month: the month the run began in.
        began = datetime.fromtimestamp(m0, UTC)
        result.app_requests, result.app_reads = storage.month_usage(s, "x", began)
        rows = s.execute(
            select(
                StatementRow.external_id,
                StatementRow.published_at,
                StatementRow.fetched_at,
                StatementRow.alerted,
            )
            .join(SourceRow, SourceRow.id == StatementRow.source_id)
            .where(SourceRow.kind == "x")
        ).all()
    stored = set()
    for ext, pub, fetched, alerted in rows:
        stored.add(ext)
        at = fetched.timestamp()
        if alerted and m0 <= at < m1:
            result.new_statements += 1
            result.delays.append((fetched - pub).total_seconds())
    result.published = sum(1 for t in published.values() if m0 <= t < m1)
    unread = [t for pid, t in published.items() if pid not in stored]
    result.unread = len(unread)
    result.oldest_unread = clock.t - min(unread) if unread else 0.0
    if sc.span >= 3 * 86400:
        result.periods = _periods(calls, rows, m0, m1, days=5 if sc.span >= 20 * 86400 else 1)


def _periods(
    calls: Sequence[XCall],
    rows: Sequence[tuple[str, datetime, datetime, bool]],
    m0: float,
    m1: float,
    *,
    days: int,
) -> list[Period]:
    size = days * 86400.0
    edges = [m0 + k * size for k in range(int((m1 - m0) // size) + 1)]
    if edges[-1] < m1:
        edges.append(m1)
    out = []
    req: Counter[int] = Counter()
    reads: Counter[int] = Counter()
    worst: dict[int, float] = {}
    new: Counter[int] = Counter()
    for c in calls:
        k = bisect.bisect_right(edges, c.at) - 1
        req[k] += 1
        reads[k] += c.posts
    for _ext, pub, fetched, alerted in rows:
        if not alerted:
            continue
        k = bisect.bisect_right(edges, fetched.timestamp()) - 1
        new[k] += 1
        worst[k] = max(worst.get(k, 0.0), (fetched - pub).total_seconds())
    for k in range(len(edges) - 1):
        a = (edges[k] - m0) / 86400
        b = (edges[k + 1] - m0) / 86400
        out.append(Period(f"days {a:g}-{b:g}", req[k], reads[k], new[k], worst.get(k, 0.0)))
    return out


# --- report ------------------------------------------------------------------------------------


def _secs(seconds: float) -> str:
    if seconds >= 7200:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


def _pct(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _table(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        cells = [r[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)
        ]
        lines.append("  " + "  ".join(cells))
    return "\n".join(lines)


def _sizes(r: Result) -> str:
    if not r.search_sizes:
        return "-"
    return f"{sum(r.search_sizes) / len(r.search_sizes):.1f} ({min(r.search_sizes)})"


def _verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def report_strategies(a: Result, b: Result) -> list[bool]:
    """Print measurements 1 and 2; returns the goals' outcomes."""
    sc = a.scenario
    hours = sc.span / 3600
    print(
        f"\n1-2. Strategies: {sc.accounts} accounts asking {sc.freshness:g} s freshness, "
        f"{sc.posts_per_day:g} posts/account/day (Poisson), plan {sc.plan.name}, "
        f"{_secs(sc.warmup)} warm-up (first polls) then {hours:g} h measured, {sc.step:g} s ticks"
    )

    def col(r: Result) -> list[str]:
        poll_reads = r.poll_reads
        per = poll_reads / r.new_statements if r.new_statements else float("nan")
        all_reads = sum(r.reads.values())
        per_all = all_reads / r.new_statements if r.new_statements else float("nan")
        return [
            f"{r.units}",
            f"{_secs(r.intervals[0])}-{_secs(r.intervals[1])}",
            f"{r.poll_requests / hours:,.0f}",
            f"{r.requests['timeline'] / hours:,.0f}/{r.requests['search'] / hours:,.0f}/"
            f"{r.requests['users'] / hours:,.0f}",
            f"{r.requests['lookup'] / hours:,.0f}",
            _sizes(r),
            f"{r.published:,}",
            f"{r.new_statements:,}",
            f"{poll_reads:,}",
            f"{per:.3f}",
            f"{per_all:.3f}",
            f"{_secs(_pct(r.delays, 0.5))}/{_secs(_pct(r.delays, 0.95))}/{_secs(r.worst_delay)}",
            f"{r.too_many}",
            f"{r.total_requests:,}/{r.total_reads:,}",
            f"{r.app_requests:,}/{r.app_reads:,}",
            f"{r.wall:.1f} s",
        ]

    names = [
        "polling units (planned)",
        "planned interval",
        "poll requests per hour",
        "  timeline/search/users per hour",
        "deletion lookups per hour",
        "handles per search request, mean (min)",
        "posts published in window",
        "new statements in window",
        "posts read by polls",
        "poll reads per new statement",
        "all reads per new statement (+lookups)",
        "freshness p50/p95/worst",
        "429 answers (whole run)",
        "requests/reads, fake (whole run)",
        "requests/reads, app's count",
        "wall time",
    ]
    rows = [("", a.scenario.strategy, b.scenario.strategy)]
    rows += [(n, x, y) for n, x, y in zip(names, col(a), col(b), strict=True)]
    print(_table(rows))
    ratio = a.poll_requests / b.poll_requests if b.poll_requests else float("inf")
    goals = []
    ok = ratio >= 15
    goals.append(ok)
    print(
        f"\n  requests {a.scenario.strategy}/{b.scenario.strategy}: {ratio:.1f}x "
        f"(goal >= 15x): {_verdict(ok)}"
    )
    for r in (a, b):
        per = r.poll_reads / r.new_statements if r.new_statements else float("inf")
        ok = per <= 1.1
        goals.append(ok)
        print(
            f"  poll reads per new statement, {r.scenario.strategy}: {per:.3f} (goal <= 1.1): "
            f"{_verdict(ok)}"
        )
    for r in (a, b):
        _report_logs(r)
    return goals


def report_month(r: Result) -> list[bool]:
    """Print measurement 3; returns the goal's outcome."""
    sc = r.scenario
    p = sc.plan
    days = sc.span / 86400
    print(
        f"\n3. {days:g} simulated days, {sc.accounts} accounts asking {sc.freshness:g} s, "
        f"{sc.posts_per_day:g} posts/account/day (Poisson), strategy {sc.strategy}, "
        f"{sc.step:g} s ticks\n   plan {p.name}: {p.monthly_read_cap:,} reads/month, per 15 min "
        f"timeline {p.timeline_per_15m}, search {p.search_per_15m}, lookup {p.lookup_per_15m}, "
        f"users {p.users_per_15m}; margin {p.margin:g}, {p.max_query_length}-char queries"
    )
    for w in r.plan_warnings:
        print(f"   planner: {w}")
    reads = r.total_reads
    per = r.poll_reads / r.new_statements if r.new_statements else float("inf")
    rows = [
        ("", "value"),
        ("polling units / planned interval", f"{r.units} / {_secs(r.intervals[1])}"),
        ("deletion checks planned per day", f"{r.deletion_checks_per_day:.3g}"),
        ("reads projected by the planner (month)", f"{r.projected_reads:,.0f}"),
        ("posts published", f"{r.published:,}"),
        ("new statements stored", f"{r.new_statements:,}"),
        ("reads used (fake's count)", f"{reads:,}"),
        ("  by polls / by deletion lookups", f"{r.poll_reads:,} / {r.reads['lookup']:,}"),
        ("reads counted by the app", f"{r.app_reads:,}"),
        ("poll reads per new statement", f"{per:.2f}"),
        ("last poll request", f"day {r.last_poll / 86400:.1f}"),
        (
            "requests (search/lookup/users/timeline)",
            f"{r.total_requests:,} ("
            f"{r.requests['search']:,}/{r.requests['lookup']:,}/{r.requests['users']:,}/"
            f"{r.requests['timeline']:,})",
        ),
        ("handles per search request, mean (min)", _sizes(r)),
        (
            "search requests with fewer than 10 handles",
            f"{sum(1 for n in r.search_sizes if n < 10):,}",
        ),
        (
            "polls held back by the guard (log lines)",
            f"{r.log_counts['poll held back by the budget guard']:,}",
        ),
        ("most holds in a row of one source", f"{r.max_holds}"),
        ("freshness p50 / p95", f"{_secs(_pct(r.delays, 0.5))} / {_secs(_pct(r.delays, 0.95))}"),
        ("worst freshness reached", _secs(r.worst_delay)),
        ("posts never read by the end", f"{r.unread:,}"),
        ("429 answers", f"{r.too_many}"),
        ("wall time", f"{r.wall:.1f} s"),
    ]
    print(_table(rows))
    if r.periods:
        prow = [("", "requests", "reads", "new statements", "worst freshness")]
        prow += [
            (
                x.label,
                f"{x.requests:,}",
                f"{x.reads:,}",
                f"{x.new_statements:,}",
                _secs(x.worst_delay),
            )
            for x in r.periods
        ]
        print(_table(prow))
    cap = p.monthly_read_cap or 0
    ok = reads <= cap
    short = " (a short run: the full 30 days judge the cap)" if days < 28 else ""
    print(f"\n  reads used {reads:,} of the {cap:,} cap{short}: {_verdict(ok)}")
    once = per <= 1.1
    print(f"  poll reads per new statement {per:.2f} (goal <= 1.1): {_verdict(once)}")
    print(
        f"  unread posts at the end {r.unread:,} of {r.published:,}; worst freshness "
        f"{_secs(r.worst_delay)} against a planned interval of {_secs(r.intervals[1])}"
    )
    print(
        f"  429s seen: {r.too_many} (expected 0: the guard holds requests back)"
        f": {_verdict(r.too_many == 0)}"
    )
    _report_logs(r)
    return [ok, once, r.too_many == 0]


def _report_logs(r: Result) -> None:
    if not r.log_counts:
        return
    counts = ", ".join(f"{k}: {v:,}" for k, v in r.log_counts.most_common())
    print(f"  {r.scenario.label} log lines (warning+): {counts}")
    for s in r.log_samples[:3]:
        print(f"    e.g. {s[:160]}")


def report_incident_months(results: Sequence[MonthResult]) -> list[bool]:
    """Print the issue-8 months side by side; returns the goals' outcomes."""
    a = results[0].scenario
    inc = a.incidents
    print(
        f"\nIncident months: {a.accounts} accounts, batched search, {a.freshness:g} s asked, "
        f"{a.posts_per_day:g} posts/account/day, deletion checks {a.deletion_checks_per_day:g}/day "
        f"over 48 h; rename + handle re-registered on day {inc.rename:g}, suspension days "
        f"{inc.suspend:g}-{inc.reinstate:g}, outage days {inc.outage_start:g}-"
        f"{inc.outage_start + inc.outage_days:g}"
    )

    def money(x: float | None) -> str:
        return "-" if x is None else f"${x:,.2f}"

    names_values = [
        ("plan", lambda r: r.scenario.plan.name),
        ("read cap / month", lambda r: f"{r.scenario.plan.monthly_read_cap or 0:,}"),
        ("planned interval", lambda r: _secs(r.planned_interval)),
        ("deletion checks planned / day", lambda r: f"{r.deletion_checks_planned:.3g}"),
        ("posts published (watched accounts)", lambda r: f"{r.published:,}"),
        ("posts lost", lambda r: f"{r.lost:,}"),
        (
            "impostor posts / alerted as official",
            lambda r: f"{r.impostor_posts} / {r.impostor_statements}",
        ),
        (
            "deleted / announced / false",
            lambda r: f"{r.deleted_real} / {r.deletions_announced} / {r.false_deletions}",
        ),
        (
            "reads billed (fake) / guard's count",
            lambda r: f"{r.billed_reads:,} / {r.guard_reads:,}",
        ),
        ("reads projected by the planner", lambda r: f"{r.projected_reads:,.0f}"),
        ("posts returned (before daily dedup)", lambda r: f"{r.returned_reads:,}"),
        (
            "requests / users lookups (users)",
            lambda r: f"{r.requests:,} / {r.user_lookups} ({r.user_reads})",
        ),
        ("429 answers", lambda r: f"{r.too_many}"),
        ("cost: simulated / projected", lambda r: f"{money(r.cost)} / {money(r.projected_cost)}"),
        ("worst freshness (outage aside)", lambda r: _secs(r.worst_fresh)),
        ("worst delay of an outage post", lambda r: _secs(r.worst_outage)),
        ("wall time", lambda r: f"{r.wall:.0f} s"),
    ]
    rows = [("", *(r.scenario.label for r in results))]
    rows += [(n, *(f(r) for r in results)) for n, f in names_values]
    print(_table(rows))
    goals = []
    for r in results:
        cap = r.scenario.plan.monthly_read_cap
        checks = [
            ("0 impostor alerts", r.impostor_statements == 0),
            ("0 false deletions", r.false_deletions == 0),
            ("0 posts lost", r.lost == 0),
            ("reads within the cap", cap is None or r.billed_reads <= cap),
            ("no 429", r.too_many == 0),
        ]
        print(f"  {r.scenario.label}: " + ", ".join(f"{n}: {_verdict(ok)}" for n, ok in checks))
        goals += [ok for _, ok in checks]
    told = [line for r in results for line in r.log_lines]
    for key in ("renamed", "catch-up"):
        sample = next((line for line in told if key in line), None)
        if sample:
            print(f"    told: {sample[:150]}")
    return goals


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 h and 3 days: a smoke check")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--freshness", type=float, default=60.0, help="asked, in seconds")
    parser.add_argument("--posts-per-day", type=float, default=8.0)
    parser.add_argument("--hours", type=float, default=None, help="measured hours (default 2)")
    parser.add_argument("--step", type=float, default=5.0, help="tick, seconds (worker: 5)")
    parser.add_argument("--month-days", type=float, default=None, help="default 30")
    parser.add_argument("--month-posts-per-day", type=float, default=4.0)
    parser.add_argument("--month-step", type=float, default=60.0)
    parser.add_argument("--strategies", action="store_true", help="measurements 1-2 (long)")
    parser.add_argument("--cap-month", action="store_true", help="measurement 3 (long)")
    parser.add_argument("--month-freshness", type=float, default=900.0, help="incident months")
    parser.add_argument("--skip-incidents", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="print every warning as it comes")
    args = parser.parse_args(argv)
    hours = args.hours if args.hours is not None else (1.0 if args.quick else 2.0)
    days = args.month_days if args.month_days is not None else (3.0 if args.quick else 30.0)
    print(f"X polling benchmark (seed {args.seed}); simulated start {START:%Y-%m-%d %H:%M} UTC")
    goals: list[bool] = []
    if not args.skip_incidents:
        months = []
        for label, plan in (("pay-per-use", PAY_PER_USE), ("pro", PRO)):
            msc = MonthScenario(
                label,
                plan,
                accounts=args.accounts,
                freshness=args.month_freshness,
                days=days if args.month_days is not None or args.quick else 30.0,
                seed=args.seed,
            )
            print(f"  running the {label} month ...", flush=True)
            months.append(asyncio.run(run_month(msc, START)))
        goals += report_incident_months(months)
    if args.strategies:
        results = []
        for strategy in ("per_account", "batched"):
            sc = Scenario(
                label=strategy,
                strategy=strategy,
                plan=PAY_PER_USE,
                accounts=args.accounts,
                freshness=args.freshness,
                posts_per_day=args.posts_per_day,
                warmup=300.0,
                span=hours * 3600,
                step=args.step,
                seed=args.seed,
            )
            print(f"  running {strategy} ...", flush=True)
            results.append(asyncio.run(simulate(sc, verbose=args.verbose)))
        goals += report_strategies(*results)
    if args.cap_month:
        sc = Scenario(
            label="month",
            strategy="batched",
            plan=MONTH_PLAN,
            accounts=args.accounts,
            freshness=args.freshness,
            posts_per_day=args.month_posts_per_day,
            warmup=0.0,
            span=days * 86400,
            step=args.month_step,
            seed=args.seed,
        )
        print(f"  running {days:g} days ...", flush=True)
        goals += report_month(asyncio.run(simulate(sc, verbose=args.verbose)))
    print(f"\ngoals met: {sum(goals)}/{len(goals)}")
    return 0 if all(goals) else 1


if __name__ == "__main__":
    sys.exit(main())
