"""Read-only queries that give an alert its context: what else was said, where, and by whom."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, literal, select, union_all
from sqlalchemy.orm import Session, aliased

from bot.context import Around, EditTexts, ParentState
from bot.model import AlertForDelivery, AlertKind, AlertStatus, StoredStatement
from storage.schema import AlertRow, MatchRow, StatementRow, VersionRow
from storage.statements import is_original, load_statements

__all__ = [
    "RECENT_LIMIT",
    "also_published",
    "load_around",
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
    query = _recent_ids(topic_ids, since, until, exclude_speakers, limit)
    return load_statements(session, list(session.scalars(query)))


#: how many recent statements "on the other side" chooses from, per alert
RECENT_LIMIT = 20

# SQLite allows at most 500 terms in one compound SELECT: a larger tick takes a few queries.
_UNION_MAX = 400


def _recent_ids(
    topic_ids: Sequence[str],
    since: datetime,
    until: datetime,
    exclude_speakers: Sequence[str],
    limit: int,
) -> Select[int]:
    return (
        select(StatementRow.id)
        .join(MatchRow, MatchRow.statement_id == StatementRow.id)
        .where(
            MatchRow.topic_id.in_(topic_ids),
            StatementRow.published_at >= since,
            StatementRow.published_at <= until,
            is_original(),
            StatementRow.speaker_id.not_in(exclude_speakers),
        )
        .group_by(StatementRow.id, StatementRow.published_at)
        .order_by(StatementRow.published_at.desc(), StatementRow.id.desc())
        .limit(limit)
    )


def load_around(
    session: Session,
    alerts: Sequence[AlertForDelivery],
    *,
    window: timedelta,
    limit: int = RECENT_LIMIT,
) -> dict[int, Around]:
    """The context of each of `alerts` (alert id → `Around`), in a fixed number of queries
    whatever the number of alerts (issue 9: a tick of 100 alerts made 500+ queries).

    Gives, per alert, what `also_published`, `thread_continuations` and `recent_on_topics`
    give for its statement; for a follow-up (also published, thread) its parent's state; for an
    edit, the texts `text_before` and `version_text` give.
    """
    full = [a for a in alerts if a.kind in (AlertKind.NEW, AlertKind.ALSO, AlertKind.THREAD)]
    edits = [a for a in alerts if a.kind is AlertKind.EDIT and a.subject_id is not None]
    stmt_ids = sorted({a.statement.id for a in full})
    also = _related(session, stmt_ids, _also_pairs)
    thread = _related(session, stmt_ids, _thread_pairs)
    # One ranked subquery per distinct question (follow-ups of one statement ask the same),
    # sent together as UNION ALL: the same rows as `recent_on_topics`, one round trip.
    questions: dict[tuple[tuple[str, ...], datetime, datetime, str], list[int]] = {}
    for a in full:
        st = a.statement
        topics = tuple(sorted({m.topic_id for m in st.matches}))
        if topics:
            key = (topics, _before(st.published_at, window), st.published_at, st.speaker_id)
            questions.setdefault(key, []).append(a.id)
    recent: dict[int, list[int]] = {}
    keys = list(questions)
    for start in range(0, len(keys), _UNION_MAX):
        chunk = keys[start : start + _UNION_MAX]
        parts = []
        for n, (topics, since, until, speaker) in enumerate(chunk, start):
            sub = _recent_ids(topics, since, until, [speaker], limit).subquery()
            parts.append(select(literal(n).label("q"), sub.c.id))
        for q, sid in session.execute(union_all(*parts)):
            for alert_id in questions[keys[q]]:
                recent.setdefault(alert_id, []).append(sid)
    wanted = {i for ids in (*also.values(), *thread.values(), *recent.values()) for i in ids}
    loaded = {st.id: st for st in load_statements(session, sorted(wanted))}

    def pick(ids: Sequence[int]) -> tuple[StoredStatement, ...]:
        return tuple(loaded[i] for i in ids if i in loaded)

    parents = _parents(
        session,
        {a.parent_id for a in full if a.kind is not AlertKind.NEW and a.parent_id is not None},
    )
    texts = _edit_texts(session, edits)
    out: dict[int, Around] = {}
    for a in full:
        st = a.statement
        newest_first = sorted(
            pick(recent.get(a.id, ())), key=lambda s: (s.published_at, s.id), reverse=True
        )
        out[a.id] = Around(
            also=pick(also.get(st.id, ())),
            thread=pick(thread.get(st.id, ())),
            recent=tuple(newest_first),
            parent=parents.get(a.parent_id)
            if a.parent_id and a.kind is not AlertKind.NEW
            else None,
        )
    for a in edits:
        out[a.id] = Around(edit=texts.get(a.id))
    return out


def _before(when: datetime, window: timedelta) -> datetime:
    """`when - window`, or the earliest time for a date too early to go back from (a bad
    date must fail its own alert's rendering, not the whole tick's context)."""
    try:
        return when - window
    except OverflowError:
        return datetime.min.replace(tzinfo=when.tzinfo)


def _also_pairs(ids: Sequence[int]) -> Select[int | None, int]:
    """(original, repeat from another source) for the originals `ids`, oldest repeat first."""
    original = aliased(StatementRow)
    return (
        select(StatementRow.duplicate_of, StatementRow.id)
        .join(original, original.id == StatementRow.duplicate_of)
        .where(StatementRow.duplicate_of.in_(ids), StatementRow.source_id != original.source_id)
        .order_by(StatementRow.id)
    )


def _thread_pairs(ids: Sequence[int]) -> Select[int, int]:
    """(root, continuation) for the thread roots `ids`, oldest continuation first."""
    return (
        select(AlertRow.statement_id, AlertRow.subject_id)
        .where(AlertRow.statement_id.in_(ids), AlertRow.kind == AlertKind.THREAD.value)
        .group_by(AlertRow.statement_id, AlertRow.subject_id)
        .order_by(AlertRow.subject_id)
    )


def _related(
    session: Session, ids: Sequence[int], query: Callable[[Sequence[int]], Select[Any, int]]
) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    if ids:
        for key, other in session.execute(query(ids)):
            if key is not None:
                out.setdefault(key, []).append(other)
    return out


def _parents(session: Session, ids: set[int]) -> dict[int, ParentState]:
    """The state of the alerts follow-ups answer, with whether their message is shared (what
    `alert_state` and `message_shared` say), in two queries."""
    if not ids:
        return {}
    rows = session.execute(
        select(AlertRow.id, AlertRow.status, AlertRow.channel_id, AlertRow.message_id).where(
            AlertRow.id.in_(sorted(ids))
        )
    ).all()
    messages = sorted({r.message_id for r in rows if r.message_id is not None})
    counts: dict[tuple[str, str | None], int] = {}
    if messages:
        for channel_id, message_id, n in session.execute(
            select(AlertRow.channel_id, AlertRow.message_id, func.count())
            .where(
                AlertRow.message_id.in_(messages),
                AlertRow.kind.not_in([AlertKind.ALSO.value, AlertKind.THREAD.value]),
            )
            .group_by(AlertRow.channel_id, AlertRow.message_id)
        ):
            counts[(channel_id, message_id)] = int(n)
    return {
        r.id: ParentState(
            status=AlertStatus(r.status),
            message_id=r.message_id,
            shared=r.message_id is not None and counts.get((r.channel_id, r.message_id), 0) > 1,
        )
        for r in rows
    }


def _edit_texts(session: Session, edits: Sequence[AlertForDelivery]) -> dict[int, EditTexts]:
    """Each edit alert's texts before and after its version, from one query over the versions
    of the edited statements (what `text_before` and `version_text` give)."""
    if not edits:
        return {}
    versions: dict[int, list[VersionRow]] = {}
    for v in session.scalars(
        select(VersionRow)
        .where(VersionRow.statement_id.in_(sorted({a.statement.id for a in edits})))
        .order_by(VersionRow.id)
    ):
        versions.setdefault(v.statement_id, []).append(v)
    out: dict[int, EditTexts] = {}
    for a in edits:
        st = a.statement
        mine = versions.get(st.id, [])
        this = next((v for v in mine if v.id == a.subject_id), None)
        if this is None:
            continue
        earlier = [v for v in mine if v.id < this.id]
        before = (
            _joined(earlier[-1].title, earlier[-1].text) if earlier else _joined(st.title, st.text)
        )
        out[a.id] = EditTexts(
            before=before, after=_joined(this.title, this.text), edited_at=this.published_at
        )
    return out


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
