"""`FakePollStore` and `FakeOutbox`: the storage ports in memory, with transactions that are
all or nothing and a switch that makes the next writes fail as a database outage would."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bot.context import Around
from bot.errors import StorageError
from bot.ingest import Intent, Known, KnownItems, NewVersion, Stored
from bot.model import (
    AlertForDelivery,
    AlertKind,
    AlertStatus,
    CachingInfo,
    SourceForPoll,
    SourceSpec,
    StatementToStore,
    StoredStatement,
    StoreResult,
)

__all__ = ["FakeOutbox", "FakePollStore", "OutboxRow", "SourceState", "StatementState"]


@dataclass
class SourceState:
    spec: SourceSpec
    next_poll_at: datetime
    primed: bool = True
    caching: CachingInfo = field(default_factory=CachingInfo)
    cursor: str | None = None
    failures: int = 0
    last_error: str | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None
    gone: bool = False
    settled: bytes | None = None


@dataclass
class StatementState:
    id: int
    source_key: str
    st: StatementToStore
    #: hashes of later versions, oldest first
    versions: list[str] = field(default_factory=list)


@dataclass
class _PollState:
    sources: dict[str, SourceState] = field(default_factory=dict)
    statements: dict[int, StatementState] = field(default_factory=dict)
    #: (statement id, channel id, kind) of every alert enqueued
    alerts: list[tuple[int, str, AlertKind]] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)


class FakePollUnit:
    """One transaction's view: changes land in a copy, kept only if the block ends well."""

    def __init__(self, state: _PollState) -> None:
        self.state = state

    def claim_sources(
        self,
        now: datetime,
        *,
        limit: int,
        lease: timedelta,
        owner: str,
        due_only: bool = True,
        after_key: str | None = None,
        due_by: datetime | None = None,
    ) -> list[SourceForPoll]:
        out = []
        for key in sorted(self.state.sources):
            s = self.state.sources[key]
            if s.gone or (after_key is not None and key <= after_key):
                continue
            if s.lease_until is not None and s.lease_until > now:
                continue
            if due_only and s.next_poll_at > max(now, due_by or now):
                continue
            s.lease_owner, s.lease_until = owner, now + lease
            out.append(
                SourceForPoll(
                    key=key,
                    kind=s.spec.kind,
                    target=s.spec.target,
                    caching=s.caching,
                    cursor=s.cursor,
                    failures=s.failures,
                    primed=s.primed,
                    settled=s.settled,
                    due_at=s.next_poll_at,
                )
            )
            if len(out) >= limit:
                break
        return out

    def release_sources(self, owner: str, keys: Sequence[str] | None = None) -> int:
        n = 0
        for key, s in self.state.sources.items():
            if s.lease_owner == owner and (keys is None or key in keys):
                s.lease_owner = s.lease_until = None
                n += 1
        return n

    def known_items(self, source_key: str, external_ids: Sequence[str]) -> KnownItems:
        wanted = set(external_ids)
        latest: dict[str, str] = {}
        rows: dict[str, Stored] = {}
        for row in self.state.statements.values():
            ext = row.st.item.external_id
            if row.source_key == source_key and ext in wanted:
                latest[ext] = row.versions[-1] if row.versions else row.st.content_hash
                rows[ext] = Stored(
                    id=row.id,
                    source_id=self._source_id(source_key),
                    external_id=ext,
                    content_hash=row.st.content_hash,
                    canonical_url=row.st.canonical_url,
                    published_at=row.st.item.published_at,
                    published_estimated=False,
                    duplicate_of=None,
                    alerted=bool(row.st.channels),
                    text=row.st.item.text,
                    hashes=frozenset({row.st.content_hash, *row.versions}),
                    versions=((row.st.item.title, row.st.item.text),),
                )
        return KnownItems(self._source_id(source_key), latest, rows)

    def lookup_known(self, mine: KnownItems, statements: Sequence[StatementToStore]) -> Known:
        # The fake knows no other source's statements: no repeats, near-duplicates or threads.
        return Known(source_id=mine.source_id, by_external_id=mine.by_external_id)

    def apply_intents(
        self, source_id: int, intents: Sequence[Intent], *, now: datetime
    ) -> StoreResult:
        key = sorted(self.state.sources)[source_id - 1]
        new_ids: list[int] = []
        alerts = edits = 0
        for intent in intents:
            if isinstance(intent, NewVersion):
                self.state.statements[intent.statement_id].versions.append(intent.st.content_hash)
                edits += 1
                continue
            sid = max(self.state.statements, default=0) + 1
            self.state.statements[sid] = StatementState(sid, key, intent.st)
            new_ids.append(sid)
            if intent.alert:
                for channel in intent.st.channels:
                    self.state.alerts.append((sid, channel, AlertKind.NEW))
                    alerts += 1
        return StoreResult(new=len(new_ids), alerts=alerts, new_ids=tuple(new_ids), edits=edits)

    def posts_since(self, source_key: str, *, since: datetime) -> list[tuple[int, str]]:
        return []

    def record_deleted(self, statement_id: int, *, now: datetime) -> int:
        return 0

    def load_statements(self, ids: Sequence[int]) -> list[StoredStatement]:
        return []

    def record_poll_success(
        self,
        key: str,
        *,
        caching: CachingInfo | None,
        cursor: str | None,
        now: datetime,
        next_poll_at: datetime,
        remote_id: str | None = None,
        settled: bytes | None = None,
    ) -> None:
        s = self.state.sources[key]
        if caching is not None:
            s.caching, s.settled = caching, settled
        s.cursor = cursor if cursor is not None else s.cursor
        s.next_poll_at, s.failures, s.last_error, s.primed = next_poll_at, 0, None, True
        s.lease_owner = s.lease_until = None

    def record_not_modified(self, polled: Sequence[tuple[str, datetime]], *, now: datetime) -> None:
        for key, when in polled:
            s = self.state.sources[key]
            s.next_poll_at, s.failures, s.lease_owner, s.lease_until = when, 0, None, None

    def record_poll_failure(
        self, key: str, *, error: str, next_poll_at: datetime, problem: str | None = None
    ) -> int:
        s = self.state.sources[key]
        s.failures += 1
        s.last_error, s.next_poll_at, s.lease_owner, s.lease_until = error, next_poll_at, None, None
        return s.failures

    def record_source_gone(self, key: str, *, error: str, now: datetime) -> None:
        s = self.state.sources[key]
        s.gone, s.last_error, s.lease_owner, s.lease_until = True, error, None, None

    def postpone_source(self, key: str, *, next_poll_at: datetime) -> None:
        s = self.state.sources[key]
        s.next_poll_at, s.lease_owner, s.lease_until = next_poll_at, None, None

    def record_usage(self, api: str, now: datetime, *, requests: int, reads: int) -> None:
        self.state.usage[api] = self.state.usage.get(api, 0) + reads

    def _source_id(self, key: str) -> int:
        return sorted(self.state.sources).index(key) + 1


