"""Repository functions for statements: store new ones, their versions, matches and outbox rows."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.model import (
    AlertKind,
    Match,
    MatchedTerm,
    Reference,
    StatementKind,
    StatementToStore,
    StoredStatement,
    StoredVersion,
    StoreResult,
)
from storage.schema import AlertRow, MatchRow, SourceRow, StatementRow, VersionRow

__all__ = [
    "THREAD_WINDOW",
    "follow_up",
    "known_hashes",
    "load_statement",
    "load_statements",
    "load_version",
    "matches_from_json",
    "matches_to_json",
    "new_alert",
    "recent_fingerprints",
    "store_statements",
]

#: a reply by the same account to its own post within this time continues that post's alert
THREAD_WINDOW = timedelta(minutes=15)


def known_hashes(session: Session, source_key: str, external_ids: Sequence[str]) -> dict[str, str]:
    """Which of these items the source gave before: external id → content hash of the first
    version (a changed item compares unequal, and goes on to be kept as a new version)."""
    if not external_ids:
        return {}
    rows = session.execute(
        select(StatementRow.external_id, StatementRow.content_hash, StatementRow.id)
        .join(SourceRow, SourceRow.id == StatementRow.source_id)
        .where(SourceRow.key == source_key, StatementRow.external_id.in_(external_ids))
    ).all()
    out = {ext: chash for ext, chash, _ in rows}
    # The latest version is what the source shows now: compare with that.
    ids = {sid: ext for ext, _, sid in rows}
    for sid, chash in session.execute(
        select(VersionRow.statement_id, VersionRow.content_hash)
        .where(VersionRow.statement_id.in_(list(ids)))
        .order_by(VersionRow.id)
    ):
        out[ids[sid]] = chash
    return out


def store_statements(
    session: Session, source_key: str, statements: Sequence[StatementToStore], *, now: datetime
) -> StoreResult:
    """Store what is new among `statements` of one source, with matches and alerts.

    Runs inside the caller's transaction, with the source's poll state, so a statement is never
    stored without its alerts nor alerted twice. For each item, in order:

    - already stored from this source: nothing, unless its text changed — then the new version
      is kept beside the first and, for sources whose edits matter, an edit alert answers the
      first alert;
    - a repeat (same canonical link, same long text, or a repost of a stored post): stored as
      evidence with ``duplicate_of``, no alert;
    - a near-duplicate of another source's statement: stored with ``duplicate_of``, and the first
      alert is rewritten to say it was also published here;
    - the speaker continuing their own thread within minutes: the thread's alert grows;
    - otherwise: one new alert per routed channel.
    """
    if not statements:
        return StoreResult()
    source_id = session.scalars(select(SourceRow.id).where(SourceRow.key == source_key)).one()
    ext_ids = [s.item.external_id for s in statements]
    known = {
        ext: (sid, chash)
        for ext, sid, chash in session.execute(
            select(StatementRow.external_id, StatementRow.id, StatementRow.content_hash).where(
                StatementRow.source_id == source_id, StatementRow.external_id.in_(ext_ids)
            )
        )
    }
    counts = {"new": 0, "dups": 0, "alerts": 0, "edits": 0}
    new_ids: list[int] = []
    fingerprints: list[tuple[int, int]] = []
    seen_now: set[str] = set()
    for st in statements:
        ext = st.item.external_id
        if ext in seen_now:
            continue
        seen_now.add(ext)
        if ext in known:
            sid, chash = known[ext]
            if chash != st.content_hash:
                counts["alerts"] += _new_version(session, sid, st, now)
                counts["edits"] += 1
            continue
        original, original_source = _find_original(session, st)
        near = None if original is not None else _near_original(session, source_id, st)
        stmt_id = _insert_statement(session, source_id, st, now, original or near)
        if stmt_id is None:  # another worker stored it between our read and our write
            continue
        for m in st.matches:
            session.add(
                MatchRow(statement_id=stmt_id, topic_id=m.topic_id, terms=matches_to_json(m))
            )
        first = original if original is not None else near
        if first is not None:
            counts["dups"] += 1
            # Published again elsewhere (a cross-post, a repost): the first alert says so.
            elsewhere = near is not None or original_source != source_id
            if st.channels and elsewhere:
                counts["alerts"] += follow_up(session, first, AlertKind.ALSO, stmt_id, now)
            continue
        counts["new"] += 1
        new_ids.append(stmt_id)
        if st.simhash is not None:
            fingerprints.append((stmt_id, st.simhash))
        root = _thread_root(session, source_id, st) if st.channels else None
        if root is not None and follow_up(session, root, AlertKind.THREAD, stmt_id, now):
            counts["alerts"] += 1
            continue
        for channel_id in st.channels:
            session.add(new_alert(stmt_id, channel_id, AlertKind.NEW, stmt_id, None, now))
            counts["alerts"] += 1
        for channel_id, at in st.digest:
            session.add(
                new_alert(stmt_id, channel_id, AlertKind.DIGEST, stmt_id, None, now, due=at)
            )
            counts["alerts"] += 1
    session.flush()
    return StoreResult(
        new=counts["new"],
        duplicates=counts["dups"],
        alerts=counts["alerts"],
        known=len(statements) - counts["new"] - counts["dups"],
        new_ids=tuple(new_ids),
        edits=counts["edits"],
        fingerprints=tuple(fingerprints),
    )


def new_alert(
    statement_id: int,
    channel_id: str,
    kind: AlertKind,
    subject_id: int,
    parent_id: int | None,
    now: datetime,
    *,
    due: datetime | None = None,
) -> AlertRow:
    """A pending outbox row, due at once or at `due`."""
    return AlertRow(
        statement_id=statement_id,
        channel_id=channel_id,
        kind=kind.value,
        subject_id=subject_id,
        parent_id=parent_id,
        status="pending",
        attempts=0,
        next_attempt_at=due or now,
        created_at=now,
    )


def follow_up(
    session: Session, statement_id: int, kind: AlertKind, subject_id: int, now: datetime
) -> int:
    """Alerts of `kind` answering each live first alert of `statement_id`; returns how many."""
    parents = session.execute(
        select(AlertRow.id, AlertRow.channel_id).where(
            AlertRow.statement_id == statement_id,
            AlertRow.kind == AlertKind.NEW.value,
            AlertRow.status != "failed",
        )
    ).all()
    for parent_id, channel_id in parents:
        session.add(new_alert(statement_id, channel_id, kind, subject_id, parent_id, now))
    return len(parents)


def _new_version(session: Session, statement_id: int, st: StatementToStore, now: datetime) -> int:
    """Keep a changed item as a new version; returns the edit alerts enqueued."""
    exists = session.scalars(
        select(VersionRow.id).where(
            VersionRow.statement_id == statement_id, VersionRow.content_hash == st.content_hash
        )
    ).first()
    if exists is not None:
        return 0
    version = VersionRow(
        statement_id=statement_id,
        version_id=st.item.version_id,
        title=st.item.title,
        text=st.item.text,
        content_hash=st.content_hash,
        raw=st.item.raw,
        # Only a version with its own id (an X edit) carries the time it was made; any other
        # item's date is the original's (a Telegram post keeps its date when edited): the
        # version is dated when it was seen (issue 10).
        published_at=(
            st.item.published_at
            if st.item.version_id is not None and not st.item.published_estimated
            else now
        ),
        fetched_at=now,
    )
    session.add(version)
    session.flush()
    if not st.alert_edits:
        return 0
    return follow_up(session, statement_id, AlertKind.EDIT, version.id, now)


def _find_original(session: Session, st: StatementToStore) -> tuple[int | None, int | None]:
    """The earliest original this item repeats, and its source."""
    conds = []
    if st.canonical_url:
        conds.append(StatementRow.canonical_url == st.canonical_url)
    if st.check_repeat:
        conds.append(StatementRow.content_hash == st.content_hash)
    # An X repost, or a Telegram forward ("channel/number" of the original): issue 10.
    reposted = [r.external_id for r in st.item.references if r.type in ("retweeted", "forwarded")]
    if st.item.kind is StatementKind.REPOST and reposted:
        conds.append(StatementRow.external_id.in_(reposted))
    if not conds:
        return None, None
    # The earliest original, never a duplicate, so chains stay one level deep.
    row = session.execute(
        select(StatementRow.id, StatementRow.source_id)
        .where(or_(*conds), StatementRow.duplicate_of.is_(None))
        .order_by(StatementRow.id)
        .limit(1)
    ).first()
    return (row.id, row.source_id) if row else (None, None)


def _near_original(session: Session, source_id: int, st: StatementToStore) -> int | None:
    """The first of the index's candidates that is still an original from another source."""
    if not st.near:
        return None
    rows = session.execute(
        select(StatementRow.id, StatementRow.source_id, StatementRow.duplicate_of).where(
            StatementRow.id.in_(st.near)
        )
    ).all()
    ok = {sid for sid, src, dup in rows if src != source_id and dup is None}
    return next((sid for sid in st.near if sid in ok), None)


