"""Repository functions for sources: configure, claim the due ones, record each poll's outcome."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import ColumnElement, Table, Update, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from bot.model import CachingInfo, Channel, SourceForPoll, SourceKind, SourceSpec, SourceStatus
from storage.db import READ_CHUNK, SYNC_LOCK, lock_for_setup
from storage.outbox import sync_channels
from storage.schema import SourceRow, StatementRow

__all__ = [
    "claim_sources",
    "postpone_source",
    "record_not_modified",
    "record_poll_failure",
    "record_poll_success",
    "record_source_gone",
    "release_sources",
    "source_statuses",
    "sync_sources",
    "sync_watchlist",
]


def sync_watchlist(
    session: Session,
    specs: Sequence[SourceSpec],
    channels: Sequence[Channel],
    *,
    default_interval: timedelta,
    now: datetime,
) -> None:
    """Make the sources and channels tables agree with the watchlist, one worker at a time
    (workers started together would insert the same new source twice: issue 11)."""
    lock_for_setup(session, SYNC_LOCK)
    sync_sources(session, specs, default_interval=default_interval, now=now)
    sync_channels(session, channels)


def sync_sources(
    session: Session, specs: Sequence[SourceSpec], *, default_interval: timedelta, now: datetime
) -> None:
    """Make the table agree with the watchlist.

    New sources are due at once; sources that left the watchlist are deactivated (their statements
    stay); a source that comes back resumes with its stored cursor and ETag.
    """
    # issue 9: plain rows of the columns compared, and one statement per kind of change: ORM
    # objects of every source (each with its settled items) cost 0.1 s at every start of 1,000
    t = _SOURCES
    rows = {r.key: r for r in session.execute(select(*_SYNCED))}
    wanted = {s.key for s in specs}
    new: list[dict[str, object]] = []
    changed: list[dict[str, object]] = []
    for spec in specs:
        interval = int((spec.interval or default_interval).total_seconds())
        row = rows.get(spec.key)
        if row is None:
            new.append(
                {
                    "key": spec.key,
                    "kind": spec.kind.value,
                    "target": spec.target,
                    "speaker_id": spec.speaker_id,
                    "interval_seconds": interval,
                    "active": True,
                    "primed": False,
                    "failures": 0,
                    "next_poll_at": now,
                }
            )
            continue
        next_poll_at = row.next_poll_at
        if row.interval_seconds != interval:
            # A shorter interval takes effect now, not after the old, longer wait.
            next_poll_at = min(next_poll_at, now + timedelta(seconds=interval))
        if not row.active:
            next_poll_at = now
        values = {
            "speaker_id": spec.speaker_id,
            "target": spec.target,
            "interval_seconds": interval,
            "next_poll_at": next_poll_at,
            "active": True,
        }
        if any(getattr(row, k) != v for k, v in values.items()):
            changed.append({"row_id": row.id, **values})
    if new:
        session.execute(insert(t), new)
    if changed:
        session.execute(_SYNC_UPDATE, changed)
    gone = [r.id for key, r in rows.items() if key not in wanted and r.active]
    if gone:
        session.execute(
            update(t).where(t.c.id.in_(bindparam("ids", expanding=True))).values(active=False),
            {"ids": gone},
        )


def claim_sources(
    session: Session,
    now: datetime,
    *,
    limit: int,
    lease: timedelta,
    owner: str,
    due_only: bool = True,
    after_key: str | None = None,
    due_by: datetime | None = None,
    source_ids: dict[str, int] | None = None,
) -> list[SourceForPoll]:
    """Take up to `limit` active sources that are due (or all, with ``due_only=False``).

    Each is leased to `owner` until ``now + lease`` so that another worker does not poll it too;
    on PostgreSQL concurrent claimers skip each other's locked rows. With `after_key` the
    sources come in key order, only those whose key sorts after it: a walk over every source
    that never takes one twice (``after_key=""`` starts it). With `due_by`, sources due by
    then count as due. `source_ids` (key → row id) learns the row id of each source claimed:
    the poll's statements need it (issue 9: asked once per source, it cost a query each).
    """
    t = _SOURCES
    query = select(*_CLAIMED).where(*_claimable(now)).limit(limit)
    if after_key is None:
        query = query.order_by(t.c.next_poll_at, t.c.id)
    else:
        query = query.where(t.c.key > after_key).order_by(t.c.key)
    if due_only:
        # `due_by`: what comes due before the next tick is taken now, not a tick late.
        query = query.where(t.c.next_poll_at <= max(now, due_by or now))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    # issue 9: plain rows and one UPDATE for the lot; ORM objects, each flushed with its own
    # UPDATE, cost about 0.05 ms a source at every claim.
    rows = session.execute(query).all()
    if rows:
        session.execute(
            update(t)
            .where(t.c.id.in_(bindparam("ids", expanding=True)))
            .values(lease_until=now + lease, lease_owner=owner, last_attempt_at=now),
            {"ids": [r.id for r in rows]},
        )
        if source_ids is not None:
            source_ids.update((r.key, r.id) for r in rows)
    return [
        SourceForPoll(
            key=r.key,
            kind=SourceKind(r.kind),
            target=r.target,
            caching=CachingInfo(etag=r.etag, last_modified=r.last_modified),
            cursor=r.cursor,
            failures=r.failures,
            primed=r.primed,
            remote_id=r.remote_id,
            settled=r.settled,
            due_at=r.next_poll_at,
        )
        for r in rows
    ]


_SOURCES = cast(Table, SourceRow.__table__)


def _claimable(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """The sources a worker may take now: active, not gone, and leased to no one."""
    t = _SOURCES
    return (
        t.c.active.is_(True),
        t.c.gone_at.is_(None),
        or_(t.c.lease_until.is_(None), t.c.lease_until <= now),
    )


#: what `sync_sources` sets from the watchlist, and reads to compare first
_SYNC_VALUES = ("speaker_id", "target", "interval_seconds", "next_poll_at", "active")
_SYNCED = tuple(_SOURCES.c[name] for name in ("id", "key", *_SYNC_VALUES))
_SYNC_UPDATE = (
    update(_SOURCES)
    .where(_SOURCES.c.id == bindparam("row_id"))
    .values({k: bindparam(k) for k in _SYNC_VALUES})
)
#: what a claim reads of each source
_CLAIMED = tuple(
    _SOURCES.c[name]
    for name in (
        "id", "key", "kind", "target", "etag", "last_modified", "cursor", "failures", "primed",
        "remote_id", "settled", "next_poll_at",
    )
)  # fmt: skip


def record_poll_success(
    session: Session,
    key: str,
    *,
    caching: CachingInfo | None,
    cursor: str | None,
    now: datetime,
    next_poll_at: datetime,
    remote_id: str | None = None,
    settled: bytes | None = None,
) -> None:
    """The poll worked: store the new caching info and cursor, clear failures and the lease.

    `caching` None keeps the stored values (a 304 keeps the validators it answered to), and the
    settled items stored with them; otherwise `settled` replaces those (None: none).
    """
    values: dict[str, object] = {
        "failures": 0,
        "last_error": None,
        "last_problem": None,
        "last_success_at": now,
        "next_poll_at": next_poll_at,
        "lease_until": None,
        "lease_owner": None,
        "primed": True,
    }
    if caching is not None:
        values["etag"] = caching.etag
        values["last_modified"] = caching.last_modified
        values["settled"] = settled
    if cursor is not None:
        values["cursor"] = cursor
    if remote_id is not None:
        values["remote_id"] = remote_id
    session.execute(_success_update(tuple(values)), {"source_key": key, **values})


@functools.cache
def _success_update(columns: tuple[str, ...]) -> Update:
    """issue 9: a Core UPDATE with the values as parameters, built once per set of columns (an
    ORM one re-keyed its inlined values at every poll; one built per call cost 0.3 ms)."""
    table = cast(Table, SourceRow.__table__)
    stmt = update(table).where(table.c.key == bindparam("source_key"))
    return stmt.values({k: bindparam(k) for k in columns})


def record_not_modified(
    session: Session, polled: Sequence[tuple[str, datetime]], *, now: datetime
) -> None:
    """Many sources answered 304: clear their failures and leases, schedule each next poll."""
    table = cast(Table, SourceRow.__table__)
    stmt = (
        update(table)
        .where(table.c.key == bindparam("source_key"))
        .values(
            next_poll_at=bindparam("when"),
            failures=0,
            last_error=None,
            last_problem=None,
            last_success_at=now,
            lease_until=None,
            lease_owner=None,
        )
    )
    session.connection().execute(stmt, [{"source_key": k, "when": w} for k, w in polled])


def record_poll_failure(
    session: Session,
    key: str,
    *,
    error: str,
    next_poll_at: datetime,
    problem: str | None = None,
) -> int:
    """The poll failed: count it, keep the message (and the problem, when classified) for
    operators; returns the failure count."""
    row = session.scalars(select(SourceRow).where(SourceRow.key == key)).one()
    row.failures += 1
    row.last_error = error[:2000]
    row.last_problem = problem
    row.next_poll_at = next_poll_at
    row.lease_until = None
    row.lease_owner = None
    return row.failures


def record_source_gone(session: Session, key: str, *, error: str, now: datetime) -> None:
    """The publisher removed the source for good: keep why and when, poll it no more.

    It stays gone across restarts; editing its address in the watchlist makes a new source.
    """
    session.execute(
        update(SourceRow)
        .where(SourceRow.key == key)
        .values(
            gone_at=now,
            last_error=error[:2000],
            failures=SourceRow.failures + 1,
            lease_until=None,
            lease_owner=None,
        )
    )


def release_sources(session: Session, owner: str, keys: Sequence[str] | None = None) -> int:
    """Give back the leases `owner` holds (on `keys`, or all): those sources may be polled again
    at once, by anyone. Returns how many were released."""
    query = update(SourceRow).where(SourceRow.lease_owner == owner)
    if keys is not None:
        query = query.where(SourceRow.key.in_(keys))
    result = session.execute(query.values(lease_until=None, lease_owner=None))
    return int(getattr(result, "rowcount", 0) or 0)


def oldest_due(session: Session, now: datetime) -> datetime | None:
    """When the source waiting longest to be polled came due: among the active sources that no
    worker is polling now, the earliest next poll; None when none is due.

    issue 9: workers that cannot keep up poll late, and alert late, without any error; `now -
    oldest_due` is how far behind they are (`watchpost_poll_overdue_seconds`)."""
    t = _SOURCES
    due: datetime | None = session.scalar(
        select(func.min(t.c.next_poll_at)).where(*_claimable(now), t.c.next_poll_at <= now)
    )
    return due


def postpone_source(session: Session, key: str, *, next_poll_at: datetime) -> None:
    """Poll later without counting a failure (our own budget held the request)."""
    session.execute(
        update(SourceRow)
        .where(SourceRow.key == key)
        .values(next_poll_at=next_poll_at, lease_until=None, lease_owner=None)
    )


def source_statuses(session: Session) -> list[SourceStatus]:
    """One line per active source for `watchpost sources`, in watchlist-independent key order."""
    # issue 9: READ_CHUNK rows at a time: the operator notices read 10,000 sources in a thread
    # while the event loop waited.
    counts: dict[int, tuple[int, datetime | None]] = {
        source_id: (n, last)
        for source_id, n, last in session.execute(
            select(StatementRow.source_id, func.count(), func.max(StatementRow.published_at))
            .group_by(StatementRow.source_id)
            .execution_options(yield_per=READ_CHUNK)
        )
    }
    rows = session.scalars(
        select(SourceRow)
        .where(SourceRow.active.is_(True))
        .order_by(SourceRow.speaker_id, SourceRow.key)
        .execution_options(yield_per=READ_CHUNK)
    )
    return [
        SourceStatus(
            key=r.key,
            kind=SourceKind(r.kind),
            speaker_id=r.speaker_id,
            last_success_at=r.last_success_at,
            last_error=r.last_error,
            failures=r.failures,
            next_poll_at=r.next_poll_at,
            statements=int(counts.get(r.id, (0, None))[0]),
            cursor=r.cursor,
            last_published_at=counts.get(r.id, (0, None))[1],
            gone_at=r.gone_at,
            last_problem=r.last_problem,
        )
        for r in rows
    ]
