"""Storage against real databases: a SQLite file and a PostgreSQL server, same tests on both."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.orm import Session, sessionmaker

import storage
from bot.model import CachingInfo, Channel
from bot.pipeline import store_statements
from storage.schema import AlertRow, Base, MatchRow, SourceRow, StatementRow
from tests.builders import T0, item, spec, to_store


@pytest.fixture
def engine(db_url: str) -> Engine:
    eng = storage.make_engine(db_url)
    storage.migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    s = storage.make_sessions(engine)
    with storage.session_scope(s) as session:
        storage.sync_sources(
            session,
            [spec(), spec("feed:https://other.org/rss", speaker="sp2")],
            default_interval=timedelta(seconds=60),
            now=T0,
        )
        storage.sync_channels(session, [Channel("main", "@main"), Channel("cf", "@cf")])
    return s


def test_migrations_match_the_models(engine: Engine) -> None:
    storage.migrate(engine)  # a second run is a no-op
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_the_head_revision_named_in_code_is_alembics_head(engine: Engine) -> None:
    """`migrate` skips Alembic when the database is at `HEAD_REVISION`: a migration added
    without naming it there would never run."""
    from pathlib import Path

    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(storage.db.__file__).parent / "migrations"))
    assert ScriptDirectory.from_config(cfg).get_heads() == [storage.db.HEAD_REVISION]
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == storage.db.HEAD_REVISION


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:
    eng = storage.make_engine(f"sqlite:///{tmp_path / 'w.sqlite'}")
    with eng.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    eng.dispose()


def _plans(tmp_path: Any, read: Any) -> list[str]:
    """SQLite's query plans for what `read(session)` runs."""
    from sqlalchemy.dialects import sqlite

    eng = storage.make_engine(f"sqlite:///{tmp_path / 'w.sqlite'}")
    storage.migrate(eng)
    plans: list[str] = []
    with storage.session_scope(storage.make_sessions(eng)) as s:
        real = s.execute

        def explain(stmt: Any, *args: Any, **kwargs: Any) -> Any:
            sql = stmt.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
            plans.extend(str(row[-1]) for row in real(text(f"EXPLAIN QUERY PLAN {sql}")).all())
            return real(stmt, *args, **kwargs)

        s.execute = explain  # type: ignore[method-assign]
        read(s)
    eng.dispose()
    return plans


def test_the_last_weeks_fingerprints_are_read_by_date_not_from_every_original(tmp_path) -> None:
    # every start (every `watchpost once`) loads them: SQLite took the duplicate_of index for
    # "duplicate_of IS NULL", which every original statement of the archive is
    plans = _plans(tmp_path, lambda s: storage.recent_fingerprints(s, since=T0))
    assert plans and all("ix_statements_duplicate_of" not in p for p in plans), plans
    assert any("ix_statements_published_at" in p for p in plans), plans


def test_new_sources_are_due_at_once_and_leased_when_claimed(sessions) -> None:
    with storage.session_scope(sessions) as s:
        claimed = storage.claim_sources(s, T0, limit=10, lease=timedelta(minutes=5), owner="w1")
    assert {c.key for c in claimed} == {
        "feed:https://example.org/rss",
        "feed:https://other.org/rss",
    }
    assert all(not c.primed for c in claimed)
    with storage.session_scope(sessions) as s:
        again = storage.claim_sources(
            s, T0, limit=10, lease=timedelta(minutes=5), owner="w2", due_only=False
        )
    assert again == []  # leased to w1
    with storage.session_scope(sessions) as s:
        later = storage.claim_sources(
            s, T0 + timedelta(minutes=6), limit=10, lease=timedelta(minutes=5), owner="w2"
        )
    assert len(later) == 2  # the lease ran out: a dead worker's sources come back


def test_poll_success_keeps_validators_and_schedules_next(sessions) -> None:
    key = spec().key
    with storage.session_scope(sessions) as s:
        storage.claim_sources(s, T0, limit=10, lease=timedelta(minutes=5), owner="w")
        storage.record_poll_success(
            s,
            key,
            caching=CachingInfo('"abc"', "Sun, 27 Sep 2020"),
            cursor=None,
            now=T0,
            next_poll_at=T0 + timedelta(seconds=60),
        )
    with storage.session_scope(sessions) as s:
        assert (
            storage.claim_sources(
                s, T0 + timedelta(seconds=59), limit=10, lease=timedelta(minutes=5), owner="w"
            )
            == []
        )
    with storage.session_scope(sessions) as s:
        due = storage.claim_sources(
            s, T0 + timedelta(seconds=61), limit=10, lease=timedelta(minutes=5), owner="w"
        )
    polled = [c for c in due if c.key == key]
    assert polled and polled[0].caching == CachingInfo('"abc"', "Sun, 27 Sep 2020")
    assert polled[0].primed


