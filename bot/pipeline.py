"""One poll of one source: fetch → normalize → match → dedup → store statements and alerts.

The only writer of statements. A poll's statements, their alerts and the source's new cursor and
ETag are written in one transaction: a statement is never stored without its alerts, nor
alerted twice, and a crash at any point leaves the poll to be done again. Polls fetched at about
the same time share the transaction (issue 9: a commit per poll cost more than its inserts); a
batch that fails is written again poll by poll.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from urllib.parse import urlsplit

from sqlalchemy.orm import Session, sessionmaker

import storage
from bot.backoff import next_poll
from bot.codeid import code_identity
from bot.dedup import NearDupIndex, fingerprint, numbers
from bot.errors import (
    SourceError,
    SourceGone,
    SourceHeld,
    SourceRejected,
    SourceUnavailable,
    StorageError,
)
from bot.ingest import KnownItems, decide, distinct_items, item_hash
from bot.matching import Matcher
from bot.metrics import Metrics
from bot.model import (
    EditPolicy,
    FetchedItem,
    FetchResult,
    MatchMode,
    PollOutcome,
    SourceForPoll,
    SourceKind,
    SourceSpec,
    StatementToStore,
    StoredStatement,
    StoreResult,
    Watchlist,
)
from bot.ports import BatchFetcher, Fetcher, PollStore, PollUnit
from bot.routing import goes_to_digest, next_digest, route
from bot.text import canonical_url
from bot.unchanged import SettledItems, encode, settle, settle_scope, topics_digest
from bot.vanished import vanished

__all__ = ["PollPolicy", "Poller", "statements_to_store", "store_statements"]

log = logging.getLogger("watchpost.poll")

# Shorter texts ("Press release", "Statement") prove nothing when they repeat.
REPEAT_MIN_CHARS = 80
# A refused source (401, 403) is retried at least this rarely: the operator must look at it.
REJECTED_MIN_WAIT = 3600.0
# How many near-duplicate candidates of a new statement storage is asked about (closest first).
NEAR_CANDIDATES = 8
# issue 9: fetched polls are written together, in one transaction: the first waits this long
# (seconds) for others to join it (`PollPolicy.batch_hold` bounds the batch).
BATCH_WAIT = 0.05
# A poll that starts this fraction of its interval after its source came due is late (the tick
# and the jitter make a few seconds normal); the log says so at most this often.
LATE_FRACTION = 0.5
BEHIND_LOG_EVERY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """How polling behaves: from settings."""

    default_interval: timedelta = timedelta(seconds=60)
    concurrency: int = 32
    batch_size: int = 500
    lease: timedelta = timedelta(seconds=300)
    backoff_base: float = 30.0
    backoff_cap: float = 6 * 3600.0
    jitter: float = 0.1
    #: sources due within this much are polled now: the time to the next poll tick, so that
    #: none is polled a tick after its interval ran out
    lookahead: timedelta = timedelta(0)
    #: seconds: polls fetched together are written in one transaction until it has taken this
    #: long (it holds the event loop meanwhile); the rest go in the next one
    batch_hold: float = 0.02


@dataclass(frozen=True, slots=True)
class _Fetched:
    """A source fetched, waiting to be stored."""

    source: SourceForPoll
    spec: SourceSpec
    result: FetchResult
    #: the next poll
    when: datetime
    #: the watchlist's generation when the poll began (None: settles nothing)
    generation: int | None


@dataclass(frozen=True, slots=True)
class _Written:
    """What one poll wrote in a transaction: reported once the transaction has ended."""

    source: SourceForPoll
    result: FetchResult
    stored: StoreResult
    deleted: int
    previewed: list[StoredStatement]


def _resolve(done: asyncio.Future[PollOutcome], store: Callable[[], PollOutcome]) -> None:
    """Give a waiting poll the outcome of `store`, or what it raised (a bug, for its task)."""
    try:
        outcome = store()
    except Exception as exc:
        if not done.done():
            done.set_exception(exc)
    else:
        if not done.done():
            done.set_result(outcome)


def _plain_304(result: FetchResult) -> bool:
    """Nothing to store but the next poll: recorded with the tick's other 304s at once."""
    return result.not_modified and not (result.cost or result.cursor)