def _thread_root(session: Session, source_id: int, st: StatementToStore) -> int | None:
    """The alerted first post of the thread this reply continues, if it is the speaker's own."""
    item = st.item
    if item.kind is not StatementKind.REPLY or not item.thread_id:
        return None
    replied = {r.external_id for r in item.references if r.type == "replied_to"}
    if not replied:
        return None
    parent = session.execute(
        select(StatementRow.id, StatementRow.published_at).where(
            StatementRow.source_id == source_id, StatementRow.external_id.in_(replied)
        )
    ).first()
    if parent is None or item.published_at - parent.published_at > THREAD_WINDOW:
        return None
    root = session.scalars(
        select(StatementRow.id).where(
            StatementRow.source_id == source_id,
            StatementRow.external_id == item.thread_id,
            StatementRow.alerted.is_(True),
        )
    ).first()
    return root


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
        "alerted": bool(st.channels or st.digest) and original is None,
        "kind": item.kind.value,
        "author": item.author,
        "thread_id": item.thread_id,
        "references": _refs_to_json(item.references) if item.references else None,
        "simhash": st.simhash,
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


def _refs_to_json(refs: Sequence[Reference]) -> str:
    return json.dumps(
        [
            {"type": r.type, "id": r.external_id, "author": r.author, "text": r.text, "url": r.url}
            for r in refs
        ],
        ensure_ascii=False,
    )