def test_settled_items_are_stored_with_the_caching_they_came_with(sessions) -> None:
    # issue 9: any later claim reads them with the row; a 304 (caching None) keeps them, and a
    # poll that stores new caching replaces them, with none when it settled none
    key = spec().key
    lease = timedelta(minutes=5)

    def claim(at: timedelta) -> bytes | None:
        with storage.session_scope(sessions) as s:
            rows = storage.claim_sources(s, T0 + at, limit=10, lease=lease, owner="w")
            return next(r.settled for r in rows if r.key == key)

    def success(caching: CachingInfo | None, settled: bytes | None, at: timedelta) -> None:
        with storage.session_scope(sessions) as s:
            storage.record_poll_success(
                s, key, caching=caching, cursor=None, now=T0, next_poll_at=T0 + at, settled=settled
            )

    assert claim(timedelta(0)) is None
    blob = bytes(range(256)) * 40  # every byte value, 10 KB: a feed of many items
    success(CachingInfo('"v1"'), blob, timedelta(seconds=60))
    assert claim(timedelta(seconds=61)) == blob
    success(None, None, timedelta(seconds=120))
    assert claim(timedelta(seconds=121)) == blob
    success(CachingInfo('"v2"'), None, timedelta(seconds=180))
    assert claim(timedelta(seconds=181)) is None


def test_poll_failures_count_up_and_reset_on_success(sessions) -> None:
    key = spec().key
    with storage.session_scope(sessions) as s:
        assert storage.record_poll_failure(s, key, error="HTTP 503", next_poll_at=T0) == 1
        assert storage.record_poll_failure(s, key, error="HTTP 503", next_poll_at=T0) == 2
    with storage.session_scope(sessions) as s:
        st = {r.key: r for r in storage.source_statuses(s)}[key]
    assert (st.failures, st.last_error) == (2, "HTTP 503")
    with storage.session_scope(sessions) as s:
        storage.record_poll_success(s, key, caching=None, cursor=None, now=T0, next_poll_at=T0)
        st = {r.key: r for r in storage.source_statuses(s)}[key]
    assert (st.failures, st.last_error, st.last_success_at) == (0, None, T0)


def test_statement_is_stored_once_with_its_alerts(sessions) -> None:
    key = spec().key
    batch = [to_store(item(1), channels=("main", "cf")), to_store(item(2))]
    with storage.session_scope(sessions) as s:
        first = store_statements(s, key, batch, now=T0)
    assert (first.new, first.alerts, first.duplicates, first.known) == (2, 3, 0, 0)
    with storage.session_scope(sessions) as s:
        second = store_statements(s, key, batch, now=T0)
    assert (second.new, second.alerts, second.known) == (0, 0, 2)
    with storage.session_scope(sessions) as s:
        assert s.scalar(select(func.count()).select_from(StatementRow)) == 2
        assert s.scalar(select(func.count()).select_from(AlertRow)) == 3


def test_same_external_id_from_another_source_is_a_different_statement(sessions) -> None:
    with storage.session_scope(sessions) as s:
        a = store_statements(s, spec().key, [to_store(item(1))], now=T0)
        b = store_statements(
            s, "feed:https://other.org/rss", [to_store(item(1), speaker="sp2")], now=T0
        )
    assert (a.new, b.new) == (1, 1)


def test_repeat_by_canonical_url_is_stored_as_evidence_without_a_new_alert(sessions) -> None:
    first = item(1)
    same = dict(title=first.title, text=first.text)
    with storage.session_scope(sessions) as s:
        store_statements(s, spec().key, [to_store(first, canonical="https://x.org/a")], now=T0)
        rep = store_statements(
            s,
            "feed:https://other.org/rss",
            [to_store(item(9, **same), speaker="sp2", canonical="https://x.org/a")],
            now=T0,
        )
    assert (rep.new, rep.duplicates) == (0, 1)
    with storage.session_scope(sessions) as s:  # only the first alert's "also published by"
        kinds = [a.kind for a in s.scalars(select(AlertRow).order_by(AlertRow.id))]
    assert kinds == ["new", "also"]
    with storage.session_scope(sessions) as s:
        rows = s.scalars(select(StatementRow).order_by(StatementRow.id)).all()
        assert rows[1].duplicate_of == rows[0].id
    # Seen again on the next poll: known, not counted as a new duplicate.
    with storage.session_scope(sessions) as s:
        again = store_statements(
            s,
            "feed:https://other.org/rss",
            [to_store(item(9, **same), speaker="sp2", canonical="https://x.org/a")],
            now=T0,
        )
    assert (again.duplicates, again.known) == (0, 1)