def statements_to_store(
    spec: SourceSpec,
    source: SourceForPoll,
    items: Sequence[FetchedItem],
    watchlist: Watchlist,
    matcher: Matcher,
    *,
    now: datetime,
    known: Mapping[str, str] | None = None,
    near: Callable[[int, tuple[str, ...]], list[int]] | None = None,
) -> list[StatementToStore]:
    """Decide, for the items of one fetch, which matter and where each must go. No I/O.

    Oldest first, so that channels read them in the order they were said. On a source's first
    poll only the newest `backfill_alerts` items alert; the rest are stored as seen. Items in
    `known` (external id → content hash, from storage) with the same text are left out before
    matching: most of a feed that changed is what was already stored. `near` finds the stored
    statements whose fingerprint is close to a new one's (the near-duplicate index).
    """
    known = known or {}
    ordered = sorted(items, key=lambda i: (i.published_at, i.external_id))
    topics = {t.id: t for t in watchlist.topics}
    chosen: list[tuple[FetchedItem, tuple[str, ...], StatementToStore]] = []
    for item in ordered:
        chash = item_hash(item)
        if known.get(item.external_id) == chash:
            continue
        matches = matcher.match(item.title, item.text)
        if not matches and spec.match is not MatchMode.ALL:
            continue
        routed = route(matches, watchlist.channels, spec.match)
        digest = tuple(
            (ch.id, next_digest(ch, now))
            for ch in watchlist.channels
            if ch.id in routed and goes_to_digest(ch, matches, topics)
        )
        channels = tuple(c for c in routed if c not in {d for d, _ in digest})
        fp = fingerprint(item.text or item.title)
        said: tuple[str, ...] | None = None
        close: tuple[int, ...] = ()
        if fp is not None:
            said = numbers(item.text)
            if near is not None:
                close = tuple(near(fp, said))
        chosen.append(
            (
                item,
                channels,
                StatementToStore(
                    item=item,
                    speaker_id=spec.speaker_id,
                    canonical_url=_dedup_url(item.url),
                    content_hash=chash,
                    check_repeat=len(item.text) >= REPEAT_MIN_CHARS,
                    matches=matches,
                    channels=channels,
                    digest=digest,
                    alert_edits=spec.edits is EditPolicy.ALERT,
                    simhash=fp,
                    near=close,
                    numbers=said,
                ),
            )
        )
    if source.primed:
        return [st for _, _, st in chosen]
    keep_alerting = set(range(max(0, len(chosen) - spec.backfill_alerts), len(chosen)))
    out = []
    for n, (_, _, st) in enumerate(chosen):
        if n in keep_alerting:
            out.append(st)
        else:
            out.append(_as_seen(st))
    return out


def store_statements(
    session: Session, source_key: str, statements: Sequence[StatementToStore], *, now: datetime
) -> StoreResult:
    """Store what is new among one source's `statements`: ask storage what it knows, decide
    (`bot.ingest`), and let storage carry the intents out, in the caller's transaction."""
    if not statements:
        return StoreResult()
    mine = storage.known_items(session, source_key, [s.item.external_id for s in statements])
    return _store_decided(storage.SqlPollStore.unit_of(session), mine, statements, now=now)


def _store_decided(
    unit: PollUnit, mine: KnownItems, statements: Sequence[StatementToStore], *, now: datetime
) -> StoreResult:
    """Ask storage what bears on `statements` besides the source's own rows (read once per
    poll, issue 9), decide (`bot.ingest`), and carry the intents out in `unit`."""
    if not statements:
        return StoreResult()
    known = unit.lookup_known(mine, statements)
    intents = decide(statements, known)
    result = unit.apply_intents(mine.source_id, intents, now=now)
    return replace(
        result,
        known=len(statements) - result.new - result.duplicates,
        written={i.st.item.external_id: i.st.content_hash for i in intents},
    )


def _as_seen(st: StatementToStore) -> StatementToStore:
    return replace(st, channels=(), digest=())


def _dedup_url(url: str | None) -> str | None:
    """The canonical link, or None when it names a site's front page (shared by many items)."""
    if not url:
        return None
    canon = canonical_url(url)
    return None if urlsplit(canon).path in ("", "/") else canon


