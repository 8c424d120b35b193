"""A simulated billing month of X polling with the incidents of issue 8.

Real: the `XFetcher` (tweepy over HTTP), its `BudgetGuard`, the planner, and `FakeX` on
127.0.0.1 with X's billing (a post billed once per UTC day), indexing lag and the plan's limits.
Simulated, to fit a month of 100 accounts in about a minute: the worker around them, as a small
loop that keeps each source's cursor and id as storage does, polls due sources together as the
pipeline does, and re-checks recent statements for deletion with the rule of
`bot.deletions.DeletionChecker` (missing posts are deleted only when their author is visible).
Through the real pipeline every source's poll is a database transaction (about 13 ms of CPU
here): a month would take an hour; `tests/e2e/test_x_sources.py` runs the same incidents
through it. The clock jumps from one event to the next.

Incidents, on the days given by `Incidents`:

- a rename with handle reuse: the first account is renamed, someone registers its old handle and
  posts "Impostor …" every few hours;
- a suspension: the second account is suspended (its recent posts vanish from lookups) and
  reinstated later;
- an outage: the worker is down for 9 days (nothing polled, nothing checked); posts go on;
- real deletions: one post a day of a visible account, a day after it was posted (outside the
  outage), which must be announced.

Judged at the end from the database: impostor statements stored (0), statements marked deleted
whose post still exists (0), posts of watched accounts never stored (0), billed reads within the
plan's cap; shown beside the planner's projection: reads, cost, worst freshness.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from bot.errors import SourceError, SourceHeld, SourceRejected, SourceUnavailable
from bot.fakes.http import LocalServer
from bot.fakes.x_api import Endpoint as FakeEndpoint
from bot.fakes.x_api import FakeX
from bot.model import CachingInfo, FetchResult, SourceForPoll, SourceKind
from bot.x.budget import Budget
from bot.x.plan import XAccount, XPlan, plan_polling
from bot.x.source import BudgetGuard, XFetcher, make_x_client

DAY = 86400.0
TOKEN = "bench-x-month"


@dataclass(frozen=True, slots=True)
class Incidents:
    """When each incident happens, in days from the month's start."""

    rename: float = 5.0
    suspend: float = 8.0
    reinstate: float = 12.0
    outage_start: float = 14.0
    outage_days: float = 9.0
    #: the first real deletion; one a day after it, outside the outage
    deletions_from: float = 2.0


@dataclass(frozen=True, slots=True)
class MonthScenario:
    """One month: the plan, the accounts, how fresh they are asked to be."""

    label: str
    plan: XPlan
    accounts: int = 100
    freshness: float = 900.0
    posts_per_day: float = 4.0
    deletion_checks_per_day: float = 4.0
    days: float = 30.0
    seed: int = 1
    index_delay: float = 20.0
    incidents: Incidents = Incidents()


@dataclass
class MonthResult:
    """What one month measured."""

    scenario: MonthScenario
    projected_reads: float = 0.0
    projected_cost: float | None = None
    planned_interval: float = 0.0
    deletion_checks_planned: float = 0.0
    plan_warnings: tuple[str, ...] = ()
    published: int = 0
    stored: int = 0
    lost: int = 0
    impostor_posts: int = 0
    impostor_statements: int = 0
    deleted_real: int = 0
    deletions_announced: int = 0
    false_deletions: int = 0
    billed_reads: int = 0
    returned_reads: int = 0
    guard_reads: int = 0
    requests: int = 0
    user_lookups: int = 0
    user_reads: int = 0
    too_many: int = 0
    cost: float = 0.0
    worst_fresh: float = 0.0
    worst_outage: float = 0.0
    log_lines: list[str] = field(default_factory=list)
    wall: float = 0.0


def _handles(n: int, rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(8)) + f"{i:03d}" for i in range(n)]


class _Clock:
    def __init__(self, start: datetime) -> None:
        self.t = start.timestamp()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)

    def epoch(self) -> float:
        return self.t


