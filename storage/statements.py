"""Repository functions for statements: store new ones, their versions, matches and outbox rows."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, Table, and_, bindparam, func, insert, or_, select
from sqlalchemy.orm import Session, defer

from bot.ingest import (
    REPOST_TYPES,
    Intent,
    Known,
    KnownItems,
    NewStatement,
    NewVersion,
    Pending,
    Stored,
)
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
from storage.db import upsert
from storage.schema import AlertRow, MatchRow, SourceRow, StatementRow, VersionRow

__all__ = [
    "apply_intents",
    "follow_up",
    "known_items",
    "load_statement",
    "load_statements",
    "load_version",
    "lookup_known",
    "matches_from_json",
    "matches_to_json",
    "new_alert",
    "recent_fingerprints",
    "source_id_of",
]


def known_items(
    session: Session,
    source_key: str,
    external_ids: Sequence[str],
    *,
    source_id: int | None = None,
) -> KnownItems:
    """What the source gave before among these ids, with its id: the latest hash of each (its
    newest version's) and the rows `lookup_known` compares with, in one read of the rows
    with their versions (issue 9: a poll read them twice). `source_id`: the row id of
    `source_key`, if the caller knows it."""
    if source_id is None:
        source_id = source_id_of(session, source_key)
    if not external_ids:
        return KnownItems(source_id=source_id)
    return _known_rows(session, source_id, external_ids)


# What the decider compares (`bot.ingest.Stored`): read as plain rows, not ORM objects, and
# without the stored item (`raw`), the largest column (issue 9: CPU per new statement).
_STATEMENTS = cast(Table, StatementRow.__table__)
_VERSIONS = cast(Table, VersionRow.__table__)
_MATCHES = cast(Table, MatchRow.__table__)
_ALERTS = cast(Table, AlertRow.__table__)
_DECIDER_COLUMNS = (
    _STATEMENTS.c.id,
    _STATEMENTS.c.source_id,
    _STATEMENTS.c.external_id,
    _STATEMENTS.c.content_hash,
    _STATEMENTS.c.canonical_url,
    _STATEMENTS.c.published_at,
    _STATEMENTS.c.published_estimated,
    _STATEMENTS.c.duplicate_of,
    _STATEMENTS.c.alerted,
    _STATEMENTS.c.text,
    _STATEMENTS.c.simhash,
    _STATEMENTS.c.kind,
)
# issue 9: the queries of every poll are built once, their values bound at each execution.
# Built per call, a query cost about 0.3 ms of CPU to construct and key for the cache before
# SQLite saw it (0.1 ms once built: `benchmarks/warm_cycle.py`).
_KNOWN_ROWS = (
    select(
        *_DECIDER_COLUMNS,
        _STATEMENTS.c.title,
        _VERSIONS.c.id.label("v_id"),
        _VERSIONS.c.content_hash.label("v_hash"),
        _VERSIONS.c.title.label("v_title"),
        _VERSIONS.c.text.label("v_text"),
    )
    .outerjoin(_VERSIONS, _VERSIONS.c.statement_id == _STATEMENTS.c.id)
    .where(
        _STATEMENTS.c.source_id == bindparam("sid"),
        _STATEMENTS.c.external_id.in_(bindparam("ids", expanding=True)),
    )
    .order_by(_STATEMENTS.c.id, _VERSIONS.c.id)
)
_LIVE_ALERTS = select(_ALERTS.c.statement_id).where(
    _ALERTS.c.statement_id.in_(bindparam("ids", expanding=True)),
    _ALERTS.c.kind == AlertKind.NEW.value,
    _ALERTS.c.status != "failed",
)


@functools.cache
def _related_query(urls: bool, reposted: bool, near: bool, threads: bool) -> Select[Any]:
    """`lookup_known`'s query for the conditions it has values for (an empty IN in an OR
    would keep the planner from using each condition's index)."""
    conds: list[ColumnElement[bool]] = [
        _STATEMENTS.c.content_hash.in_(bindparam("hashes", expanding=True))
    ]
    if urls:
        conds.append(_STATEMENTS.c.canonical_url.in_(bindparam("urls", expanding=True)))
    if reposted:
        conds.append(_STATEMENTS.c.external_id.in_(bindparam("reposted", expanding=True)))
    if near:
        conds.append(_STATEMENTS.c.id.in_(bindparam("near", expanding=True)))
    if threads:
        conds.append(
            and_(
                _STATEMENTS.c.source_id == bindparam("sid"),
                _STATEMENTS.c.external_id.in_(bindparam("threads", expanding=True)),
            )
        )
    return select(*_DECIDER_COLUMNS).where(or_(*conds)).order_by(_STATEMENTS.c.id)


def _known_rows(session: Session, source_id: int, external_ids: Sequence[str]) -> KnownItems:
    """The source's rows among `external_ids`, each with its versions (oldest first), in one
    query: an outer join, since most statements never change."""
    rows = session.execute(_KNOWN_ROWS, {"sid": source_id, "ids": list(external_ids)}).all()
    first: dict[int, Any] = {}
    hashes: dict[int, set[str]] = {}
    texts: dict[int, list[tuple[str, str]]] = {}
    latest: dict[str, str] = {}
    for r in rows:
        if r.id not in first:
            first[r.id] = r
            hashes[r.id] = {r.content_hash}
            texts[r.id] = [(r.title, r.text)]
            latest[r.external_id] = r.content_hash
        if r.v_id is not None:
            hashes[r.id].add(r.v_hash)
            texts[r.id].append((r.v_title, r.v_text))
            # The latest version is what the source shows now: compare with that.
            latest[r.external_id] = r.v_hash
    by_ext = {
        r.external_id: _stored(r, frozenset(hashes[i]), versions=tuple(texts[i]))
        for i, r in first.items()
    }
    return KnownItems(source_id=source_id, latest=latest, by_external_id=by_ext)


def source_id_of(session: Session, source_key: str) -> int:
    """The row id of a configured source."""
    return int(session.execute(_SOURCE_ID, {"key": source_key}).scalar_one())


_SOURCE_ID = select(SourceRow.id).where(SourceRow.key == bindparam("key"))


def lookup_known(
    session: Session,
    source_id: int,
    statements: Sequence[StatementToStore],
    *,
    mine: KnownItems | None = None,
) -> Known:
    """What storage knows that bears on these statements of one source (see `bot.ingest`).

    Two queries for the statements themselves and the related ones (same link, same text, a
    repost's target, the near-duplicate candidates, this source's thread parents and roots),
    one for the versions of the known ones, one for which related ones have a live first alert.
    With `mine` (`known_items` of the same poll, a superset of these statements' ids), the
    source's own rows are not read again.
    """
    if not statements:
        return Known(source_id=source_id)
    if mine is None:
        mine = _known_rows(session, source_id, [s.item.external_id for s in statements])
    by_ext = mine.by_external_id

    urls = {s.canonical_url for s in statements if s.canonical_url}
    chashes = {s.content_hash for s in statements}
    reposted = {
        r.external_id
        for s in statements
        if s.item.kind is StatementKind.REPOST
        for r in s.item.references
        if r.type in REPOST_TYPES
    }
    near = {i for s in statements for i in s.near}
    threads = {
        e
        for s in statements
        if s.item.kind is StatementKind.REPLY and s.item.thread_id
        for e in (
            s.item.thread_id,
            *(r.external_id for r in s.item.references if r.type == "replied_to"),
        )
        if e
    }
    params: dict[str, object] = {"hashes": list(chashes)}
    for name, values in (("urls", urls), ("reposted", reposted), ("near", near)):
        if values:
            params[name] = list(values)
    if threads:
        params["sid"], params["threads"] = source_id, list(threads)
    query = _related_query(bool(urls), bool(reposted), bool(near), bool(threads))
    related = session.execute(query, params).all()
    live = (
        set(session.scalars(_LIVE_ALERTS, {"ids": [r.id for r in related]})) if related else set()
    )
    return Known(
        source_id=source_id,
        by_external_id=by_ext,
        related=tuple(_stored(r, frozenset(), live=r.id in live) for r in related),
    )


def _stored(
    row: Any,
    hashes: frozenset[str],
    *,
    live: bool = False,
    versions: tuple[tuple[str, str], ...] = (),
) -> Stored:
    return Stored(
        id=row.id,
        source_id=row.source_id,
        external_id=row.external_id,
        content_hash=row.content_hash,
        canonical_url=row.canonical_url,
        published_at=row.published_at,
        published_estimated=row.published_estimated,
        duplicate_of=row.duplicate_of,
        alerted=row.alerted,
        text=row.text,
        simhash=row.simhash,
        hashes=hashes,
        versions=versions,
        live_alert=live,
        kind=StatementKind(row.kind),
    )


def apply_intents(
    session: Session, source_id: int, intents: Sequence[Intent], *, now: datetime
) -> StoreResult:
    """Carry out what `bot.ingest.decide` decided, inside the caller's transaction (the one
    that also moves the source's cursor), so a statement is never stored without its alerts nor
    alerted twice.

    issue 9: the poll's new statements are inserted in one statement (all but the repeats of
    another new one, which need its id first), their matches in one, and their first alerts
    in one per run of intents without a follow-up (a follow-up reads the alerts before it);
    one INSERT per row cost about 0.3 ms of CPU each, and a first poll stores dozens.
    """
    counts = {"new": 0, "dups": 0, "alerts": 0, "edits": 0}
    new_ids: list[int] = []
    fingerprints: list[tuple[int, int, tuple[str, ...] | None]] = []
    # intent index → statement id (None: another worker stored it between our read and write)
    ids: dict[int, int | None] = _insert_statements(
        session,
        source_id,
        [
            (n, i.st, i.duplicate_of, i.alert)
            for n, i in enumerate(intents)
            if isinstance(i, NewStatement) and not isinstance(i.duplicate_of, Pending)
        ],
        now,
    )
    matches: list[dict[str, object]] = []
    alerts: list[dict[str, object]] = []

    def resolve(ref: int | Pending | None) -> int | None:
        return ids.get(ref.index) if isinstance(ref, Pending) else ref

    def write_alerts() -> None:
        # before a follow-up, which reads the first alerts written so far
        if alerts:
            session.execute(_INSERT_ALERTS, alerts)
            alerts.clear()

    for n, intent in enumerate(intents):
        if isinstance(intent, NewVersion):
            counts["edits"] += 1
            version_id = _insert_version(session, intent.statement_id, intent.st, now)
            if intent.alert:
                write_alerts()
                counts["alerts"] += follow_up(
                    session, intent.statement_id, AlertKind.EDIT, version_id, now
                )
            continue
        st = intent.st
        if n not in ids:
            row = (n, st, resolve(intent.duplicate_of), intent.alert)
            ids.update(_insert_statements(session, source_id, [row], now))
        stmt_id = ids[n]
        if stmt_id is None:
            continue
        matches.extend(
            {"statement_id": stmt_id, "topic_id": m.topic_id, "terms": matches_to_json(m)}
            for m in st.matches
        )
        if intent.duplicate_of is not None:
            counts["dups"] += 1
        else:
            counts["new"] += 1
            new_ids.append(stmt_id)
            if st.simhash is not None:
                fingerprints.append((stmt_id, st.simhash, st.numbers))
        if intent.follow_up is not None:
            to = resolve(intent.follow_up.to)
            if to is not None:
                write_alerts()
                counts["alerts"] += follow_up(session, to, intent.follow_up.kind, stmt_id, now)
        if intent.alert:
            rows = [_alert_values(stmt_id, c, AlertKind.NEW, now) for c in st.channels]
            rows += [_alert_values(stmt_id, c, AlertKind.DIGEST, now, at) for c, at in st.digest]
            alerts.extend(rows)
            counts["alerts"] += len(rows)
    write_alerts()
    if matches:
        session.execute(_INSERT_MATCHES, matches)
    # A later poll's reads in this session see what was added here.
    session.flush()
    return StoreResult(
        new=counts["new"],
        duplicates=counts["dups"],
        alerts=counts["alerts"],
        new_ids=tuple(new_ids),
        edits=counts["edits"],
        fingerprints=tuple(fingerprints),
    )


def _insert_statements(
    session: Session,
    source_id: int,
    rows: Sequence[tuple[int, StatementToStore, int | None, bool]],
    now: datetime,
) -> dict[int, int | None]:
    """Insert new statements, each given as (intent index, statement, the statement it
    repeats, alerted), in one statement; their ids by intent index (None: another worker
    stored that id first)."""
    if not rows:
        return {}
    values = [
        _statement_values(source_id, st, now, original, alerted)
        for _, st, original, alerted in rows
    ]
    stored = {
        ext: sid
        for sid, ext in session.execute(
            _insert_statements_stmt(session), values[0] if len(values) == 1 else values
        )
    }
    return {n: stored.get(st.item.external_id) for n, st, _, _ in rows}


def _alert_values(
    statement_id: int, channel_id: str, kind: AlertKind, now: datetime, due: datetime | None = None
) -> dict[str, object]:
    """A first alert's pending outbox row as insert parameters (what `new_alert` makes)."""
    return {
        "statement_id": statement_id,
        "channel_id": channel_id,
        "kind": kind.value,
        "subject_id": statement_id,
        "parent_id": None,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": due or now,
        "created_at": now,
    }


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


def _insert_version(
    session: Session, statement_id: int, st: StatementToStore, now: datetime
) -> int:
    version = VersionRow(
        statement_id=statement_id,
        version_id=st.item.version_id,
        title=st.item.title,
        text=st.item.text,
        content_hash=st.content_hash,
        raw=st.item.raw,
        # Only a version with its own id (an X edit) carries the time it was made; any other
        # item keeps its original's date when edited (a feed, a Telegram post): the version is
        # dated when it was seen.
        published_at=(
            st.item.published_at
            if st.item.version_id is not None and not st.item.published_estimated
            else now
        ),
        fetched_at=now,
    )
    session.add(version)
    session.flush()
    return version.id


def _statement_values(
    source_id: int, st: StatementToStore, now: datetime, original: int | None, alerted: bool
) -> dict[str, object]:
    item = st.item
    return {
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
        "alerted": alerted,
        "kind": item.kind.value,
        "author": item.author,
        "thread_id": item.thread_id,
        "references": _refs_to_json(item.references) if item.references else None,
        "photos": json.dumps(list(item.photos)) if item.photos else None,
        "simhash": st.simhash,
    }


_INSERT_MATCHES = insert(_MATCHES)
_INSERT_ALERTS = insert(_ALERTS)
#: INSERT … ON CONFLICT (source_id, external_id) DO NOTHING RETURNING id, external_id, by "is
#: PostgreSQL": one Core statement with the values as parameters, compiled once (an ORM insert
#: with the values inlined rebuilt and re-keyed the statement per row, issue 9). A row that
#: conflicts returns nothing, so the rows are told apart by their ids, not by their order.
#: Built at the first insert, for the database in use (`storage.db.upsert`).
_INSERT_STATEMENTS: dict[str, Any] = {}


def _insert_statements_stmt(session: Session) -> Any:
    name = session.get_bind().dialect.name
    stmt = _INSERT_STATEMENTS.get(name)
    if stmt is None:
        stmt = _INSERT_STATEMENTS[name] = (
            upsert(session, _STATEMENTS)
            .on_conflict_do_nothing(index_elements=["source_id", "external_id"])
            .returning(_STATEMENTS.c.id, _STATEMENTS.c.external_id)
        )
    return stmt


def _refs_to_json(refs: Sequence[Reference]) -> str:
    return json.dumps(
        [
            {"type": r.type, "id": r.external_id, "author": r.author, "text": r.text, "url": r.url}
            for r in refs
        ],
        ensure_ascii=False,
    )


def _photos_from_json(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(str(url) for url in json.loads(text))


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
        published_estimated=row.published_estimated,
        photos=_photos_from_json(row.photos),
    )


def is_original() -> ColumnElement[bool]:
    """``duplicate_of IS NULL``, written so that no planner reads it from the `duplicate_of`
    index: SQLite took that index (IS NULL counts as equality) over a `published_at` range,
    and so read every original statement of the archive to find the last week's."""
    return func.coalesce(StatementRow.duplicate_of, 0) == 0


def recent_fingerprints(session: Session, *, since: datetime) -> list[tuple[int, int]]:
    """(id, SimHash) of the original statements published since `since`."""
    rows = session.execute(
        select(StatementRow.id, StatementRow.simhash).where(
            StatementRow.published_at >= since,
            StatementRow.simhash.is_not(None),
            is_original(),
        )
    ).all()
    return [(sid, fp) for sid, fp in rows if fp is not None]


def load_statements(session: Session, ids: Sequence[int]) -> list[StoredStatement]:
    """Stored statements with their matches, in the order of `ids` (missing ids skipped)."""
    if not ids:
        return []
    # Not the raw payload: a value never holds it, and a huge item's (up to the 10 MB body
    # cap) was read back whole for each statement routed.
    rows = session.execute(
        select(StatementRow, SourceRow.key)
        .join(SourceRow, SourceRow.id == StatementRow.source_id)
        .where(StatementRow.id.in_(ids))
        .options(defer(StatementRow.raw))
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
