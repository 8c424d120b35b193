"""Repository functions for deletion checks: what to re-check, and the verdicts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from bot.model import AlertKind
from storage.schema import SourceRow, StatementRow, VersionRow
from storage.statements import follow_up

__all__ = [
    "ToCheck",
    "due_for_deletion_check",
    "posts_since",
    "record_checked",
    "record_deleted",
]


@dataclass(frozen=True, slots=True)
class ToCheck:
    """A statement to look up again: its id here and the ids it has at the source."""

    statement_id: int
    #: every platform id of it (the first version and later ones): gone only when all are gone
    remote_ids: tuple[str, ...]
    #: the platform's id of the account that published it (its source's remote id), if known
    author_id: str | None = None


def due_for_deletion_check(
    session: Session,
    *,
    kind: str,
    since: datetime,
    limit: int,
    checked_before: datetime | None = None,
) -> list[ToCheck]:
    """Alerted statements of sources of `kind` published after `since`, least recently checked
    first, not yet found deleted."""
    rows = session.execute(
        select(StatementRow.id, StatementRow.external_id, SourceRow.remote_id)
        .join(SourceRow, SourceRow.id == StatementRow.source_id)
        .where(
            SourceRow.kind == kind,
            StatementRow.published_at >= since,
            StatementRow.deleted_at.is_(None),
            StatementRow.alerted.is_(True),
            or_(
                StatementRow.checked_at.is_(None),
                StatementRow.checked_at < (checked_before or datetime.max.replace(tzinfo=UTC)),
            ),
        )
        .order_by(StatementRow.checked_at.is_not(None), StatementRow.checked_at, StatementRow.id)
        .limit(limit)
    ).all()
    ids = [r.id for r in rows]
    versions: dict[int, list[str]] = {}
    for sid, vid in session.execute(
        select(VersionRow.statement_id, VersionRow.version_id).where(
            VersionRow.statement_id.in_(ids), VersionRow.version_id.is_not(None)
        )
    ):
        versions.setdefault(sid, []).append(str(vid))
    return [ToCheck(r.id, (r.external_id, *versions.get(r.id, [])), r.remote_id) for r in rows]


def record_checked(session: Session, statement_ids: Sequence[int], *, now: datetime) -> None:
    """These statements were still there at `now`."""
    if statement_ids:
        session.execute(
            update(StatementRow).where(StatementRow.id.in_(statement_ids)).values(checked_at=now)
        )


def record_deleted(session: Session, statement_id: int, *, now: datetime) -> int:
    """The source deleted the statement: mark it (its text stays) and answer each of its alerts;
    returns the alerts enqueued (0 when it was already known to be deleted)."""
    changed = session.execute(
        update(StatementRow)
        .where(StatementRow.id == statement_id, StatementRow.deleted_at.is_(None))
        .values(deleted_at=now, checked_at=now)
    )
    if not getattr(changed, "rowcount", 0):
        return 0
    return follow_up(session, statement_id, AlertKind.DELETE, statement_id, now)


def posts_since(session: Session, source_key: str, *, since: datetime) -> list[tuple[int, str]]:
    """(statement id, external id) of the source's statements published since `since` and not
    known to be deleted: what a Telegram poll's window may show gone."""
    rows = session.execute(
        select(StatementRow.id, StatementRow.external_id)
        .join(SourceRow, SourceRow.id == StatementRow.source_id)
        .where(
            SourceRow.key == source_key,
            StatementRow.published_at >= since,
            StatementRow.deleted_at.is_(None),
        )
    ).all()
    return [(sid, ext) for sid, ext in rows]