class _Lines:
    """Keeps the worker's warning lines that tell the operator about an incident."""

    KEYS = ("renamed", "catch-up", "suspended", "author is not visible", "usage cap", "dropped")

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, message: str) -> None:
        if any(k in message for k in self.KEYS):
            self.lines.append(message)


@dataclass
class _Stored:
    source: str
    author_id: str
    text: str
    published: float
    fetched: float
    remote_ids: tuple[str, ...]
    alerted: bool
    checked: float = 0.0
    deleted: float | None = None


@dataclass
class _World:
    """What storage would hold: sources and statements."""

    sources: dict[str, SourceForPoll]
    due: dict[str, float]
    statements: dict[str, _Stored] = field(default_factory=dict)


async def run_month(sc: MonthScenario, start: datetime) -> MonthResult:
    """Simulate `sc` from `start` (the plan's billing day) and judge it."""
    rng = random.Random(sc.seed)
    handles = _handles(sc.accounts, rng)
    clock = _Clock(start)
    t0 = clock.t
    end = t0 + sc.days * DAY
    inc = sc.incidents
    outage = (t0 + inc.outage_start * DAY, t0 + (inc.outage_start + inc.outage_days) * DAY)
    plan = sc.plan
    fake = FakeX(
        tokens={TOKEN},
        clock=clock.epoch,
        rate_limits={
            FakeEndpoint.USER_TWEETS: plan.timeline_per_15m,
            FakeEndpoint.SEARCH_RECENT: plan.search_per_15m,
            FakeEndpoint.TWEETS: plan.lookup_per_15m,
            FakeEndpoint.USERS_BY: plan.users_per_15m,
            FakeEndpoint.USERS: plan.users_per_15m,
        },
        query_length=plan.max_query_length,
        read_cap=plan.monthly_read_cap,
        daily_dedup=True,
        reset_day=plan.reset_day,
        index_delay=sc.index_delay,
    )
    for h in handles:
        fake.add_user(h, name=h)
    minister, suspended = handles[0], handles[1]
    renamed_to = minister[:12] + "_n"
    schedule: list[tuple[float, str, str]] = []
    for h in handles:
        t = t0
        while True:
            t += rng.expovariate(sc.posts_per_day / DAY)
            if t >= end:
                break
            if h == suspended and t0 + inc.suspend * DAY <= t < t0 + inc.reinstate * DAY:
                continue  # a suspended account posts nothing
            schedule.append((t, h, f"Statement of {h} at {t:.0f}: talks, corridor, ceasefire."))
    t = t0 + inc.rename * DAY + 3600
    while t < end:
        schedule.append((t, "@impostor", f"Impostor {t:.0f}: the ceasefire is cancelled."))
        t += 6 * 3600
    schedule.sort()
    accounts = [
        XAccount(f"x:{h.lower()}", h, timedelta(seconds=sc.freshness), sc.posts_per_day)
        for h in handles
    ]
    polling = plan_polling(
        accounts,
        plan,
        strategy="batched",
        deletion_window=timedelta(hours=48),
        deletion_checks_per_day=sc.deletion_checks_per_day,
    )
    result = MonthResult(sc)
    result.projected_reads = polling.reads_per_month
    result.projected_cost = polling.cost_per_month
    result.planned_interval = polling.worst_interval.total_seconds()
    result.deletion_checks_planned = polling.deletion_checks_per_day
    result.plan_warnings = polling.warnings
    interval = polling.worst_interval.total_seconds()
    published: dict[str, tuple[float, str]] = {}
    deleted: set[str] = set()
    lines = _Lines()

    class _Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines(record.getMessage())

    handler = _Handler(logging.WARNING)
    wp_log = logging.getLogger("watchpost")
    wp_log.addHandler(handler)
    wp_log.propagate = False
    wp_log.setLevel(logging.WARNING)
    started = time.perf_counter()
    guard = BudgetGuard(Budget.start(plan, clock.now()))
    world = _World(
        sources={
            a.key: SourceForPoll(a.key, SourceKind.X, a.handle, CachingInfo(), None, 0, False)
            for a in accounts
        },
        due={a.key: t0 for a in accounts},
    )
    try:
        with LocalServer(fake.handle) as server:
            client = make_x_client(TOKEN, base_url=server.url, timeout=30)
            fetcher = XFetcher(
                client, budget=guard, clock=clock.now, max_query_length=plan.max_query_length
            )
            checks = polling.deletion_checks_per_day
            sweep = DAY / checks if checks > 0 else None
            await _loop(
                fetcher,
                fake,
                clock,
                sc,
                schedule,
                published,
                deleted,
                outage,
                rng,
                world,
                interval,
                sweep,
                (minister, suspended, renamed_to),
            )
    finally:
        wp_log.removeHandler(handler)
        wp_log.propagate = True
    _judge(fake, sc, published, deleted, outage, result, world)
    result.guard_reads = guard.budget.state.reads
    result.log_lines = lines.lines
    result.wall = time.perf_counter() - started
    return result