def test_repeat_by_text_only_when_asked(sessions) -> None:
    same = dict(title="Statement", text="A long enough statement about the line of contact." * 3)
    with storage.session_scope(sessions) as s:
        store_statements(s, spec().key, [to_store(item(1, **same), check_repeat=True)], now=T0)
        rep = store_statements(
            s, spec().key, [to_store(item(2, **same), check_repeat=True)], now=T0
        )
        not_checked = store_statements(s, spec().key, [to_store(item(3, **same))], now=T0)
    assert (rep.duplicates, rep.alerts) == (1, 0)
    assert (not_checked.new, not_checked.alerts) == (1, 1)


def test_statements_stored_as_seen_make_no_alerts(sessions) -> None:
    with storage.session_scope(sessions) as s:
        res = store_statements(s, spec().key, [to_store(item(1), channels=())], now=T0)
        assert (res.new, res.alerts) == (1, 0)
        assert s.scalars(select(StatementRow.alerted)).one() is False


def test_outbox_claim_send_retry_fail(sessions) -> None:
    with storage.session_scope(sessions) as s:
        store_statements(
            s, spec().key, [to_store(item(1)), to_store(item(2)), to_store(item(3))], now=T0
        )
    lease = timedelta(seconds=60)
    with storage.session_scope(sessions) as s:
        claimed = storage.claim_alerts(s, T0, limit=10, lease=lease)
    assert [a.statement.external_id for a in claimed] == ["id-1", "id-2", "id-3"]
    assert claimed[0].chat == "@main"
    assert claimed[0].statement.matches[0].topic_id == "karabakh"
    with storage.session_scope(sessions) as s:
        assert storage.claim_alerts(s, T0, limit=10, lease=lease) == []  # all leased
        storage.mark_alert_sent(s, claimed[0].id, message_id="77", now=T0)
        storage.mark_alert_retry(s, claimed[1].id, error="429", next_attempt_at=T0 + lease * 2)
        storage.mark_alert_failed(s, claimed[2].id, error="Forbidden", now=T0)
    with storage.session_scope(sessions) as s:
        assert storage.outbox_counts(s) == {"pending": 1, "sent": 1, "failed": 1, "shown": 0}
        assert storage.claim_alerts(s, T0 + lease, limit=10, lease=lease) == []
        retry = storage.claim_alerts(s, T0 + lease * 3, limit=10, lease=lease)
    assert [a.id for a in retry] == [claimed[1].id] and retry[0].attempts == 1
    with storage.session_scope(sessions) as s:
        # what a restarted worker paces each chat from: the sent one's time, per chat
        assert storage.last_sent_per_chat(s) == {"@main": T0}