class FakePollStore:
    """`PollStore` in memory. `fail_commits`: how many transactions fail at commit
    (`StorageError`, nothing written), as a database that went away mid-poll, once `fail_after`
    more have committed."""

    def __init__(self, specs: Sequence[SourceSpec], *, now: datetime) -> None:
        self.state = _PollState(sources={s.key: SourceState(s, now) for s in specs})
        self.fail_commits = 0
        #: transactions that commit before `fail_commits` starts failing
        self.fail_after = 0
        self.commits = 0

    @contextmanager
    def unit(self) -> Iterator[FakePollUnit]:
        work = copy.deepcopy(self.state)
        yield FakePollUnit(work)
        if self.fail_after:
            self.fail_after -= 1
        elif self.fail_commits:
            self.fail_commits -= 1
            raise StorageError("database unavailable: fake outage")
        self.state = work
        self.commits += 1


@dataclass
class OutboxRow:
    alert: AlertForDelivery
    status: AlertStatus = AlertStatus.PENDING
    next_attempt_at: datetime | None = None
    lease_until: datetime | None = None
    message_id: str | None = None
    error: str | None = None


class FakeOutbox:
    """`Outbox` in memory, claiming as storage does: per channel in order, a waiting alert
    holding the channel's later ones, a paused channel's alerts kept. `fail_writes`: how many
    of the next writes fail (`StorageError`, nothing written)."""

    def __init__(self, alerts: Sequence[AlertForDelivery]) -> None:
        self.rows = {a.id: OutboxRow(a) for a in alerts}
        self.paused: dict[str, str] = {}
        self.chats: dict[str, str] = {}
        self.fail_writes = 0
        #: when each chat last had a message (what a previous run sent, set by a test)
        self.sent_at: dict[str, datetime] = {}

    def _write(self) -> None:
        if self.fail_writes:
            self.fail_writes -= 1
            raise StorageError("database unavailable: fake outage")

    def last_sent(self) -> dict[str, datetime]:
        return dict(self.sent_at)

    def claim(
        self, now: datetime, *, limit: int, lease: timedelta, owner: str | None
    ) -> list[AlertForDelivery]:
        out: list[AlertForDelivery] = []
        blocked: set[str] = set()
        for row in sorted(self.rows.values(), key=lambda r: r.alert.id):
            a = row.alert
            if row.status is not AlertStatus.PENDING or a.channel_id in self.paused:
                continue
            if a.channel_id in blocked:
                continue
            if (row.lease_until and row.lease_until > now) or (
                row.next_attempt_at and row.next_attempt_at > now
            ):
                blocked.add(a.channel_id)
                continue
            row.lease_until = now + lease
            out.append(replace(a, chat=self.chats.get(a.channel_id, a.chat)))
            if len(out) >= limit:
                break
        return out

    def load_around(
        self, alerts: Sequence[AlertForDelivery], *, window: timedelta
    ) -> dict[int, Around]:
        return {a.id: Around() for a in alerts}

    def mark_sent(
        self,
        alert_ids: Sequence[int],
        *,
        message_id: str | None,
        now: datetime,
        thread_id: int | None = None,
    ) -> None:
        self._write()
        for i in alert_ids:
            row = self.rows[i]
            row.status, row.message_id, row.lease_until, row.error = (
                AlertStatus.SENT,
                message_id,
                None,
                None,
            )
            row.alert = replace(row.alert, attempts=row.alert.attempts + 1)

    def mark_shown(self, alert_ids: Sequence[int], *, now: datetime) -> None:
        self._write()
        for i in alert_ids:
            self.rows[i].status, self.rows[i].lease_until = AlertStatus.SHOWN, None

    def mark_retry(self, alert_id: int, *, error: str, next_attempt_at: datetime) -> None:
        self._write()
        row = self.rows[alert_id]
        row.error, row.next_attempt_at, row.lease_until = error, next_attempt_at, None
        row.alert = replace(row.alert, attempts=row.alert.attempts + 1, last_error=error)

    def mark_failed(self, alert_id: int, *, error: str, now: datetime) -> None:
        self._write()
        row = self.rows[alert_id]
        row.status, row.error, row.lease_until = AlertStatus.FAILED, error, None

    def release(self, alert_ids: Sequence[int]) -> None:
        self._write()
        for i in alert_ids:
            self.rows[i].lease_until = None

    def pause_channel(
        self, channel_id: str, *, reason: str, now: datetime, release: Sequence[int]
    ) -> None:
        self._write()
        self.paused.setdefault(channel_id, reason)
        for i in release:
            self.rows[i].lease_until = None

    def set_channel_chat(self, channel_id: str, chat: str) -> None:
        self._write()
        self.chats[channel_id] = chat

    def resume(self, channel_id: str) -> None:
        """What the operator's `channels resume` does."""
        self.paused.pop(channel_id, None)