async def _loop(
    fetcher: XFetcher,
    fake: FakeX,
    clock: _Clock,
    sc: MonthScenario,
    schedule: list[tuple[float, str, str]],
    published: dict[str, tuple[float, str]],
    deleted: set[str],
    outage: tuple[float, float],
    rng: random.Random,
    world: _World,
    interval: float,
    sweep: float | None,
    who: tuple[str, str, str],
) -> None:
    minister, suspended, renamed_to = who
    inc = sc.incidents
    t0 = clock.t
    end = t0 + sc.days * DAY
    events = [
        (t0 + inc.rename * DAY, "rename"),
        (t0 + inc.suspend * DAY, "suspend"),
        (t0 + inc.reinstate * DAY, "reinstate"),
    ]
    for d in range(int(sc.days - inc.deletions_from)):
        at = t0 + (inc.deletions_from + d) * DAY
        if not outage[0] - DAY <= at < outage[1] + DAY:
            events.append((at, "delete"))
    events.sort()
    next_sweep = t0 + (sweep or 0.0)
    i = 0
    while clock.t < end:
        now = clock.t
        while events and events[0][0] <= now:
            _, what = events.pop(0)
            if what == "rename":
                fake.rename(minister, renamed_to)
                fake.add_user(minister, name="Not the minister")
            elif what == "suspend":
                fake.suspend(suspended)
            elif what == "reinstate":
                fake.suspend(suspended, False)
            else:
                # a day-old post of a visible account, already stored (it was seen)
                old = [
                    pid
                    for pid, (at, h) in published.items()
                    if now - 2 * DAY <= at <= now - DAY
                    and h not in (minister, suspended, "@impostor")
                    and pid not in deleted
                    and pid in world.statements
                ]
                if old:
                    pid = rng.choice(sorted(old))
                    fake.delete(pid)
                    deleted.add(pid)
        while i < len(schedule) and schedule[i][0] <= now:
            when, h, text = schedule[i]
            if h == "@impostor":
                pid = fake.post(minister, text, created_at=when)
            else:
                author = renamed_to if h == minister and when >= t0 + inc.rename * DAY else h
                pid = fake.post(author, text, created_at=when)
            published[pid] = (when, h)
            i += 1
        down = outage[0] <= now < outage[1]
        if not down:
            await _poll(fetcher, world, now, interval)
            if sweep is not None and now >= next_sweep:
                await _check_deletions(fetcher, world, now, sweep)
                next_sweep = now + sweep
        candidates = [end, min(world.due.values())]
        if sweep is not None:
            candidates.append(next_sweep)
        if events:
            candidates.append(events[0][0])
        if down:
            candidates = [outage[1]]
        clock.t = max(min(candidates), now + 1.0)