def test_a_burst_is_marked_in_one_statement_and_only_its_alerts(engine, sessions) -> None:
    """A burst of alerts went out as one message (or was shown on the console): one UPDATE
    marks them all, each with its own attempt counted, and no other alert changes."""
    with storage.session_scope(sessions) as s:
        store_statements(s, spec().key, [to_store(item(k)) for k in range(6)], now=T0)
    lease = timedelta(seconds=60)
    with storage.session_scope(sessions) as s:
        claimed = [a.id for a in storage.claim_alerts(s, T0, limit=10, lease=lease)]
    writes: list[str] = []

    def record(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE"):
            writes.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        with storage.session_scope(sessions) as s:
            storage.mark_alerts_sent(s, claimed[:3], message_id="77", now=T0, thread_id=5)
            storage.mark_alerts_shown(s, claimed[3:5], now=T0)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(writes) == 2, writes
    with storage.session_scope(sessions) as s:
        rows = {r.id: r for r in s.scalars(select(AlertRow))}
        got = {
            i: (r.status, r.message_id, r.thread_id, r.sent_at is not None, r.attempts)
            for i, r in rows.items()
        }
    sent = ("sent", "77", 5, True, 1)
    shown = ("shown", None, None, False, 1)
    assert [got[i] for i in claimed] == [sent] * 3 + [shown] * 2 + [
        ("pending", None, None, False, 0)
    ]
    assert all(rows[i].lease_until is None for i in claimed[:5])


def test_migrated_chat_is_used_for_later_alerts(sessions) -> None:
    with storage.session_scope(sessions) as s:
        store_statements(s, spec().key, [to_store(item(1))], now=T0)
        storage.set_channel_chat(s, "main", "-100777")
    with storage.session_scope(sessions) as s:
        (a,) = storage.claim_alerts(s, T0, limit=10, lease=timedelta(seconds=5))
    assert a.chat == "-100777"


def test_removed_source_is_deactivated_and_comes_back_with_its_state(sessions) -> None:
    key = spec().key
    with storage.session_scope(sessions) as s:
        storage.record_poll_success(
            s, key, caching=CachingInfo('"e1"', None), cursor=None, now=T0, next_poll_at=T0
        )
        storage.sync_sources(s, [], default_interval=timedelta(seconds=60), now=T0)
        assert storage.source_statuses(s) == []
        storage.sync_sources(s, [spec()], default_interval=timedelta(seconds=60), now=T0)
        (c,) = storage.claim_sources(s, T0, limit=10, lease=timedelta(seconds=5), owner="w")
    assert c.caching.etag == '"e1"' and c.primed


@pytest.mark.postgres
def test_concurrent_claimers_on_postgres_never_share_a_source(postgres_server) -> None:
    url = postgres_server.create_database("claimers")
    eng = storage.make_engine(url)
    storage.migrate(eng)
    sessions = storage.make_sessions(eng)
    specs = [spec(f"feed:https://e{i}.org/rss", speaker=f"s{i}") for i in range(200)]
    with storage.session_scope(sessions) as s:
        storage.sync_sources(s, specs, default_interval=timedelta(seconds=60), now=T0)
    got: dict[str, list[str]] = {}
    barrier = threading.Barrier(4)

    def claim(owner: str) -> None:
        barrier.wait()
        mine: list[str] = []
        while True:
            with storage.session_scope(sessions) as s:
                batch = storage.claim_sources(
                    s, T0, limit=7, lease=timedelta(minutes=5), owner=owner
                )
            if not batch:
                break
            mine.extend(c.key for c in batch)
        got[owner] = mine

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    eng.dispose()
    every = [k for keys in got.values() for k in keys]
    assert sorted(every) == sorted(s.key for s in specs)  # each once, none lost


def test_a_paused_channel_is_not_claimed_until_resumed(sessions) -> None:
    with storage.session_scope(sessions) as s:
        store_statements(s, spec().key, [to_store(item(1)), to_store(item(2))], now=T0)
    lease = timedelta(seconds=60)
    with storage.session_scope(sessions) as s:
        first, second = storage.claim_alerts(s, T0, limit=10, lease=lease)
        storage.mark_alert_failed(s, first.id, error="BadRequest: old refusal", now=T0)
        storage.pause_channel(s, second.channel_id, reason="Forbidden: bot was kicked", now=T0)
        storage.release_alerts(s, [second.id])
    with storage.session_scope(sessions) as s:
        assert storage.claim_alerts(s, T0, limit=10, lease=lease) == []  # paused
        assert storage.resume_channel(s, "nope", now=T0) is None
        assert storage.resume_channel(s, second.channel_id, now=T0) == 1  # failed ones stay
        assert storage.paused_channels(s) == []
        (again,) = storage.claim_alerts(s, T0, limit=10, lease=lease)
        assert again.id == second.id
        storage.release_alerts(s, [again.id])
        assert storage.resume_channel(s, second.channel_id, now=T0, include_failed=True) == 2


def test_a_poll_of_many_new_statements_stores_each_with_its_matches_and_alerts(sessions) -> None:
    """issue 9: a poll's new statements go in one INSERT; the repeat of one of them (which
    needs its id) after; every statement keeps its own matches, alerts and original."""
    same = dict(title="Statement", text="A long enough statement about the line of contact." * 3)
    batch = [to_store(item(n), channels=("main", "cf")) for n in (1, 2, 3)]
    batch.insert(2, to_store(item(4, **same), channels=("main", "cf"), check_repeat=True))
    # repeats item 4, in this poll
    batch.append(to_store(item(5, **same), channels=("main", "cf"), check_repeat=True))
    with storage.session_scope(sessions) as s:
        got = store_statements(s, spec().key, batch, now=T0)
    assert (got.new, got.duplicates, got.alerts) == (4, 1, 8)
    with storage.session_scope(sessions) as s:
        rows = {r.external_id: r for r in s.scalars(select(StatementRow))}
        assert rows["id-5"].duplicate_of == rows["id-4"].id
        assert {r.duplicate_of for k, r in rows.items() if k != "id-5"} == {None}
        for row in rows.values():
            assert (
                s.scalar(
                    select(func.count())
                    .select_from(MatchRow)
                    .where(MatchRow.statement_id == row.id)
                )
                == 1
            )
        alerted = s.execute(select(AlertRow.statement_id, AlertRow.channel_id)).all()
        assert sorted(alerted) == sorted(
            (rows[f"id-{n}"].id, c) for n in (1, 2, 3, 4) for c in ("main", "cf")
        )


def test_a_statement_another_worker_stored_meanwhile_is_left_to_it(sessions) -> None:
    """Decided on what was read, then another worker stored one of the ids first: the poll
    stores the others, and the other worker's statement keeps its one set of alerts."""
    from bot.ingest import decide
    from storage import statements

    key = spec().key
    batch = [to_store(item(n)) for n in (1, 2, 3)]
    with storage.session_scope(sessions) as s:
        mine = statements.known_items(s, key, [st.item.external_id for st in batch])
        intents = decide(batch, statements.lookup_known(s, mine.source_id, batch, mine=mine))
    with storage.session_scope(sessions) as s:  # the other worker, committed first
        store_statements(s, key, [batch[1]], now=T0)
    with storage.session_scope(sessions) as s:
        got = statements.apply_intents(s, mine.source_id, intents, now=T0)
    assert (got.new, got.alerts) == (2, 2)
    with storage.session_scope(sessions) as s:
        assert s.scalar(select(func.count()).select_from(StatementRow)) == 3
        assert s.scalar(select(func.count()).select_from(AlertRow)) == 3
        assert s.scalar(select(func.count()).select_from(MatchRow)) == 3


def test_the_other_sides_statements_are_not_read_from_every_original(tmp_path) -> None:
    # the alert context ("on the other side") runs this per topic at every dispatch tick
    from storage.queries import _recent_ids

    query = _recent_ids(["ceasefire"], T0 - timedelta(days=1), T0, ["sp1"], 5)
    plans = _plans(tmp_path, lambda s: s.execute(query).all())
    assert plans and all("ix_statements_duplicate_of" not in p for p in plans), plans


def test_a_resync_applies_what_the_watchlist_changed_and_writes_nothing_else(
    sessions, engine: Engine
) -> None:
    key = spec().key
    minute = timedelta(seconds=60)
    with storage.session_scope(sessions) as s:
        storage.record_poll_success(
            s, key, caching=None, cursor=None, now=T0, next_poll_at=T0 + timedelta(hours=1)
        )
    writes: list[str] = []

    def record(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("UPDATE", "INSERT")):
            writes.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    specs = [spec(), spec("feed:https://other.org/rss", speaker="sp2")]
    with storage.session_scope(sessions) as s:
        storage.sync_sources(s, specs, default_interval=minute, now=T0)
    assert writes == []  # nothing changed: nothing written
    # a shorter interval takes effect now; another speaker is recorded
    shorter = [
        replace(spec(speaker="sp9"), interval=timedelta(minutes=5)),
        spec("feed:https://other.org/rss", speaker="sp2"),
    ]
    with storage.session_scope(sessions) as s:
        storage.sync_sources(s, shorter, default_interval=minute, now=T0)
        row = s.scalars(select(SourceRow).where(SourceRow.key == key)).one()
        assert (row.speaker_id, row.interval_seconds) == ("sp9", 300)
        assert row.next_poll_at == T0 + timedelta(minutes=5)
    # a longer one keeps the poll already due sooner
    longer = [replace(shorter[0], interval=timedelta(hours=2)), shorter[1]]
    with storage.session_scope(sessions) as s:
        storage.sync_sources(s, longer, default_interval=minute, now=T0)
        row = s.scalars(select(SourceRow).where(SourceRow.key == key)).one()
        assert (row.interval_seconds, row.next_poll_at) == (7200, T0 + timedelta(minutes=5))
    event.remove(engine, "before_cursor_execute", record)
