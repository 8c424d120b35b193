"""Repository functions for statements: store new ones with their matches and outbox rows."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.model import AlertKind, Match, MatchedTerm, StatementToStore, StoredStatement, StoreResult
from storage.schema import AlertRow, MatchRow, SourceRow, StatementRow

__all__ = ["load_statement", "matches_from_json", "matches_to_json", "store_statements"]


def store_statements(
    session: Session, source_key: str, statements: Sequence[StatementToStore], *, now: datetime
) -> StoreResult:
    """Store what is new among `statements` of one source, with matches and one alert per channel.

    Runs inside the caller's transaction, with the source's poll state, so a statement is never
    stored without its alerts nor alerted twice. Items this source already gave are skipped;
    an item that repeats an earlier statement (same canonical link, or the same text) is stored
    as evidence with ``duplicate_of`` set and alerts nobody.
    """
    if not statements:
        return StoreResult()
    source_id = session.scalars(select(SourceRow.id).where(SourceRow.key == source_key)).one()
    ext_ids = [s.item.external_id for s in statements]
    known = set(
        session.scalars(
            select(StatementRow.external_id).where(
                StatementRow.source_id == source_id, StatementRow.external_id.in_(ext_ids)
            )
        )
    )
    new = dups = alerts = 0
    new_ids: list[int] = []
    seen_now: set[str] = set()
    for st in statements:
        ext = st.item.external_id
        if ext in known or ext in seen_now:
            continue
        seen_now.add(ext)
        original = _find_original(session, st)
        stmt_id = _insert_statement(session, source_id, st, now, original)
        if stmt_id is None:  # another worker stored it between our read and our write
            continue
        for m in st.matches:
            session.add(
                MatchRow(statement_id=stmt_id, topic_id=m.topic_id, terms=matches_to_json(m))
            )
        if original is not None:
            dups += 1
            continue
        new += 1
        new_ids.append(stmt_id)
        for channel_id in st.channels:
            session.add(
                AlertRow(
                    statement_id=stmt_id,
                    channel_id=channel_id,
                    kind=AlertKind.NEW.value,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
            alerts += 1
    session.flush()
    return StoreResult(
        new=new,
        duplicates=dups,
        alerts=alerts,
        known=len(statements) - len(seen_now),
        new_ids=tuple(new_ids),
    )


def _find_original(session: Session, st: StatementToStore) -> int | None:
    conds = []
    if st.canonical_url:
        conds.append(StatementRow.canonical_url == st.canonical_url)
    if st.check_repeat:
        conds.append(StatementRow.content_hash == st.content_hash)
    if not conds:
        return None
    # The earliest original, never a duplicate, so chains stay one level deep.
    query = (
        select(StatementRow.id)
        .where(or_(*conds), StatementRow.duplicate_of.is_(None))
        .order_by(StatementRow.id)
        .limit(1)
    )
    return session.scalars(query).first()


def _insert_statement(
    session: Session, source_id: int, st: StatementToStore, now: datetime, original: int | None
) -> int | None:
    item = st.item
    values = {
        "source_id": source_id,
        "speaker_id": st.speaker_id,
        "external_id": item.external_id,
        "url": item.url,
        "canonical_url": st.canonical_url,
        "title": item.title,
        "text": item.text,
        "language": item.language,
        "published_at": item.published_at,
        "published_estimated": item.published_estimated,
        "fetched_at": now,
        "content_hash": st.content_hash,
        "raw": item.raw,
        "duplicate_of": original,
        "alerted": bool(st.channels) and original is None,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(StatementRow)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["source_id", "external_id"])
        .returning(StatementRow.id)
    )
    return session.execute(stmt).scalar_one_or_none()


def matches_to_json(match: Match) -> str:
    """The terms of one match as stored."""
    return json.dumps(
        [{"term": t.term, "found": t.found, "start": t.start, "end": t.end} for t in match.terms],
        ensure_ascii=False,
    )


def matches_from_json(topic_id: str, text: str) -> Match:
    """A stored match back as a value."""
    return Match(
        topic_id=topic_id,
        terms=tuple(
            MatchedTerm(term=t["term"], found=t["found"], start=int(t["start"]), end=int(t["end"]))
            for t in json.loads(text)
        ),
    )


def load_statement(session: Session, statement_id: int) -> StoredStatement:
    """One stored statement with its matches."""
    row, key = session.execute(
        select(StatementRow, SourceRow.key)
        .join(SourceRow, SourceRow.id == StatementRow.source_id)
        .where(StatementRow.id == statement_id)
    ).one()
    matches = tuple(
        matches_from_json(m.topic_id, m.terms)
        for m in session.scalars(
            select(MatchRow).where(MatchRow.statement_id == statement_id).order_by(MatchRow.id)
        )
    )
    return StoredStatement(
        id=row.id,
        source_key=key,
        speaker_id=row.speaker_id,
        external_id=row.external_id,
        title=row.title,
        text=row.text,
        url=row.url,
        published_at=row.published_at,
        fetched_at=row.fetched_at,
        language=row.language,
        matches=matches,
    )
