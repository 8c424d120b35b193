"""The SQLAlchemy adapters of the use cases' storage ports (`bot.ports.PollStore`, `Outbox`):
thin classes over the repository functions, one session per transaction."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from bot.context import Around
from bot.ingest import Intent, Known, KnownItems
from bot.model import (
    AlertForDelivery,
    CachingInfo,
    SourceForPoll,
    StatementToStore,
    StoredStatement,
    StoreResult,
)
from storage import deletions, outbox, queries, sources, statements, usage
from storage.db import rollback_scope, session_scope

__all__ = ["SqlOutbox", "SqlPollStore", "SqlPollUnit"]


class SqlPollUnit:
    """The poller's reads and writes in one session (one transaction)."""

    def __init__(self, session: Session, source_ids: dict[str, int] | None = None) -> None:
        self.session = session
        # A source key's row id never changes (a new address is a new source): asked once.
        self._source_ids = source_ids if source_ids is not None else {}

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
        return sources.claim_sources(
            self.session,
            now,
            limit=limit,
            lease=lease,
            owner=owner,
            due_only=due_only,
            due_by=due_by,
            after_key=after_key,
            source_ids=self._source_ids,
        )

    def release_sources(self, owner: str, keys: Sequence[str] | None = None) -> int:
        return sources.release_sources(self.session, owner, keys=keys)

    def known_items(self, source_key: str, external_ids: Sequence[str]) -> KnownItems:
        mine = statements.known_items(
            self.session, source_key, external_ids, source_id=self._source_ids.get(source_key)
        )
        self._source_ids[source_key] = mine.source_id
        return mine

    def lookup_known(self, mine: KnownItems, todo: Sequence[StatementToStore]) -> Known:
        return statements.lookup_known(self.session, mine.source_id, todo, mine=mine)

    def apply_intents(
        self, source_id: int, intents: Sequence[Intent], *, now: datetime
    ) -> StoreResult:
        return statements.apply_intents(self.session, source_id, intents, now=now)

    def posts_since(self, source_key: str, *, since: datetime) -> list[tuple[int, str]]:
        return deletions.posts_since(self.session, source_key, since=since)

    def record_deleted(self, statement_id: int, *, now: datetime) -> int:
        return deletions.record_deleted(self.session, statement_id, now=now)

    def load_statements(self, ids: Sequence[int]) -> list[StoredStatement]:
        return statements.load_statements(self.session, ids)

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
        sources.record_poll_success(
            self.session,
            key,
            caching=caching,
            cursor=cursor,
            now=now,
            next_poll_at=next_poll_at,
            remote_id=remote_id,
            settled=settled,
        )

    def record_not_modified(self, polled: Sequence[tuple[str, datetime]], *, now: datetime) -> None:
        sources.record_not_modified(self.session, polled, now=now)

    def record_poll_failure(
        self, key: str, *, error: str, next_poll_at: datetime, problem: str | None = None
    ) -> int:
        return sources.record_poll_failure(
            self.session, key, error=error, next_poll_at=next_poll_at, problem=problem
        )

    def record_source_gone(self, key: str, *, error: str, now: datetime) -> None:
        sources.record_source_gone(self.session, key, error=error, now=now)

    def postpone_source(self, key: str, *, next_poll_at: datetime) -> None:
        sources.postpone_source(self.session, key, next_poll_at=next_poll_at)

    def record_usage(self, api: str, now: datetime, *, requests: int, reads: int) -> None:
        usage.record_usage(self.session, api, now, requests=requests, reads=reads)


class SqlPollStore:
    """`PollStore` on a database; a dry run rolls every transaction back (issue 7)."""

    def __init__(self, sessions: sessionmaker[Session], *, dry_run: bool = False) -> None:
        self._sessions = sessions
        self._dry_run = dry_run
        self._source_ids: dict[str, int] = {}

    @staticmethod
    def unit_of(session: Session) -> SqlPollUnit:
        """The poller's operations in a transaction the caller holds (`store_statements`)."""
        return SqlPollUnit(session)

    @contextmanager
    def unit(self) -> Iterator[SqlPollUnit]:
        scope = rollback_scope if self._dry_run else session_scope
        with scope(self._sessions) as session:
            yield SqlPollUnit(session, self._source_ids)


class SqlOutbox:
    """`Outbox` on a database: one transaction per call."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def claim(
        self, now: datetime, *, limit: int, lease: timedelta, owner: str | None
    ) -> list[AlertForDelivery]:
        with session_scope(self._sessions) as s:
            return outbox.claim_alerts(s, now, limit=limit, lease=lease, owner=owner)

    def last_sent(self) -> dict[str, datetime]:
        with session_scope(self._sessions) as s:
            return outbox.last_sent_per_chat(s)

    def load_around(
        self, alerts: Sequence[AlertForDelivery], *, window: timedelta
    ) -> dict[int, Around]:
        with session_scope(self._sessions) as s:
            return queries.load_around(s, alerts, window=window)

    def mark_sent(
        self,
        alert_ids: Sequence[int],
        *,
        message_id: str | None,
        now: datetime,
        thread_id: int | None = None,
    ) -> None:
        with session_scope(self._sessions) as s:
            outbox.mark_alerts_sent(
                s, alert_ids, message_id=message_id, now=now, thread_id=thread_id
            )

    def mark_shown(self, alert_ids: Sequence[int], *, now: datetime) -> None:
        with session_scope(self._sessions) as s:
            outbox.mark_alerts_shown(s, alert_ids, now=now)

    def mark_retry(self, alert_id: int, *, error: str, next_attempt_at: datetime) -> None:
        with session_scope(self._sessions) as s:
            outbox.mark_alert_retry(s, alert_id, error=error, next_attempt_at=next_attempt_at)

    def mark_failed(self, alert_id: int, *, error: str, now: datetime) -> None:
        with session_scope(self._sessions) as s:
            outbox.mark_alert_failed(s, alert_id, error=error, now=now)

    def release(self, alert_ids: Sequence[int]) -> None:
        with session_scope(self._sessions) as s:
            outbox.release_alerts(s, alert_ids)

    def pause_channel(
        self, channel_id: str, *, reason: str, now: datetime, release: Sequence[int]
    ) -> None:
        with session_scope(self._sessions) as s:
            outbox.pause_channel(s, channel_id, reason=reason, now=now)
            outbox.release_alerts(s, release)

    def set_channel_chat(self, channel_id: str, chat: str) -> None:
        with session_scope(self._sessions) as s:
            outbox.set_channel_chat(s, channel_id, chat)
