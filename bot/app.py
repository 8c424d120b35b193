"""Composition root: settings + watchlist → database, adapters, use cases, and the running worker.

The only place that reads `Settings` and chooses adapters; everything below receives plain values.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

import storage
from bot.console import ConsoleSender
from bot.deletions import DeletionChecker
from bot.delivery import DeliveryPolicy, Dispatcher, DispatchReport
from bot.errors import DeliveryRejected, DeliveryRetryLater, StartupError, StorageError
from bot.health import judge
from bot.looplag import LoopLag
from bot.matching import compile_topics
from bot.memory import return_big_blocks
from bot.metrics import Gauge, Metrics
from bot.model import FetchResult, PollOutcome, SourceForPoll, SourceKind, SourceSpec, Watchlist
from bot.noticedesk import NoticeDesk
from bot.notices import NoticePolicy
from bot.pipeline import Poller, PollPolicy
from bot.ports import BatchFetcher, Fetcher, Sender
from bot.redact import redact_url
from bot.reload import x_sources_asked
from bot.reloader import Reloader
from bot.settings import Settings
from bot.sources.feeds import FeedFetcher, HttpLimits
from bot.sources.pacing import HostPacer, Pace
from bot.status import Page, StatusServer

if TYPE_CHECKING:  # imported where used: a command without X sources never loads tweepy (nor
    # the X planning modules), and one that sends nothing never loads python-telegram-bot
    # (issue 9: start-up time)
    import httpx

    from bot.scheduler import Ticker
    from bot.senders import TelegramSender
    from bot.sources.telegram import TelegramPreviewFetcher
    from bot.x.plan import PollingPlan, XPlan
    from bot.x.source import XFetcher

__all__ = [
    "App",
    "notice_desk",
    "open_app",
    "open_database",
    "run_once",
    "run_worker",
    "watchlist_reloader",
    "x_polling_plan",
]

log = logging.getLogger("watchpost")
#: seconds a thread may hold the GIL while the event loop waits for it (`run_worker`)
LOOP_SWITCH_INTERVAL = 0.001


def utc_now() -> datetime:
    """The clock every use case is given."""
    return datetime.now(UTC)


@dataclass
class App:
    """Everything a running Watchpost holds."""

    settings: Settings
    watchlist: Watchlist
    engine: Engine
    sessions: sessionmaker[Session]
    poller: Poller
    dispatcher: Dispatcher
    sender: Sender
    metrics: Metrics
    clock: Callable[[], datetime]
    skipped_kinds: dict[str, int] = field(default_factory=dict)
    deletions: DeletionChecker | None = None
    x_plan: PollingPlan | None = None
    #: the X plan the budget keeps within (None when X is not polled)
    x_budget_plan: XPlan | None = None
    #: polls, writes nothing, sends nothing (`once --dry-run`)
    dry_run: bool = False
    #: the port /metrics and /healthz listen on, once `run_worker` has bound it
    status_port: int | None = None
    #: the X sources as the watchlist wrote them, before the budget planned their intervals
    asked_x: frozenset[SourceSpec] = frozenset()
    #: the kinds of source this app polls (X only with a token)
    fetchable: frozenset[SourceKind] = frozenset({SourceKind.FEED, SourceKind.TELEGRAM})


def _poll_policy(s: Settings) -> PollPolicy:
    return PollPolicy(
        default_interval=timedelta(seconds=s.default_interval_seconds),
        concurrency=s.poll_concurrency,
        batch_size=s.poll_batch_size,
        lease=timedelta(seconds=s.lease_seconds),
        backoff_base=s.backoff_base_seconds,
        backoff_cap=s.backoff_max_seconds,
        jitter=s.backoff_jitter,
        # the poll tick's period and its jitter (run_worker): the longest until the next tick
        lookahead=timedelta(seconds=s.poll_tick_seconds * 1.2),
    )


def _delivery_policy(s: Settings) -> DeliveryPolicy:
    return DeliveryPolicy(
        chat_interval=s.telegram_chat_interval_seconds,
        global_rate=s.telegram_global_rate_per_second,
        burst_max_delay=s.burst_max_delay_seconds,
        max_attempts=s.delivery_max_attempts,
        backoff_cap=s.delivery_backoff_max_seconds,
        lease=timedelta(seconds=s.lease_seconds),
        max_text=s.text_max_chars,
    )


def _http_limits(s: Settings) -> HttpLimits:
    return HttpLimits(
        connect_timeout=s.http_connect_timeout,
        read_timeout=s.http_read_timeout,
        total_timeout=s.http_total_timeout,
        max_body_bytes=s.max_body_bytes,
        max_redirects=s.max_redirects,
        max_connections=s.poll_concurrency,
        user_agent=s.user_agent,
    )


def _database_problem(settings: Settings, exc: StorageError) -> StartupError:
    """One line naming the database and the cause, for an operator at start (issue 11)."""
    # The driver's own words ("Connection refused", "unable to open database file"), not the
    # chain of wrappers around them.
    orig = getattr(exc.__cause__, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    cause = text.splitlines()[0] if text else type(exc).__name__
    where = redact_url(settings.database_url)
    return StartupError(f"database {where}: {cause}")


async def open_database(settings: Settings) -> Engine:
    """An engine on a migrated database.

    Raises:
        StartupError: the database cannot be reached, opened or written (one line).
    """
    engine = storage.make_engine(settings.database_url)
    try:
        await asyncio.to_thread(storage.migrate, engine)
    except StorageError as exc:
        engine.dispose()
        raise _database_problem(settings, exc) from exc
    return engine


@asynccontextmanager
async def open_app(
    settings: Settings,
    watchlist: Watchlist,
    *,
    sender: Sender | None = None,
    clock: Callable[[], datetime] = utc_now,
    http_client: httpx.AsyncClient | None = None,
    dry_run: bool = False,
) -> AsyncIterator[App]:
    """Migrate the database, sync the watchlist into it, and wire the worker's parts.

    Alerts go to Telegram, or to the console when console mode is asked for
    (`settings.console`); the console's alerts are recorded as shown, never as sent. A
    `dry_run` app polls but writes nothing and sends nothing: no token is needed then.

    Raises:
        StartupError: no Telegram token and no console mode asked for (issue 7: a worker that a
            missing variable turned into a console printer must not look healthy).
    """
    if (
        sender is None
        and not dry_run
        and settings.telegram_bot_token is None
        and not settings.console
    ):
        raise StartupError(
            "TELEGRAM_BOT_TOKEN is not set: alerts could not be sent. Set it, or ask for "
            "console mode (--console or WATCHPOST_CONSOLE=true) to print them instead"
        )
    # PTB 22 returns `retry_after` as a timedelta only when asked; we read seconds either way.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    return_big_blocks()  # a huge item's memory is given back, not kept (issue 11)
    engine = await open_database(settings)
    feeds: FeedFetcher | None = None
    previews: _LazyPreviews | None = None
    telegram: TelegramSender | None = None
    try:
        sessions = storage.make_sessions(engine)
        now = clock()
        metrics = Metrics()
        fetchers: dict[SourceKind, Fetcher] = {}
        batch_fetchers: dict[SourceKind, BatchFetcher] = {}
        deletions: DeletionChecker | None = None
        x_plan: PollingPlan | None = None
        x_budget_plan: XPlan | None = None
        x_specs = [s for s in watchlist.sources() if s.kind is SourceKind.X]
        asked_x = x_sources_asked(watchlist)
        if x_specs and settings.x_bearer_token is None:
            log.error("%d X sources configured but no X_BEARER_TOKEN: not polled", len(x_specs))
        elif x_specs:
            with storage.session_scope(sessions) as session:
                used = storage.month_usage(session, SourceKind.X.value, now)
                stored = storage.load_budget_state(session, SourceKind.X.value)
            x = _x_wiring(settings, x_specs, now, (used, stored), sessions, clock, metrics)
            watchlist = _with_intervals(watchlist, x.intervals)
            fetchers[SourceKind.X] = x.fetcher
            if settings.x_strategy == "batched":
                batch_fetchers[SourceKind.X] = x.fetcher
            deletions, x_plan, x_budget_plan = x.deletions, x.plan, x.budget_plan
        fetchable = {SourceKind.FEED, SourceKind.TELEGRAM, *fetchers}
        specs = [s for s in watchlist.sources() if s.kind in fetchable]
        skipped: dict[str, int] = {}
        for s in watchlist.sources():
            if s.kind not in fetchable:
                skipped[s.kind.value] = skipped.get(s.kind.value, 0) + 1
        owner = settings.worker_id or socket.gethostname()
        try:
            with storage.session_scope(sessions) as session:
                if not dry_run:
                    _reclaim(session, owner)
                storage.sync_watchlist(
                    session,
                    specs,
                    watchlist.channels,
                    default_interval=timedelta(seconds=settings.default_interval_seconds),
                    now=now,
                )
        except StorageError as exc:
            raise _database_problem(settings, exc) from exc
        limits = _http_limits(settings)
        fetchers[SourceKind.FEED] = feeds = FeedFetcher(limits, clock=clock)
        fetchers[SourceKind.TELEGRAM] = previews = _LazyPreviews(
            settings, limits, clock, http_client
        )
        if sender is None:
            token = settings.telegram_bot_token
            if token is None or settings.console or dry_run:
                if not dry_run:
                    log.warning("console mode: alerts are printed and recorded as shown, not sent")
                sender = ConsoleSender()
            else:
                from bot.senders import TelegramSender

                telegram = TelegramSender(
                    token.get_secret_value(),
                    api_root=settings.telegram_api_base_url,
                    timeout=settings.telegram_timeout,
                )
                sender = telegram
                await _start_telegram(telegram)
        poller = Poller(
            sessions=sessions,
            fetchers=fetchers,
            batch_fetchers=batch_fetchers,
            watchlist=watchlist,
            matcher=compile_topics(watchlist.topics),
            policy=_poll_policy(settings),
            clock=clock,
            metrics=metrics,
            owner=owner,
            dry_run=dry_run,
        )
        refresh_fingerprints(poller, sessions, now)
        metrics.read_gauges(lambda: _database_gauges(sessions, clock()))
        dispatcher = Dispatcher(
            owner=owner,
            sessions=sessions,
            sender=sender,
            watchlist=watchlist,
            policy=_delivery_policy(settings),
            clock=clock,
            metrics=metrics,
        )
        yield App(
            settings=settings,
            watchlist=watchlist,
            engine=engine,
            sessions=sessions,
            poller=poller,
            dispatcher=dispatcher,
            sender=sender,
            metrics=metrics,
            clock=clock,
            skipped_kinds=skipped,
            deletions=deletions,
            x_plan=x_plan,
            x_budget_plan=x_budget_plan,
            dry_run=dry_run,
            asked_x=asked_x,
            fetchable=frozenset(fetchable),
        )
    finally:
        if telegram is not None:
            with suppress(Exception):
                await telegram.stop()
        if feeds is not None:
            await feeds.aclose()
        if previews is not None:
            await previews.aclose()
        engine.dispose()


class _LazyPreviews:
    """The Telegram preview fetcher, made at the first fetch of a channel: httpx and the
    preview parser are imported (in a thread, off the event loop) only by a worker that
    watches a channel (issue 9: start-up), and a hot reload that adds one still gets it."""

    def __init__(
        self,
        settings: Settings,
        limits: HttpLimits,
        clock: Callable[[], datetime],
        client: httpx.AsyncClient | None,
    ) -> None:
        self._settings = settings
        self._limits = limits
        self._clock = clock
        self._given = client
        self._made: httpx.AsyncClient | None = None
        self._fetcher: TelegramPreviewFetcher | None = None
        self._lock = asyncio.Lock()

    async def fetch(self, source: SourceForPoll) -> FetchResult:
        fetcher = self._fetcher
        if fetcher is None:
            async with self._lock:
                if self._fetcher is None:
                    await asyncio.to_thread(importlib.import_module, "bot.sources.telegram")
                    from bot.sources.telegram import make_http_client

                    client = self._given
                    if client is None:
                        client = self._made = make_http_client(self._limits)
                    self._fetcher = _telegram_fetcher(
                        self._settings, client, self._limits, self._clock
                    )
                fetcher = self._fetcher
        return await fetcher.fetch(source)

    async def aclose(self) -> None:
        """Close the client this made (one given is its owner's to close)."""
        if self._made is not None:
            made, self._made = self._made, None
            await made.aclose()


def _telegram_fetcher(
    s: Settings, client: httpx.AsyncClient, limits: HttpLimits, clock: Callable[[], datetime]
) -> TelegramPreviewFetcher:
    """Channel previews through the shared HTTP client, paced per host (issue 10)."""
    from bot.sources.telegram import PreviewLimits, TelegramPreviewFetcher

    pace = Pace(interval=s.telegram_preview_interval_seconds, jitter=s.telegram_preview_jitter)
    return TelegramPreviewFetcher(
        client,
        limits,
        PreviewLimits(
            base_url=s.telegram_preview_base_url,
            max_pages=s.telegram_preview_max_pages,
            max_wait=s.telegram_preview_max_wait_seconds,
        ),
        HostPacer(pace),
        clock=clock,
    )


def _reclaim(session: Session, owner: str) -> None:
    """Give back what a crashed run of this worker still holds: a restarted worker resumes
    within seconds, not after the leases (issue 11)."""
    sources = storage.release_sources(session, owner)
    alerts = storage.release_alerts_of(session, owner)
    if sources or alerts:
        log.warning(
            "took back leases of a previous run worker=%s sources=%d alerts=%d",
            owner,
            sources,
            alerts,
        )


@dataclass(frozen=True)
class _XWiring:
    fetcher: XFetcher
    plan: PollingPlan
    budget_plan: XPlan
    intervals: dict[str, timedelta]
    deletions: DeletionChecker | None


def _x_wiring(
    settings: Settings,
    specs: list[SourceSpec],
    now: datetime,
    spent: tuple[tuple[int, int], str | None],
    sessions: sessionmaker[Session],
    clock: Callable[[], datetime],
    metrics: Metrics,
) -> _XWiring:
    """The X client, its budget and the polling plan that keeps within it.

    `spent` is this month's (requests, reads) and the guard's stored state: the state goes on
    where it was (rate windows, a cap pause, reads as billed); without one, the month's counts.
    """
    from bot.x.budget import Budget, BudgetState
    from bot.x.source import BudgetGuard, XFetcher, make_x_client

    used, stored = spent
    plan, polling = x_polling_plan(settings, specs)
    for warning in polling.warnings:
        log.warning("X budget: %s", warning)
    window = timedelta(hours=settings.x_deletion_window_hours)
    token = settings.x_bearer_token
    assert token is not None
    client = make_x_client(
        token.get_secret_value(), base_url=settings.x_api_base_url, timeout=settings.x_timeout
    )
    start = Budget.start(plan, now, requests=used[0], reads=used[1])
    if stored is not None:
        try:
            start = Budget.resume(plan, BudgetState.from_json(stored), now)
        except ValueError as exc:
            log.warning("X budget state not readable, counting from this month's usage: %s", exc)

    def persist(state: BudgetState) -> None:
        with storage.session_scope(sessions) as session:
            storage.save_budget_state(session, SourceKind.X.value, state.to_json(), now=clock())

    budget = BudgetGuard(start, persist=persist)
    fetcher = XFetcher(client, budget=budget, clock=clock, max_query_length=plan.max_query_length)
    fetcher.expect([s.target for s in specs])
    checks = polling.deletion_checks_per_day
    every = timedelta(days=1) / checks if checks > 0 else None
    deletions: DeletionChecker | None = None
    if every is None or every > window:
        # Fewer than one check per statement's window: the budget has no reads to spare for them.
        log.warning("X deletion checks off: the budget leaves %.3g a day", checks)
    else:
        deletions = DeletionChecker(
            sessions=sessions,
            lookup=fetcher,
            kind=SourceKind.X.value,
            window=window,
            every=every,
            clock=clock,
            metrics=metrics,
        )
    intervals = {a.key: a.interval for a in polling.accounts}
    return _XWiring(fetcher, polling, plan, intervals, deletions)


def x_polling_plan(settings: Settings, specs: Sequence[SourceSpec]) -> tuple[XPlan, PollingPlan]:
    """The operator's X plan (preset and overrides) and the polling plan that keeps within it."""
    from bot.x.plan import XAccount, plan_polling, plan_preset

    plan = plan_preset(settings.x_plan)
    if settings.x_monthly_read_cap is not None:
        plan = replace(plan, monthly_read_cap=settings.x_monthly_read_cap or None)
    if settings.x_price_per_read is not None:
        plan = replace(plan, price_per_read=settings.x_price_per_read)
    if settings.x_billing_day is not None:
        plan = replace(plan, reset_day=settings.x_billing_day)
    plan = replace(
        plan,
        timeline_per_15m=_or(settings.x_timeline_per_15m, plan.timeline_per_15m),
        search_per_15m=_or(settings.x_search_per_15m, plan.search_per_15m),
        lookup_per_15m=_or(settings.x_lookup_per_15m, plan.lookup_per_15m),
        users_per_15m=_or(settings.x_users_per_15m, plan.users_per_15m),
        max_query_length=_or(settings.x_max_query_length, plan.max_query_length),
    )
    default = timedelta(seconds=settings.default_interval_seconds)
    accounts = [
        XAccount(
            key=s.key,
            handle=s.target,
            freshness=s.interval or default,
            expected_posts_per_day=settings.x_expected_posts_per_day,
        )
        for s in specs
    ]
    polling = plan_polling(
        accounts,
        plan,
        strategy=settings.x_strategy,
        deletion_window=timedelta(hours=settings.x_deletion_window_hours),
        deletion_checks_per_day=settings.x_deletion_checks_per_day,
    )
    return plan, polling


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def _with_intervals(watchlist: Watchlist, intervals: dict[str, timedelta]) -> Watchlist:
    """The watchlist with the planned intervals in place of the asked ones."""
    speakers = tuple(
        replace(
            sp,
            sources=tuple(
                replace(s, interval=intervals[s.key]) if s.key in intervals else s
                for s in sp.sources
            ),
        )
        for sp in watchlist.speakers
    )
    return replace(watchlist, speakers=speakers)


#: how far back the near-duplicate index reaches
NEAR_DUP_WINDOW = timedelta(days=7)


def refresh_fingerprints(poller: Poller, sessions: sessionmaker[Session], now: datetime) -> None:
    """Rebuild the near-duplicate index from the recent statements of every worker."""
    with storage.session_scope(sessions) as session:
        poller.load_fingerprints(storage.recent_fingerprints(session, since=now - NEAR_DUP_WINDOW))


async def _refresh(app: App) -> None:
    await asyncio.to_thread(refresh_fingerprints, app.poller, app.sessions, app.clock())


async def _start_telegram(sender: TelegramSender) -> None:
    try:
        name = await sender.start()
        log.info("telegram bot ready username=@%s", name)
    except DeliveryRetryLater as exc:
        # Alerts wait in the outbox until the Bot API answers again.
        log.error("telegram not reachable at start: %s; alerts will wait", exc.message)
    except DeliveryRejected as exc:
        log.critical("telegram refused the bot token: %s; alerts will wait", exc.message)


async def run_once(app: App, *, dispatch: bool = True) -> tuple[list[PollOutcome], DispatchReport]:
    """Poll every source once (all of them, due or not), then send what is pending.

    A dry-run app sends nothing and checks no deletions (both would write).

    Raises:
        StorageError: the sources could not be claimed.
    """
    outcomes = await app.poller.poll_all()
    if app.dry_run:
        return outcomes, DispatchReport()
    if app.deletions is not None:
        await app.deletions.check()
    total = DispatchReport()
    if dispatch:
        while True:
            rep = await app.dispatcher.dispatch()
            total += rep
            if rep.sent == 0 and rep.shown == 0 and rep.deferred == 0:
                break
    return outcomes, total


async def run_worker(app: App, *, stop: asyncio.Event | None = None) -> None:
    """Run the scheduled worker until SIGINT/SIGTERM (or `stop` is set), then stop cleanly."""
    from bot.scheduler import Ticker  # APScheduler: only `run` ticks (issue 9: start-up)

    stop = stop or asyncio.Event()
    ticker = Ticker()
    # First: a port in use stops the start with one line, before anything runs.
    status = await _start_status(app, ticker)
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass
    s = app.settings
    ticker.every("poll", s.poll_tick_seconds, app.poller.poll_due, jitter=s.poll_tick_seconds / 5)
    ticker.every("dispatch", s.dispatch_tick_seconds, app.dispatcher.dispatch)
    ticker.every("report", 300, lambda: _report(app))
    ticker.every(
        "fingerprints", 3600, lambda: _refresh(app), first_run=utc_now() + timedelta(hours=1)
    )
    if app.deletions is not None:
        every = min(60.0, max(1.0, app.deletions.every.total_seconds()))
        ticker.every("deletions", every, app.deletions.check, jitter=every / 6)
    desk = notice_desk(app)
    if desk is not None:
        # First after one period: the sources get a poll before their state is judged.
        ticker.every(
            "notices",
            s.notice_seconds,
            desk.tick,
            first_run=utc_now() + timedelta(seconds=s.notice_seconds),
        )
    reloader = watchlist_reloader(app, desk)
    if reloader is not None:
        # Its first tick reads the file again: an edit made while the worker started applies.
        ticker.every("reload", s.reload_seconds, reloader.tick)
    # What start-up built (the watchlist, the matcher, the near-duplicate index, imported
    # modules) lives as long as the worker: out of the collector's sight, a full collection
    # no longer walks it, and with 10,000 sources such a pass held the event loop for over
    # 100 ms (issue 9).
    gc.collect()
    gc.freeze()
    # The loop hands the GIL to a thread at every database call and waits up to the switch
    # interval to get it back while that thread computes; a claim reading 500 rows waited at
    # each row behind the operator notices' minute of work (130 ms held, issue 9). 1 ms where
    # Python's default is 5 ms: the threads give the loop its turn five times as soon.
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(LOOP_SWITCH_INTERVAL)
    ticker.start()
    lag = asyncio.create_task(
        LoopLag(app.metrics, warn_after=s.loop_warn_seconds).run(), name="loop-lag"
    )
    log.info(
        "worker started sources=%d channels=%d skipped=%s",
        len(app.watchlist.sources()) - sum(app.skipped_kinds.values()),
        len(app.watchlist.channels),
        app.skipped_kinds or "none",
    )
    try:
        await stop.wait()
    finally:
        log.info("stopping: letting running ticks finish")
        lag.cancel()
        if status is not None:
            await status.stop()
        app.poller.stop_claiming()
        await ticker.stop()
        # Whatever a cancelled tick still held is given back: a restarted worker (or another
        # one) takes it at once instead of after the lease (issue 11).
        await asyncio.to_thread(app.dispatcher.release_all)
        await asyncio.to_thread(app.poller.release_all)
        for sig in installed:
            loop.remove_signal_handler(sig)
        sys.setswitchinterval(switch_interval)
        log.info("worker stopped")


def notice_desk(app: App) -> NoticeDesk | None:
    """The operator notices of `app`, or None when turned off."""
    s = app.settings
    if s.notice_seconds <= 0:
        return None
    if s.operator_chat is None:
        log.info("operator notices go to the log (no WATCHPOST_OPERATOR_CHAT)")
    return NoticeDesk(
        sessions=app.sessions,
        sender=app.sender,
        chat=s.operator_chat,
        policy=NoticePolicy(failing_after=timedelta(hours=s.notice_failing_hours)),
        clock=app.clock,
        # X is polled: its plan tells when our budget is used up
        x_plan=app.x_budget_plan,
    )


def watchlist_reloader(app: App, desk: NoticeDesk | None = None) -> Reloader | None:
    """The hot reload of `app`'s watchlist file, or None: turned off, or no file to watch."""
    path = app.watchlist.path
    if app.settings.reload_seconds <= 0 or not path or not os.path.isfile(path):
        log.info("watchlist hot reload off")
        return None

    def applied(watchlist: Watchlist) -> None:
        app.watchlist = watchlist

    return Reloader(
        path,
        running=app.watchlist,
        asked_x=app.asked_x,
        fetchable=app.fetchable,
        sessions=app.sessions,
        poller=app.poller,
        dispatcher=app.dispatcher,
        default_interval=timedelta(seconds=app.settings.default_interval_seconds),
        clock=app.clock,
        on_applied=applied,
        on_refused=desk.reload_refused if desk is not None else lambda _problems: None,
    )


async def _report(app: App) -> None:
    log.info("metrics %s", " ".join(f"{k}={v}" for k, v in app.metrics.snapshot().items()))


def _database_gauges(sessions: sessionmaker[Session], now: datetime) -> list[Gauge]:
    """Gauges read at scrape time: each channel's outbox and pause, how far behind polling is,
    this month's X usage."""
    with storage.session_scope(sessions) as session:
        channels = storage.channel_summaries(session)
        requests, reads = storage.month_usage(session, SourceKind.X.value, now)
        due = storage.oldest_due(session, now)
    out = [
        Gauge(
            "alerts",
            "Alerts in the outbox by channel and status",
            n,
            (("channel", c.id), ("status", st)),
        )
        for c in channels
        for st, n in c.alerts
    ]
    out += [
        Gauge(
            "channel_paused",
            "1 while a channel is paused (the chat refused the bot)",
            1.0 if c.paused_at else 0.0,
            (("channel", c.id),),
        )
        for c in channels
    ]
    out.append(
        Gauge(
            "poll_overdue_seconds",
            "How long the source waiting longest has been due and not polled (0: none is due)",
            (now - due).total_seconds() if due is not None else 0.0,
        )
    )
    out.append(Gauge("x_requests_month", "X API requests this month", requests))
    out.append(Gauge("x_reads_month", "X posts read this month (what the plan bills)", reads))
    return out


#: the ticks /healthz watches: without them nothing is polled or sent
HEALTH_TICKS = ("poll", "dispatch")
#: how long the database gets to answer SELECT 1 before /healthz says it does not
DB_CHECK_TIMEOUT = 5.0


def _database_answers(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:  # any failure means "not answering"; the cause is in the worker's logs
        return False
    return True


async def _start_status(app: App, ticker: Ticker) -> StatusServer | None:
    """Serve /metrics and /healthz when a port is set (WATCHPOST_METRICS_PORT)."""
    s = app.settings
    if s.metrics_port is None:
        return None

    async def metrics_page() -> Page:
        body = await asyncio.to_thread(app.metrics.exposition)
        return 200, "text/plain; version=0.0.4; charset=utf-8", body

    async def health_page() -> Page:
        try:
            db_ok = await asyncio.wait_for(
                asyncio.to_thread(_database_answers, app.engine), DB_CHECK_TIMEOUT
            )
        except TimeoutError:
            db_ok = False
        ticks = tuple(
            replace(t, progressed_at=app.poller.progress_at) if t.name == "poll" else t
            for t in ticker.states(HEALTH_TICKS)
        )
        health = judge(database_ok=db_ok, ticks=ticks, now=utc_now())
        body = {"status": "ok" if health.ok else "failing", "failing": list(health.failing)}
        return (200 if health.ok else 503), "application/json", json.dumps(body).encode() + b"\n"

    server = StatusServer({"/metrics": metrics_page, "/healthz": health_page})
    try:
        app.status_port = await server.start(s.metrics_host, s.metrics_port)
    except OSError as exc:
        raise StartupError(
            f"cannot listen on {s.metrics_host}:{s.metrics_port} (WATCHPOST_METRICS_PORT): "
            f"{exc.strerror or exc}"
        ) from exc
    log.info("status endpoint http://%s:%d/metrics and /healthz", s.metrics_host, app.status_port)
    return server