def _refs_from_json(text: str | None) -> tuple[Reference, ...]:
    if not text:
        return ()
    return tuple(
        Reference(
            type=r["type"], external_id=r["id"], author=r["author"], text=r["text"], url=r["url"]
        )
        for r in json.loads(text)
    )


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


def to_stored(row: StatementRow, source_key: str, matches: tuple[Match, ...]) -> StoredStatement:
    """A statement row as a value."""
    return StoredStatement(
        id=row.id,
        source_key=source_key,
        speaker_id=row.speaker_id,
        external_id=row.external_id,
        title=row.title,
        text=row.text,
        url=row.url,
        published_at=row.published_at,
        fetched_at=row.fetched_at,
        language=row.language,
        matches=matches,
        kind=StatementKind(row.kind),
        author=row.author,
        references=_refs_from_json(row.references),
        thread_id=row.thread_id,
        deleted_at=row.deleted_at,
        duplicate_of=row.duplicate_of,
    )


def recent_fingerprints(session: Session, *, since: datetime) -> list[tuple[int, int]]:
    """(id, SimHash) of the original statements published since `since`."""
    rows = session.execute(
        select(StatementRow.id, StatementRow.simhash).where(
            StatementRow.published_at >= since,
            StatementRow.simhash.is_not(None),
            StatementRow.duplicate_of.is_(None),
        )
    ).all()
    return [(sid, fp) for sid, fp in rows if fp is not None]


def load_statements(session: Session, ids: Sequence[int]) -> list[StoredStatement]:
    """Stored statements with their matches, in the order of `ids` (missing ids skipped)."""
    if not ids:
        return []
    rows = session.execute(
        select(StatementRow, SourceRow.key)
        .join(SourceRow, SourceRow.id == StatementRow.source_id)
        .where(StatementRow.id.in_(ids))
    ).all()
    matches: dict[int, list[Match]] = {}
    for m in session.scalars(
        select(MatchRow).where(MatchRow.statement_id.in_(ids)).order_by(MatchRow.id)
    ):
        matches.setdefault(m.statement_id, []).append(matches_from_json(m.topic_id, m.terms))
    by_id = {row.id: to_stored(row, key, tuple(matches.get(row.id, ()))) for row, key in rows}
    return [by_id[i] for i in ids if i in by_id]


def load_statement(session: Session, statement_id: int) -> StoredStatement:
    """One stored statement with its matches."""
    (st,) = load_statements(session, [statement_id])
    return st


def load_version(session: Session, version_id: int) -> StoredVersion:
    """One later version of a statement."""
    row = session.get_one(VersionRow, version_id)
    return StoredVersion(
        id=row.id,
        statement_id=row.statement_id,
        version_id=row.version_id,
        title=row.title,
        text=row.text,
        fetched_at=row.fetched_at,
    )
