"""Repository functions for the outbox: claim due alerts, mark them sent, retried or failed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from bot.model import AlertForDelivery, AlertKind, AlertStatus, Channel
from storage.schema import AlertRow, ChannelRow
from storage.statements import load_statements

__all__ = [
    "alert_state",
    "claim_alerts",
    "mark_alert_failed",
    "mark_alert_retry",
    "mark_alert_sent",
    "mark_alert_shown",
    "mark_alerts_sent",
    "mark_alerts_shown",
    "message_shared",
    "outbox_counts",
    "pause_channel",
    "paused_channels",
    "release_alert",
    "release_alerts",
    "release_alerts_of",
    "resend_shown",
    "resume_channel",
    "set_channel_chat",
    "sync_channels",
]


def sync_channels(session: Session, channels: Sequence[Channel]) -> None:
    """Record the configured chats; a chat Telegram moved (migrated) stays moved until the
    operator changes the configured chat."""
    rows = {r.id: r for r in session.scalars(select(ChannelRow))}
    for ch in channels:
        row = rows.get(ch.id)
        if row is None:
            session.add(ChannelRow(id=ch.id, chat=ch.chat, configured_chat=ch.chat))
        elif row.configured_chat != ch.chat:
            row.chat = row.configured_chat = ch.chat


def pause_channel(session: Session, channel_id: str, *, reason: str, now: datetime) -> None:
    """Telegram refuses the chat itself: hold every alert of the channel until resumed."""
    session.execute(
        update(ChannelRow)
        .where(ChannelRow.id == channel_id, ChannelRow.paused_at.is_(None))
        .values(paused_at=now, paused_reason=reason[:2000])
    )


def resume_channel(
    session: Session, channel_id: str, *, now: datetime, include_failed: bool = False
) -> int | None:
    """The operator fixed the chat: deliver its waiting alerts (and, with `include_failed`,
    those it refused for good before: an old version failed them on the first refusal);
    returns how many alerts are queued, or None for an unknown channel."""
    row = session.get(ChannelRow, channel_id)
    if row is None:
        return None
    row.paused_at = None
    row.paused_reason = None
    if include_failed:
        session.execute(
            update(AlertRow)
            .where(
                AlertRow.channel_id == channel_id,
                AlertRow.status == AlertStatus.FAILED.value,
            )
            .values(status=AlertStatus.PENDING.value, attempts=0, last_error=None, sent_at=None)
        )
    session.execute(
        update(AlertRow)
        .where(AlertRow.channel_id == channel_id, AlertRow.status == AlertStatus.PENDING.value)
        .values(next_attempt_at=now, lease_until=None)
    )
    n = session.scalar(
        select(func.count())
        .select_from(AlertRow)
        .where(AlertRow.channel_id == channel_id, AlertRow.status == AlertStatus.PENDING.value)
    )
    return int(n or 0)


def paused_channels(session: Session) -> list[tuple[str, datetime, str]]:
    """(channel id, paused since, why) for every paused channel."""
    rows = session.execute(
        select(ChannelRow.id, ChannelRow.paused_at, ChannelRow.paused_reason)
        .where(ChannelRow.paused_at.is_not(None))
        .order_by(ChannelRow.id)
    )
    return [(cid, when, reason or "") for cid, when, reason in rows if when is not None]


def set_channel_chat(session: Session, channel_id: str, chat: str) -> None:
    """Telegram moved the chat (group → supergroup): send there from now on."""
    session.execute(update(ChannelRow).where(ChannelRow.id == channel_id).values(chat=chat))


def last_sent_per_chat(session: Session) -> dict[str, datetime]:
    """When each chat last had a message from us: a restarted worker keeps the chat's pace
    instead of being answered 429 at its first send to every chat (issue 11, the soak)."""
    return {
        chat: at
        for chat, at in session.execute(
            select(ChannelRow.chat, func.max(AlertRow.sent_at))
            .join(ChannelRow, ChannelRow.id == AlertRow.channel_id)
            .where(AlertRow.sent_at.is_not(None))
            .group_by(ChannelRow.chat)
        )
        if at is not None
    }


def claim_alerts(
    session: Session, now: datetime, *, limit: int, lease: timedelta, owner: str | None = None
) -> list[AlertForDelivery]:
    """Take up to `limit` pending alerts that are due, oldest first, leased until ``now + lease``.

    A channel reads its alerts in order: when a channel's oldest pending alert is waiting (for a
    retry, or leased to a sender), none of its later alerts is taken. An alert whose worker died
    mid-send is claimable again once its lease runs out.
    """
    query = (
        select(AlertRow, ChannelRow.chat)
        .join(ChannelRow, ChannelRow.id == AlertRow.channel_id)
        .where(AlertRow.status == AlertStatus.PENDING.value)
        # a paused channel's alerts wait for the operator (issue 11)
        .where(ChannelRow.paused_at.is_(None))
        .order_by(AlertRow.id)
        # Not-yet-due rows are read too (they block their channel); read enough to fill `limit`.
        .limit(limit * 4)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=AlertRow)
    blocked: set[str] = set()
    rows = session.execute(query).all()
    parents = {
        pid: (mid, thread)
        for pid, mid, thread in session.execute(
            select(AlertRow.id, AlertRow.message_id, AlertRow.thread_id).where(
                AlertRow.id.in_([r.parent_id for r, _ in rows if r.parent_id is not None])
            )
        )
    }
    taken: list[tuple[AlertRow, str]] = []
    for row, chat in rows:
        if row.channel_id in blocked:
            continue
        leased = row.lease_until is not None and row.lease_until > now
        if leased or row.next_attempt_at > now:
            # A digest waits for its hour without holding up the channel's other alerts.
            if row.kind != AlertKind.DIGEST.value:
                blocked.add(row.channel_id)
            continue
        taken.append((row, chat))
        if len(taken) >= limit:
            break
    if taken:
        # One UPDATE for the lease of every claimed alert, not one per alert (issue 9).
        session.execute(
            update(AlertRow)
            .where(AlertRow.id.in_([r.id for r, _ in taken]))
            .values(lease_until=now + lease, lease_owner=owner)
            .execution_options(synchronize_session=False)
        )
    # issue 9: the statements of all claimed alerts in one load, not two queries per alert.
    statements = {
        st.id: st for st in load_statements(session, sorted({r.statement_id for r, _ in taken}))
    }
    out = [
        AlertForDelivery(
            id=row.id,
            channel_id=row.channel_id,
            chat=chat,
            kind=AlertKind(row.kind),
            attempts=row.attempts,
            statement=statements[row.statement_id],
            created_at=row.created_at,
            parent_id=row.parent_id,
            parent_message_id=parents.get(row.parent_id, (None, None))[0]
            if row.parent_id
            else None,
            parent_thread_id=parents.get(row.parent_id, (None, None))[1] if row.parent_id else None,
            subject_id=row.subject_id,
            last_error=row.last_error,
        )
        for row, chat in taken
    ]
    return out


def mark_alert_sent(
    session: Session,
    alert_id: int,
    *,
    message_id: str | None,
    now: datetime,
    thread_id: int | None = None,
) -> None:
    """Telegram confirmed the message: the alert is done (`mark_alerts_sent`)."""
    mark_alerts_sent(session, [alert_id], message_id=message_id, now=now, thread_id=thread_id)


def mark_alerts_sent(
    session: Session,
    alert_ids: Sequence[int],
    *,
    message_id: str | None,
    now: datetime,
    thread_id: int | None = None,
) -> None:
    """Telegram confirmed the message that carried these alerts (one, or a burst's): they are
    done, with its message id kept (and the forum topic it went to, where their follow-ups go:
    issue 11). One statement for them all."""
    session.execute(
        _MARK_SENT,
        {
            "ids": list(alert_ids),
            "message_id": message_id,
            "thread_id": thread_id,
            "sent_at": now,
        },
    )


def mark_alert_shown(session: Session, alert_id: int, *, now: datetime) -> None:
    """The alert was printed on the console (`mark_alerts_shown`)."""
    mark_alerts_shown(session, [alert_id], now=now)


def mark_alerts_shown(session: Session, alert_ids: Sequence[int], *, now: datetime) -> None:
    """The alerts were printed on the console: done for this worker, but never counted as
    sent. One statement for them all.

    No message id is kept: a console number is no Telegram message, and a reply or an edit
    aimed at it would land on someone else's message.
    """
    session.execute(_MARK_SHOWN, {"ids": list(alert_ids)})


# Built once, on the table: an ORM update built per alert, with the session's synchronizing
# of loaded objects, cost 1 ms an alert, and a burst of 100 made 100 of them (issue 9).
_ALERTS = cast(Table, AlertRow.__table__)
_MARK_DONE = _ALERTS.update().where(_ALERTS.c.id.in_(bindparam("ids", expanding=True)))
_MARK_SENT = _MARK_DONE.values(
    status=AlertStatus.SENT.value,
    message_id=bindparam("message_id"),
    thread_id=bindparam("thread_id"),
    sent_at=bindparam("sent_at"),
    lease_until=None,
    attempts=_ALERTS.c.attempts + 1,
    last_error=None,
)
_MARK_SHOWN = _MARK_DONE.values(
    status=AlertStatus.SHOWN.value,
    message_id=None,
    sent_at=None,
    lease_until=None,
    attempts=_ALERTS.c.attempts + 1,
    last_error=None,
)


def resend_shown(session: Session, *, now: datetime, channel_id: str | None = None) -> int:
    """Queue the alerts a console worker only showed (of one channel, or all) to be sent;
    returns how many. The operator's decision: nothing does this on its own."""
    query = update(AlertRow).where(AlertRow.status == AlertStatus.SHOWN.value)
    if channel_id is not None:
        query = query.where(AlertRow.channel_id == channel_id)
    result = session.execute(
        query.values(
            status=AlertStatus.PENDING.value,
            attempts=0,
            next_attempt_at=now,
            lease_until=None,
            last_error=None,
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def mark_alert_retry(
    session: Session, alert_id: int, *, error: str, next_attempt_at: datetime
) -> None:
    """Sending failed for now: try again at `next_attempt_at`."""
    session.execute(
        update(AlertRow)
        .where(AlertRow.id == alert_id)
        .values(
            attempts=AlertRow.attempts + 1,
            last_error=error[:2000],
            next_attempt_at=next_attempt_at,
            lease_until=None,
        )
    )


def release_alert(session: Session, alert_id: int) -> None:
    """Give a claimed alert back without counting an attempt (its chat is waiting out a limit)."""
    release_alerts(session, [alert_id])


def release_alerts(session: Session, alert_ids: Sequence[int]) -> None:
    """Give claimed alerts back without counting an attempt (their worker is stopping)."""
    session.execute(
        update(AlertRow)
        .where(AlertRow.id.in_(list(alert_ids)), AlertRow.status == AlertStatus.PENDING.value)
        .values(lease_until=None, lease_owner=None)
    )


def release_alerts_of(session: Session, owner: str) -> int:
    """Give back every alert `owner` holds (a worker restarting after a crash takes back its
    own at once instead of waiting for the leases); returns how many."""
    result = session.execute(
        update(AlertRow)
        .where(AlertRow.lease_owner == owner, AlertRow.lease_until.is_not(None))
        .values(lease_until=None, lease_owner=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def mark_alert_failed(session: Session, alert_id: int, *, error: str, now: datetime) -> None:
    """Telegram refused the alert for good; it stays in the outbox for the operator to see."""
    session.execute(
        update(AlertRow)
        .where(AlertRow.id == alert_id)
        .values(
            status=AlertStatus.FAILED.value,
            attempts=AlertRow.attempts + 1,
            last_error=error[:2000],
            lease_until=None,
            sent_at=None,
        )
    )


def outbox_counts(session: Session) -> dict[str, int]:
    """How many alerts are in each `AlertStatus` (by its value), zeros included."""
    rows = session.execute(select(AlertRow.status, func.count()).group_by(AlertRow.status))
    counts = {s.value: 0 for s in AlertStatus}
    counts.update({status: int(n) for status, n in rows})
    return counts


def alert_state(session: Session, alert_id: int) -> tuple[AlertStatus, str | None]:
    """An alert's status and Telegram message id, as they are now."""
    row = session.execute(
        select(AlertRow.status, AlertRow.message_id).where(AlertRow.id == alert_id)
    ).one()
    return AlertStatus(row.status), row.message_id


def message_shared(session: Session, alert_id: int) -> bool:
    """Whether the alert's Telegram message carries other statements too (a digest, issue 11).

    Follow-ups that rewrote the message ("also published by", a thread) keep its id as well:
    they are the same statement's, and do not count.
    """
    row = session.execute(
        select(AlertRow.channel_id, AlertRow.message_id).where(AlertRow.id == alert_id)
    ).one()
    if row.message_id is None:
        return False
    n = session.scalar(
        select(func.count())
        .select_from(AlertRow)
        .where(
            AlertRow.channel_id == row.channel_id,
            AlertRow.message_id == row.message_id,
            AlertRow.kind.not_in([AlertKind.ALSO.value, AlertKind.THREAD.value]),
        )
    )
    return int(n or 0) > 1
