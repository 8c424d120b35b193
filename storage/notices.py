"""Operator notices in storage: when each subject was last told, and the inputs to decide."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.db import READ_CHUNK
from storage.schema import NoticeRow, SourceRow, StatementRow

__all__ = ["notices_sent", "record_notice", "statement_times"]


def notices_sent(session: Session) -> dict[str, datetime]:
    """When a notice was last sent, per subject."""
    return {s: at for s, at in session.execute(select(NoticeRow.subject, NoticeRow.sent_at))}


def record_notice(session: Session, subject: str, kind: str, text: str, *, now: datetime) -> None:
    """A notice about `subject` was sent (or logged) now."""
    row = session.get(NoticeRow, subject)
    if row is None:
        session.add(NoticeRow(subject=subject, kind=kind, sent_at=now, text=text))
    else:
        row.kind, row.sent_at, row.text = kind, now, text


def statement_times(session: Session, *, per_source: int) -> dict[str, list[datetime]]:
    """The publication times of each active source's last `per_source` statements."""
    ranked = (
        select(
            SourceRow.key.label("key"),
            StatementRow.published_at.label("at"),
            func.row_number()
            .over(partition_by=StatementRow.source_id, order_by=StatementRow.published_at.desc())
            .label("n"),
        )
        .join(SourceRow, SourceRow.id == StatementRow.source_id)
        .where(SourceRow.active.is_(True))
        .subquery()
    )
    out: dict[str, list[datetime]] = defaultdict(list)
    query = select(ranked.c.key, ranked.c.at).where(ranked.c.n <= per_source)
    for key, at in session.execute(query.execution_options(yield_per=READ_CHUNK)):
        out[key].append(at)
    return dict(out)