async def _poll(fetcher: XFetcher, world: _World, now: float, interval: float) -> None:
    due = [world.sources[k] for k, t in world.due.items() if t <= now]
    if not due:
        return
    results = await fetcher.fetch_many(due)
    for s in due:
        res = results[s.key]
        if isinstance(res, FetchResult):
            for item in res.items:
                if item.external_id in world.statements:
                    continue
                raw = json.loads(item.raw)
                world.statements[item.external_id] = _Stored(
                    s.key,
                    str(raw.get("author_id")),
                    item.text,
                    item.published_at.timestamp(),
                    now,
                    (item.external_id, item.version_id or item.external_id),
                    alerted=s.primed,
                )
            world.sources[s.key] = replace(
                s,
                cursor=res.cursor or s.cursor,
                remote_id=res.remote_id or s.remote_id,
                primed=True,
                failures=0,
            )
            world.due[s.key] = now + interval
        elif isinstance(res, SourceHeld):
            world.due[s.key] = now + max(res.retry_after or 1.0, 1.0)
        elif isinstance(res, SourceRejected):
            world.due[s.key] = now + 3600.0  # the pipeline retries a rejection hourly
        else:
            wait = res.retry_after if isinstance(res, SourceUnavailable) else None
            world.due[s.key] = now + max(wait or interval, interval)


async def _check_deletions(fetcher: XFetcher, world: _World, now: float, every: float) -> None:
    """One sweep of the 48-hour window, 100 ids a lookup, as `DeletionChecker` decides."""
    todo = [
        (pid, st)
        for pid, st in world.statements.items()
        if st.alerted
        and st.deleted is None
        and st.published >= now - 2 * DAY
        and st.checked <= now - every
    ]
    while todo:
        batch: list[tuple[str, _Stored]] = []
        ids: list[str] = []
        while todo and len(ids) + len(set(todo[0][1].remote_ids)) <= 100:
            pid, st = todo.pop(0)
            batch.append((pid, st))
            ids.extend(sorted(set(st.remote_ids)))
        try:
            present, _ = await fetcher.lookup(ids)
        except SourceError:
            return
        missing = [(pid, st) for pid, st in batch if not present.intersection(st.remote_ids)]
        visible: set[str] = set()
        if missing:
            try:
                authors = sorted({st.author_id for _, st in missing})
                visible, _ = await fetcher.visible_authors(authors)
            except SourceError:
                visible = set()
        for _pid, st in batch:
            st.checked = now
            if not present.intersection(st.remote_ids) and st.author_id in visible:
                st.deleted = now


def _judge(
    fake: FakeX,
    sc: MonthScenario,
    published: dict[str, tuple[float, str]],
    deleted: set[str],
    outage: tuple[float, float],
    result: MonthResult,
    world: _World,
) -> None:
    rows = world.statements
    result.stored = len(rows)
    result.impostor_posts = sum(1 for _, h in published.values() if h == "@impostor")
    result.impostor_statements = sum(1 for st in rows.values() if st.text.startswith("Impostor"))
    own = {pid: v for pid, v in published.items() if v[1] != "@impostor"}
    result.published = len(own)
    result.lost = sum(1 for pid in own if pid not in rows)
    result.deleted_real = len(deleted)
    result.deletions_announced = sum(1 for st in rows.values() if st.deleted is not None)
    result.false_deletions = sum(
        1 for pid, st in rows.items() if st.deleted is not None and pid not in deleted
    )
    for pid, st in rows.items():
        if pid not in own:
            continue
        delay = st.fetched - st.published
        if outage[0] - sc.freshness <= st.published < outage[1]:
            result.worst_outage = max(result.worst_outage, delay)
        else:
            result.worst_fresh = max(result.worst_fresh, delay)
    calls = fake.calls()
    result.requests = len(calls)
    users_read = 0
    for c in calls:
        if c.endpoint in (FakeEndpoint.USERS_BY, FakeEndpoint.USERS) and c.status == 200:
            query = parse_qs(urlsplit(c.target).query)
            users_read += sum(
                len(v.split(",")) for k in ("usernames", "ids") for v in query.get(k, [])
            )
            result.user_lookups += 1
    result.user_reads = users_read
    result.too_many = sum(1 for c in calls if c.status == 429)
    result.billed_reads = fake.billed_reads()
    result.returned_reads = fake.posts_read()
    plan = sc.plan
    result.cost = (
        (plan.monthly_fee or 0.0)
        + result.billed_reads * (plan.price_per_read or 0.0)
        + users_read * (plan.price_per_user_read or 0.0)
    )