class Poller:
    """Claims due sources and polls them with bounded concurrency."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session] | None = None,
        store: PollStore | None = None,
        fetchers: Mapping[SourceKind, Fetcher],
        batch_fetchers: Mapping[SourceKind, BatchFetcher] | None = None,
        watchlist: Watchlist,
        matcher: Matcher,
        policy: PollPolicy,
        clock: Callable[[], datetime],
        metrics: Metrics,
        owner: str,
        rng: random.Random | None = None,
        dry_run: bool = False,
    ) -> None:
        if store is None:
            if sessions is None:
                raise TypeError("Poller needs a store (or sessions to make one)")
            store = storage.SqlPollStore(sessions, dry_run=dry_run)
        self._polls = store
        # issue 7: a dry run polls for real but rolls every write back (no statement, outbox
        # row, cursor, ETag, lease or usage stays); what it would have stored is kept here.
        self._dry_run = dry_run
        self.previewed: list[StoredStatement] = []
        # issue 11: writes that settle a claimed source (its failure, its 304, giving its lease
        # back) and failed on a database error, retried at the next tick: a source is not left
        # leased for minutes after a passing database fault.
        self._unwritten: list[Callable[[PollUnit], object]] = []
        self._fetchers = fetchers
        self._batch_fetchers = dict(batch_fetchers or {})
        self._watchlist = watchlist
        self._specs = {s.key: s for s in watchlist.sources()}
        self._matcher = matcher
        self._policy = policy
        self._clock = clock
        self._metrics = metrics
        self._owner = owner
        self._rng = rng or random.Random()
        self._sem = asyncio.Semaphore(policy.concurrency)
        self._not_modified: list[tuple[str, datetime]] = []
        # fetched polls waiting for their batch's transaction (`_flush_fetched`)
        self._fetched: list[tuple[_Fetched, asyncio.Future[PollOutcome]]] = []
        self._flush_handle: asyncio.TimerHandle | asyncio.Handle | None = None
        # fetches under way: while there are some, a fetched poll waits for others to join it
        self._fetching = 0
        # issue 9: the latest start since the last look (seconds late, source, its interval),
        # and when the log last said that polling is behind
        self._latest: tuple[float, str, float] | None = None
        self._behind_said: datetime | None = None
        #: when a poll of the running tick last finished: /healthz tells a tick that is busy
        #: (behind, never done) from one that is stuck
        self.progress_at: datetime | None = None
        self._stopping = False
        self._near = NearDupIndex()
        # issue 9: per source, what its settled items (`bot.unchanged`) are decided under; and
        # the watchlist's generation, which a reload moves on: a poll begun under another
        # watchlist settles nothing
        self._scopes: dict[str, bytes] = {}
        self._topics: bytes | None = None
        self._generation = 0

    def replace_watchlist(self, watchlist: Watchlist, matcher: Matcher) -> None:
        """Poll by a reloaded watchlist from the next claim on (hot reload, issue 11).

        Called on the event loop between two awaits, so no claim sees half of it. A poll in
        flight keeps the spec it read before its fetch; a source that left the watchlist is
        deactivated in storage before this call, so it is not claimed again.
        """
        self._watchlist = watchlist
        self._specs = {s.key: s for s in watchlist.sources()}
        self._matcher = matcher
        # An item that matched no topic may match an edited one: what was settled under other
        # topics, or another spec of the source, is not used (`settle_scope`).
        self._scopes.clear()
        self._topics = None
        self._generation += 1

    def stop_claiming(self) -> None:
        """Claim nothing more: the running tick ends once its polls in flight are done (the
        worker is stopping). A worker that is behind never ends its tick otherwise, and its
        polls would be cancelled half done at the end of the grace period."""
        self._stopping = True

    def load_fingerprints(self, fingerprints: Iterable[tuple[int, int]]) -> None:
        """(Re)build the near-duplicate index from storage's recent statements."""
        index = NearDupIndex()
        for statement_id, fp in fingerprints:
            index.add(statement_id, fp)
        self._near = index

    def _near_candidates(self, fp: int, said: tuple[str, ...]) -> list[int]:
        # The closest few, less those the decider would refuse for their numbers: they are
        # not read from storage (`NearDupIndex.agreeing`).
        return self._near.agreeing(self._near.query(fp, limit=NEAR_CANDIDATES), said)

    def _scope(self) -> AbstractContextManager[PollUnit]:
        """One transaction: committed, or in a dry run always rolled back."""
        return self._polls.unit()

    def _write_later(self, fn: Callable[[PollUnit], object]) -> None:
        self._unwritten.append(fn)

    def _retry_unwritten(self) -> None:
        """Apply the settling writes that failed before, oldest first; keep the rest on error."""
        while self._unwritten:
            try:
                with self._scope() as unit:
                    self._unwritten[0](unit)
            except StorageError as exc:
                log.error("%d poll results still not recorded: %s", len(self._unwritten), exc)
                return
            self._unwritten.pop(0)

    def release_all(self) -> None:
        """On shutdown: record what can be, and give back every lease this worker holds."""
        self._retry_unwritten()
        try:
            with self._scope() as unit:
                n = unit.release_sources(self._owner)
        except StorageError as exc:
            log.error("source leases not released (they run out): %s", exc)
            return
        if n:
            log.info("released %d source lease(s)", n)

    def _claim(
        self, *, due_only: bool, after_key: str | None = None, limit: int | None = None
    ) -> list[SourceForPoll]:
        self._retry_unwritten()
        with self._scope() as unit:
            return unit.claim_sources(
                self._clock(),
                limit=self._policy.batch_size if limit is None else limit,
                lease=self._policy.lease,
                owner=self._owner,
                due_only=due_only,
                after_key=after_key,
                due_by=self._clock() + self._policy.lookahead,
            )

    async def poll_due(self, *, due_only: bool = True) -> list[PollOutcome]:
        """Poll every source that is due now, with at most `batch_size` claimed at a time.

        A tick drains what is due (issue 9). It used to poll one batch and wait for the whole
        batch: 10,000 sources every 60 s need 167 polls a second, and one batch of 500 per
        5 s tick gives 100; and one slow source (up to the 45 s total timeout) held back the
        next claim for everything else. Now sources are claimed again as polls finish, so a
        slow source holds its own slot only. Sources stay claimed (leased) for no longer than
        it takes to poll what is ahead of them.

        ``due_only=False`` claims one batch whether due or not (tests of recovery use it).
        """
        if not due_only:
            try:
                sources = self._claim(due_only=False)
            except StorageError as exc:
                log.error("poll tick skipped: %s", exc)
                self._metrics.inc("storage_errors", where="claim")
                return []
            return await self._poll_claimed(sources)
        size = self._policy.batch_size
        # Claim again once a quarter of the batch is free, and write the tick's 304s a quarter
        # of a batch at a time. Each claim and each write is a transaction, whose commit puts
        # the same pages of the sources' indexes in the WAL again: at a semaphore's worth (32)
        # each, the 60-odd transactions of 1,000 polls cost about 70 µs of CPU per poll (a
        # third of the poller's own work per 304; issue 9). A quarter still leaves three
        # quarters claimed and waiting for a slot while more are claimed.
        chunk = max(1, size // 4)
        running: dict[asyncio.Task[list[PollOutcome]], int] = {}
        # Each poll's task says when it is done. `asyncio.wait(running)` at every turn added and
        # removed a callback on each of up to `batch_size` tasks to learn of the first to end:
        # 0.2 ms of CPU per 304 poll at 500 claimed (issue 9, `benchmarks/warm_cycle.py`: 0.76
        # to 0.55 ms).
        finished: asyncio.Queue[asyncio.Task[list[PollOutcome]]] = asyncio.Queue()
        outcomes: list[PollOutcome] = []
        claimed = 0
        more = True
        try:
            while True:
                room = size - claimed
                if more and room >= chunk and not self._stopping:
                    try:
                        batch = self._claim(due_only=True, limit=room)
                    except StorageError as exc:
                        log.error("poll tick stopped claiming: %s", exc)
                        self._metrics.inc("storage_errors", where="claim")
                        batch, more = [], False
                    else:
                        # A short claim: nothing else is due now; the next tick looks again.
                        more = len(batch) == room
                        # at each claim: a worker that is behind never ends its tick
                        self._note_lateness(batch)
                        self._warn_if_behind()
                    for task, n in self._start_polls(batch):
                        running[task] = n
                        task.add_done_callback(finished.put_nowait)
                        claimed += n
                if not running:
                    return outcomes
                done = [await finished.get()]
                while not finished.empty():
                    done.append(finished.get_nowait())
                for task in done:
                    claimed -= running.pop(task)
                    try:
                        outcomes.extend(task.result())
                    except Exception:
                        # The last guard: raised, a poll's bug ended the tick and cancelled
                        # every other poll in flight. Its source is polled again when its
                        # lease runs out.
                        log.critical("poll task bug; the tick goes on", exc_info=True)
                self.progress_at = self._clock()
                if len(self._not_modified) >= chunk:
                    self._flush_not_modified()
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.wait(running)
            # polls fetched before a cancellation are stored all the same
            self._flush_fetched(drain=True)
            self._flush_not_modified()

    def _note_lateness(self, sources: Sequence[SourceForPoll]) -> None:
        """Count the polls that start half an interval or more after their source came due,
        and keep the latest for `_warn_if_behind`."""
        now = self._clock()
        for s in sources:
            spec = self._specs.get(s.key)
            if s.due_at is None or spec is None:
                continue
            late = (now - s.due_at).total_seconds()
            interval = (spec.interval or self._policy.default_interval).total_seconds()
            if late >= interval * LATE_FRACTION:
                self._metrics.inc("polls_late", kind=s.kind.value)
                if self._latest is None or late > self._latest[0]:
                    self._latest = (late, s.key, interval)

    def _warn_if_behind(self) -> None:
        """Say in the log, at most once a minute, that polling has fallen behind: nothing
        fails when a worker cannot keep up, its alerts only come later and later."""
        latest, self._latest = self._latest, None
        now = self._clock()
        if latest is None or (
            self._behind_said is not None and now - self._behind_said < BEHIND_LOG_EVERY
        ):
            return
        self._behind_said = now
        late, key, interval = latest
        log.warning(
            "polling is behind: source=%s polled %.0fs after it came due (its interval is "
            "%.0fs); at most %d polls are in flight (WATCHPOST_POLL_CONCURRENCY): raise it, or "
            "add a worker",
            key,
            late,
            interval,
            self._policy.concurrency,
        )

    def _start_polls(
        self, sources: list[SourceForPoll]
    ) -> list[tuple[asyncio.Task[list[PollOutcome]], int]]:
        """A task per source, and one per kind polled in batches; with how many each holds."""
        sources = [s for s in sources if s.kind in self._fetchers and s.key in self._specs]
        batched = [s for s in sources if s.kind in self._batch_fetchers]
        out = [
            (asyncio.create_task(self._poll_single(s)), 1)
            for s in sources
            if s.kind not in self._batch_fetchers
        ]
        for kind in {s.kind for s in batched}:
            members = [s for s in batched if s.kind is kind]
            out.append((asyncio.create_task(self._poll_batch(members)), len(members)))
        return out

    async def _poll_single(self, source: SourceForPoll) -> list[PollOutcome]:
        return [await self._poll_guarded(source)]

    async def poll_all(self) -> list[PollOutcome]:
        """Poll every active source exactly once, due or not (`watchpost once`).

        Walks the sources in key order, `batch_size` at a time: a batch never takes again what
        an earlier one polled and released (issue 7: 800 sources made 140,000 requests).

        Raises:
            StorageError: the sources could not be claimed; what was polled stays polled.
        """
        outcomes: list[PollOutcome] = []
        after = ""
        while True:
            sources = self._claim(due_only=False, after_key=after)
            if not sources:
                return outcomes
            after = sources[-1].key
            outcomes.extend(await self._poll_claimed(sources))

    async def _poll_claimed(self, sources: list[SourceForPoll]) -> list[PollOutcome]:
        sources = [s for s in sources if s.kind in self._fetchers and s.key in self._specs]
        if not sources:
            return []
        batched = [s for s in sources if s.kind in self._batch_fetchers]
        singles = [s for s in sources if s.kind not in self._batch_fetchers]
        jobs = [self._poll_guarded(s) for s in singles]
        kinds = {s.kind for s in batched}
        try:
            results = await asyncio.gather(
                asyncio.gather(*jobs),
                *(self._poll_batch([s for s in batched if s.kind is k]) for k in kinds),
            )
        finally:
            self._flush_fetched(drain=True)
            self._flush_not_modified()
        return [o for group in results for o in group]

    def _flush_not_modified(self) -> None:
        """Record every 304 of the tick in one transaction: a thousand unchanged feeds cost one
        write, not a thousand. Lost in a crash, they are simply polled again."""
        pending, self._not_modified = self._not_modified, []
        if not pending:
            return
        try:
            with self._scope() as unit:
                unit.record_not_modified(pending, now=self._clock())
        except StorageError as exc:
            log.error("%d unchanged polls not recorded (retried): %s", len(pending), exc)
            self._metrics.inc("storage_errors", where="not_modified")
            now = self._clock()
            self._write_later(lambda s: s.record_not_modified(pending, now=now))

    async def _poll_batch(self, sources: list[SourceForPoll]) -> list[PollOutcome]:
        """Poll sources that one request can cover together, and schedule them together."""
        fetcher = self._batch_fetchers[sources[0].kind]
        try:
            results = await fetcher.fetch_many(sources)
        except Exception as exc:  # a bug: every member backs off, the worker goes on
            log.critical("batch poll bug kind=%s", sources[0].kind.value, exc_info=True)
            return [self._failed(s, self._specs[s.key], exc) for s in sources]
        # Members of a batch stay due together, or the next poll would split the batch: one time
        # for all, without jitter, whether the batch worked, failed or was held.
        now = self._clock()
        intervals = [self._specs[s.key].interval or self._policy.default_interval for s in sources]
        when = next_poll(now, min(intervals), jitter=0.0)
        worst = max(s.failures for s in sources) + 1
        out = []
        for s in sources:
            res = results.get(s.key)
            spec = self._specs[s.key]
            if isinstance(res, FetchResult):
                out.append(self._store(_Fetched(s, spec, res, when, None)))
            else:
                err = res or SourceUnavailable(s.key, "missing from the batch's answer")
                again = self._retry_at(now, spec, worst, err, jitter=False)
                out.append(self._failed(s, spec, err, again))
        return out

    async def _poll_guarded(self, source: SourceForPoll) -> PollOutcome:
        # The slot is held for the request only: a fetched poll waiting for its batch's write
        # does not keep another source from being fetched.
        async with self._sem:
            fetched = await self._fetch(source)
        return await self._store_soon(fetched)

    async def poll_one(self, source: SourceForPoll) -> PollOutcome:
        """Fetch one claimed source and store what it gave; never raises for the source's faults."""
        return await self._store_soon(await self._fetch(source))

    async def _fetch(self, source: SourceForPoll) -> _Fetched | PollOutcome:
        """Fetch one claimed source: what it gave, or the outcome of its recorded failure."""
        spec = self._specs[source.key]
        fetcher = self._fetchers[source.kind]
        generation = self._generation
        if source.settled is not None:
            # the scope is taken here, on the event loop, with the watchlist this poll uses
            scope = self._settle_scope(spec)
            source = replace(source, seen_items=SettledItems(source.settled, scope))
        # The next poll counts from this request, not from when its answer was stored: a slow
        # answer (up to the 45 s total timeout) must not push the next one past the interval.
        started = self._clock()
        self._fetching += 1
        try:
            result = await fetcher.fetch(source)
        except SourceError as exc:
            return self._failed(source, spec, exc)
        except Exception as exc:  # a bug: log loudly, back off, keep the worker going
            log.critical("poll bug source=%s", source.key, exc_info=True)
            return self._failed(source, spec, exc)
        finally:
            self._fetching -= 1
            if not self._fetching and self._fetched:
                self._flush_soon()
        interval = spec.interval or self._policy.default_interval
        when = next_poll(started, interval, jitter=self._policy.jitter, rng=self._rng)
        return _Fetched(source, spec, result, when, generation)

    async def _store_soon(self, fetched: _Fetched | PollOutcome) -> PollOutcome:
        """Store a fetched poll with the others fetched by the time the loop gets to it, in
        one transaction (`_flush_fetched`); a plain 304 joins the tick's 304s instead. A
        failed fetch (its outcome) was recorded already."""
        if isinstance(fetched, PollOutcome):
            return fetched
        if _plain_304(fetched.result):
            return self._ingest(fetched)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[PollOutcome] = loop.create_future()
        self._fetched.append((fetched, done))
        if not self._fetching:
            self._flush_soon()
        elif self._flush_handle is None:
            self._flush_handle = loop.call_later(BATCH_WAIT, self._flush_fetched)
        return await done

    def _flush_soon(self) -> None:
        """Write the waiting polls at the loop's next turn: nothing is being fetched, so
        nothing would join their batch by waiting (`once` does not end `BATCH_WAIT` late)."""
        if isinstance(self._flush_handle, asyncio.TimerHandle):
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_soon(self._flush_fetched)

    def _flush_fetched(self, *, drain: bool = False) -> None:
        """Write the fetched polls waiting, a batch at a time; the loop is given back between
        batches, each of which holds it for about `PollPolicy.batch_hold`. `drain`: all of
        them now (the tick is ending: nothing may be left for after it)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        while self._fetched:
            taken = self._write_batch(self._fetched)
            del self._fetched[:taken]
            if self._fetched and not drain:
                self._flush_handle = asyncio.get_running_loop().call_soon(self._flush_fetched)
                return

    def _write_batch(self, pending: Sequence[tuple[_Fetched, asyncio.Future[PollOutcome]]]) -> int:
        """Write the first polls of `pending` in one transaction, as many as fit in
        `PollPolicy.batch_hold`; resolve their futures; return how many were taken.

        issue 9: a transaction per poll cost a commit each (0.4-0.5 ms of CPU on SQLite, the
        WAL pages of the same indexes written again and again). If the batch fails, nothing of
        it was written, and each of its polls is written again on its own: one poll's fault
        (a bug, a conflict with another worker) costs no other poll its statements.
        """
        written: list[_Written] = []
        deadline = time.perf_counter() + self._policy.batch_hold
        taken = 0
        try:
            with self._writing() as (unit, added):
                for fetched, _ in pending:
                    taken += 1
                    written.append(self._write(unit, fetched, added))
                    if time.perf_counter() >= deadline:
                        break
        except Exception as exc:
            if taken == 1:
                fetched, done = pending[0]
                _resolve(done, partial(self._unstored, fetched, exc))
                return taken
            log.warning(
                "a batch of %d polls was not written (%s); each is written alone", taken, exc
            )
            for fetched, done in pending[:taken]:
                _resolve(done, partial(self._store, fetched))
            return taken
        for w, (_, done) in zip(written, pending, strict=False):
            # each poll's own: a bug reporting one must not leave the others waiting forever
            _resolve(done, partial(self._report, w))
        return taken

    def _store(self, fetched: _Fetched) -> PollOutcome:
        """Store one poll in its own transaction; a database fault, or a bug, is its outcome."""
        try:
            return self._ingest(fetched)
        except Exception as exc:
            return self._unstored(fetched, exc)

    def _unstored(self, fetched: _Fetched, exc: Exception) -> PollOutcome:
        """The outcome of a poll whose write raised: a database fault, or a bug."""
        if isinstance(exc, StorageError):
            return self._not_stored(fetched.source, exc)
        return self._store_bug(fetched, exc)

    def _store_bug(self, fetched: _Fetched, exc: Exception) -> PollOutcome:
        """A bug while storing one poll (its transaction rolled back; or, raised counting it,
        committed): that poll fails as a fetch bug does, logged loudly and retried with
        backoff. Raised, it ended the tick and cancelled every other poll in flight, whose
        sources then stayed leased for minutes; and the poisoned source came back to do it
        again. Its validators are not stored, so the retry gets the whole feed again."""
        log.critical("poll bug source=%s (storing its fetch)", fetched.source.key, exc_info=exc)
        return self._failed(fetched.source, fetched.spec, exc)

    def _not_stored(self, source: SourceForPoll, exc: StorageError) -> PollOutcome:
        # Nothing was written: give the lease back (now, or at the next tick if the database
        # is still failing) so that the poll is done again within seconds.
        log.error("poll not stored source=%s: %s", source.key, exc)
        self._metrics.inc("storage_errors", where="ingest")
        self._write_later(lambda s: s.release_sources(self._owner, keys=[source.key]))
        return PollOutcome(source.key, error=str(exc))

    def _ingest(self, fetched: _Fetched) -> PollOutcome:
        """Store one poll in its own transaction (a 304 joins the tick's others)."""
        source = fetched.source
        if _plain_304(fetched.result):
            # Written with the tick's other 304s in one statement (see `_flush_not_modified`).
            self._not_modified.append((source.key, fetched.when))
            self._metrics.inc("polls", status="not_modified", kind=source.kind.value)
            return PollOutcome(source.key, not_modified=True)
        with self._writing() as (unit, added):
            written = self._write(unit, fetched, added)
        return self._report(written)

    @contextmanager
    def _writing(self) -> Iterator[tuple[PollUnit, list[int]]]:
        """One transaction of polls' writes, and the ids of the statements the near-duplicate
        index learnt in it (`_write`): forgotten if it does not commit, or in a dry run (the
        index must not know statements that were rolled back)."""
        added: list[int] = []
        try:
            with self._scope() as unit:
                yield unit, added
        except BaseException:
            self._forget(added)
            raise
        if self._dry_run:
            self._forget(added)

    def _write(self, unit: PollUnit, fetched: _Fetched, added: list[int]) -> _Written:
        """One poll's writes in `unit`: its statements, alerts and deletions, and the source's
        new state. The near-duplicate index learns its statements at once, so that the next
        poll of the same transaction sees them; their ids go to `added` (`_writing`)."""
        source, spec, result = fetched.source, fetched.spec, fetched.result
        now = self._clock()
        items = distinct_items(result.items)
        # issue 9: the source's rows for this fetch are read once, for skipping unchanged
        # items before matching and for the decider.
        mine = unit.known_items(source.key, [i.external_id for i in items])
        todo = statements_to_store(
            spec,
            source,
            items,
            self._watchlist,
            self._matcher,
            now=now,
            known=mine.latest,
            near=self._near_candidates,
        )
        stored = _store_decided(unit, mine, todo, now=now)
        deleted = self._vanished(unit, source.key, result, now)
        previewed = unit.load_statements(stored.new_ids) if self._dry_run else []
        unit.record_poll_success(
            source.key,
            caching=None if result.not_modified else result.caching,
            cursor=result.cursor,
            now=now,
            next_poll_at=fetched.when,
            remote_id=result.remote_id,
            settled=self._settled(spec, result, mine, todo, stored)
            if fetched.generation == self._generation
            else None,
        )
        if result.cost:
            unit.record_usage(source.kind.value, now, requests=result.requests, reads=result.reads)
        for statement_id, fp, said in stored.fingerprints:
            self._near.add(statement_id, fp, said)
            added.append(statement_id)
        return _Written(source, result, stored, deleted, previewed)

    def _forget(self, added: Sequence[int]) -> None:
        for statement_id in added:
            self._near.discard(statement_id)

    def _report(self, written: _Written) -> PollOutcome:
        """Count and log a poll whose transaction committed (or, in a dry run, ended)."""
        source, result, stored = written.source, written.result, written.stored
        self.previewed.extend(written.previewed)
        status = "not_modified" if result.not_modified else "ok"
        self._metrics.inc("polls", status=status, kind=source.kind.value)
        self._metrics.inc("statements_new", stored.new)
        self._metrics.inc("duplicates_suppressed", stored.duplicates)
        self._metrics.inc("alerts_enqueued", stored.alerts + written.deleted)
        for w in result.warnings:
            log.warning("feed warning source=%s: %s", source.key, w)
        if stored.new or stored.duplicates:
            log.info(
                "polled source=%s status=%s items=%d new=%d duplicates=%d alerts=%d primed=%s",
                source.key,
                status,
                len(result.items),
                stored.new,
                stored.duplicates,
                stored.alerts,
                source.primed,
            )
        else:
            log.debug("polled source=%s status=%s items=%d", source.key, status, len(result.items))
        return PollOutcome(
            source.key,
            new_statements=stored.new,
            duplicates=stored.duplicates,
            alerts=stored.alerts,
            not_modified=result.not_modified,
            statement_ids=stored.new_ids,
        )

    def _settled(
        self,
        spec: SourceSpec,
        result: FetchResult,
        mine: KnownItems,
        todo: Sequence[StatementToStore],
        stored: StoreResult,
    ) -> bytes | None:
        """What this poll settles, as stored with its caching in its transaction.

        Also for a source without ETag or Last-Modified (most official sites send neither, and
        answer 200 every time): what the row holds is what the last stored poll of any worker
        left, written with its statements, so no validator is needed to tell it current.
        """
        ids = settle(
            result.items,
            skipped=result.unchanged,
            stored_hashes={**mine.latest, **stored.written},
            considered=(st.item.external_id for st in todo),
        )
        return encode(self._settle_scope(spec), ids) if ids else None

    def _settle_scope(self, spec: SourceSpec) -> bytes:
        """What a source's settled items are decided under (`bot.unchanged.settle_scope`)."""
        scope = self._scopes.get(spec.key)
        if scope is None:
            if self._topics is None:
                self._topics = topics_digest(self._watchlist.topics)
            scope = settle_scope(code_identity(), self._topics, spec)
            self._scopes[spec.key] = scope
        return scope

    def _vanished(self, unit: PollUnit, key: str, result: FetchResult, now: datetime) -> int:
        """Mark the stored posts the fetch's window shows deleted (issue 10); returns the
        follow-up alerts enqueued. Runs in the poll's transaction."""
        if result.window is None:
            return 0
        known = unit.posts_since(key, since=result.window.since)
        gone = vanished(known, result.window)
        alerts = sum(unit.record_deleted(sid, now=now) for sid in gone)
        if gone:
            self._metrics.inc("deletions_found", len(gone))
            log.info(
                "deleted at the source source=%s statements=%s alerts=%d",
                key,
                ",".join(str(s) for s in gone),
                alerts,
            )
        return alerts

    def _failed(
        self,
        source: SourceForPoll,
        spec: SourceSpec,
        exc: BaseException,
        when: datetime | None = None,
    ) -> PollOutcome:
        now = self._clock()
        held = isinstance(exc, SourceHeld)
        if when is None:
            when = self._retry_at(now, spec, source.failures + 1, exc)
        kind = type(exc).__name__
        message = str(exc) if isinstance(exc, SourceError) else f"{source.key}: bug: {exc!r}"
        if held:
            # Our own budget said wait: not the source's failure, so no backoff and no alarm.
            log.info(
                "poll held source=%s retry_in=%.0fs: %s",
                source.key,
                (when - now).total_seconds(),
                message,
            )
            self._metrics.inc("poll_holds", kind=source.kind.value)
        elif isinstance(exc, SourceGone):
            log.error(
                "source gone source=%s: %s; it is no longer polled (point the watchlist at its "
                "new address, or remove it)",
                source.key,
                message,
            )
            self._metrics.inc("poll_errors", error=kind, kind=source.kind.value)
        else:
            log.error(
                "poll failed source=%s error=%s failures=%d retry_in=%.0fs: %s",
                source.key,
                kind,
                source.failures + 1,
                (when - now).total_seconds(),
                message,
            )
            self._metrics.inc("poll_errors", error=kind, kind=source.kind.value)

        def record(unit: PollUnit) -> None:
            if held:
                unit.postpone_source(source.key, next_poll_at=when)
            elif isinstance(exc, SourceGone):
                unit.record_source_gone(source.key, error=message, now=now)
            else:
                problem = exc.problem if isinstance(exc, SourceError) else None
                unit.record_poll_failure(
                    source.key,
                    error=message,
                    next_poll_at=when,
                    problem=problem.value if problem is not None else None,
                )
            if isinstance(exc, SourceError) and exc.cost:
                unit.record_usage(source.kind.value, now, requests=exc.requests, reads=exc.reads)

        try:
            with self._scope() as unit:
                record(unit)
        except StorageError as db_exc:
            log.error("poll failure not recorded source=%s (retried): %s", source.key, db_exc)
            self._metrics.inc("storage_errors", where="failure")
            self._write_later(record)
        return PollOutcome(source.key, error=None if held else message)

    def _retry_at(
        self,
        now: datetime,
        spec: SourceSpec,
        failures: int,
        exc: BaseException,
        jitter: bool = True,
    ) -> datetime:
        """When to try a failed (or held) source again."""
        interval = spec.interval or self._policy.default_interval
        retry_after = exc.retry_after if isinstance(exc, SourceUnavailable) else None
        if isinstance(exc, SourceHeld):
            return now + timedelta(seconds=max(retry_after or 0.0, 1.0))
        if isinstance(exc, SourceRejected) and exc.status != 404:
            # A 404 is often a site being redeployed: it backs off like any failure. A refusal
            # (401, 403) will not change soon.
            retry_after = max(retry_after or 0.0, REJECTED_MIN_WAIT)
        return next_poll(
            now,
            interval,
            failures=failures,
            retry_after=retry_after,
            backoff_base=self._policy.backoff_base,
            backoff_cap=self._policy.backoff_cap,
            jitter=self._policy.jitter if jitter else 0.0,
            rng=self._rng,
        )
