"""Read-only queries that give an alert its context: what else was said, where, and by whom."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.model import StoredStatement
from storage.schema import AlertRow, MatchRow, StatementRow
from storage.statements import load_statements

__all__ = [
    "also_published",
    "recent_on_topics",
    "thread_continuations",
]


def recent_on_topics(
    session: Session,
    topic_ids: Sequence[str],
    *,
    since: datetime,
    until: datetime,
    exclude_speakers: Sequence[str] = (),
    limit: int = 20,
) -> list[StoredStatement]:
    """The newest original statements on any of `topic_ids` published in [since, until]."""
    if not topic_ids:
        return []
    ids = list(
        session.scalars(
            select(StatementRow.id)
            .join(MatchRow, MatchRow.statement_id == StatementRow.id)
            .where(
                MatchRow.topic_id.in_(topic_ids),
                StatementRow.published_at >= since,
                StatementRow.published_at <= until,
                StatementRow.duplicate_of.is_(None),
                StatementRow.speaker_id.not_in(exclude_speakers),
            )
            .group_by(StatementRow.id, StatementRow.published_at)
            .order_by(StatementRow.published_at.desc(), StatementRow.id.desc())
            .limit(limit)
        )
    )
    return load_statements(session, ids)


def also_published(session: Session, statement_id: int) -> list[StoredStatement]:
    """Statements recognised as the same as `statement_id` from other sources, oldest first."""
    ids = list(
        session.scalars(
            select(StatementRow.id)
            .where(StatementRow.duplicate_of == statement_id)
            .where(
                StatementRow.source_id
                != select(StatementRow.source_id)
                .where(StatementRow.id == statement_id)
                .scalar_subquery()
            )
            .order_by(StatementRow.id)
        )
    )
    return load_statements(session, ids)


def thread_continuations(session: Session, root_id: int) -> list[StoredStatement]:
    """The speaker's own replies that continued the thread started by `root_id`, oldest first."""
    ids = list(
        session.scalars(
            select(AlertRow.subject_id)
            .where(AlertRow.statement_id == root_id, AlertRow.kind == "thread")
            .group_by(AlertRow.subject_id)
            .order_by(AlertRow.subject_id)
        )
    )
    return load_statements(session, ids)
