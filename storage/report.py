"""Read-only summaries for the operator: channels and their outbox, activity over a window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.model import AlertStatus
from storage.schema import AlertRow, ChannelRow, SourceRow, StatementRow, VersionRow

__all__ = ["ActivityCounts", "ChannelSummary", "activity_since", "channel_summaries"]


@dataclass(frozen=True, slots=True)
class ChannelSummary:
    """One channel as the operator sees it: where it sends, whether it is paused, its outbox."""

    id: str
    chat: str
    paused_at: datetime | None
    paused_reason: str | None
    #: alerts by `AlertStatus` value, zeros included
    alerts: tuple[tuple[str, int], ...]
    last_sent_at: datetime | None

    def count(self, status: AlertStatus) -> int:
        """Alerts of the channel in `status`."""
        return dict(self.alerts).get(status.value, 0)


@dataclass(frozen=True, slots=True)
class ActivityCounts:
    """What the workers found and queued since a moment."""

    #: (speaker id, source kind, statements stored) sorted by speaker then kind
    statements: tuple[tuple[str, str, int], ...]
    #: (channel id, alert status value, alerts created) sorted by channel then status
    alerts: tuple[tuple[str, str, int], ...]
    #: statements stored as near- or exact duplicates of another (not alerted again)
    duplicates: int
    #: later versions of statements found (edits)
    edits: int
    #: statements found deleted by their speaker
    deletions: int


def channel_summaries(session: Session) -> list[ChannelSummary]:
    """Every channel in the database, by id, with its alerts counted by status."""
    counts: dict[str, dict[str, int]] = {}
    last_sent: dict[str, datetime | None] = {}
    rows = session.execute(
        select(
            AlertRow.channel_id, AlertRow.status, func.count(), func.max(AlertRow.sent_at)
        ).group_by(AlertRow.channel_id, AlertRow.status)
    )
    for channel_id, status, n, sent_at in rows:
        counts.setdefault(channel_id, {})[status] = int(n)
        if status == AlertStatus.SENT.value:
            last_sent[channel_id] = sent_at
    out = []
    for ch in session.scalars(select(ChannelRow).order_by(ChannelRow.id)):
        by_status = counts.get(ch.id, {})
        out.append(
            ChannelSummary(
                id=ch.id,
                chat=ch.chat,
                paused_at=ch.paused_at,
                paused_reason=ch.paused_reason,
                alerts=tuple((s.value, by_status.get(s.value, 0)) for s in AlertStatus),
                last_sent_at=last_sent.get(ch.id),
            )
        )
    return out


def activity_since(session: Session, since: datetime) -> ActivityCounts:
    """Statements stored, alerts queued, duplicates, edits and deletions found after `since`.

    Statements count by when a worker stored them (`fetched_at`), not when they were published:
    this is what the workers did, so a backlog read after downtime shows up when it was read.
    """
    statements = session.execute(
        select(StatementRow.speaker_id, SourceRow.kind, func.count())
        .join(SourceRow, SourceRow.id == StatementRow.source_id)
        .where(StatementRow.fetched_at >= since)
        .group_by(StatementRow.speaker_id, SourceRow.kind)
        .order_by(StatementRow.speaker_id, SourceRow.kind)
    )
    alerts = session.execute(
        select(AlertRow.channel_id, AlertRow.status, func.count())
        .where(AlertRow.created_at >= since)
        .group_by(AlertRow.channel_id, AlertRow.status)
        .order_by(AlertRow.channel_id, AlertRow.status)
    )
    duplicates = session.scalar(
        select(func.count())
        .select_from(StatementRow)
        .where(StatementRow.fetched_at >= since, StatementRow.duplicate_of.is_not(None))
    )
    edits = session.scalar(
        select(func.count()).select_from(VersionRow).where(VersionRow.fetched_at >= since)
    )
    deletions = session.scalar(
        select(func.count()).select_from(StatementRow).where(StatementRow.deleted_at >= since)
    )
    return ActivityCounts(
        statements=tuple((sp, kind, int(n)) for sp, kind, n in statements),
        alerts=tuple((ch, status, int(n)) for ch, status, n in alerts),
        duplicates=int(duplicates or 0),
        edits=int(edits or 0),
        deletions=int(deletions or 0),
    )
