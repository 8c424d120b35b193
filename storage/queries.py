"""Read-only queries that give an alert its context: what else was said, where, and by whom."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.model import StoredStatement
from storage.schema import AlertRow, MatchRow, StatementRow, VersionRow
from storage.statements import load_statements

__all__ = [
    "also_published",
    "recent_on_topics",
    "text_before",
    "thread_continuations",
    "version_text",
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


def text_before(session: Session, statement_id: int, version_row_id: int) -> str:
    """The statement's text as it was just before version `version_row_id` (title + text)."""
    prev = session.execute(
        select(VersionRow.title, VersionRow.text)
        .where(VersionRow.statement_id == statement_id, VersionRow.id < version_row_id)
        .order_by(VersionRow.id.desc())
        .limit(1)
    ).first()
    if prev is None:
        prev = session.execute(
            select(StatementRow.title, StatementRow.text).where(StatementRow.id == statement_id)
        ).one()
    return _joined(prev.title, prev.text)


def _joined(title: str, text: str) -> str:
    return text if not title or text.startswith(title) else f"{title}\n{text}"


def version_text(session: Session, version_row_id: int) -> tuple[str, datetime]:
    """A version's text (title + text) and when it was made."""
    row = session.get_one(VersionRow, version_row_id)
    return _joined(row.title, row.text), row.published_at
