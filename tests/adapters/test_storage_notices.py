"""Storage for operator notices, on both backends: what was told, and statement times."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

import storage
from bot.pipeline import store_statements
from tests.builders import T0, item, spec, to_store

OTHER = "feed:https://other.org/rss"


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = storage.make_engine(db_url)
    storage.migrate(engine)
    s = storage.make_sessions(engine)
    with storage.session_scope(s) as session:
        storage.sync_sources(
            session,
            [spec(), spec(OTHER, speaker="sp2")],
            default_interval=timedelta(seconds=60),
            now=T0,
        )
    yield s
    engine.dispose()


def test_statement_times_are_the_last_n_of_each_active_source(
    sessions: sessionmaker[Session],
) -> None:
    with storage.session_scope(sessions) as s:
        store_statements(s, spec().key, [to_store(item(n)) for n in range(1, 6)], now=T0)
        store_statements(s, OTHER, [to_store(item(9, published=T0), speaker="sp2")], now=T0)
    with sessions() as s:
        times = storage.statement_times(s, per_source=3)
    assert sorted(times[spec().key]) == [T0 + timedelta(minutes=n) for n in (3, 4, 5)]
    assert times[OTHER] == [T0]
    with storage.session_scope(sessions) as s:  # OTHER leaves the watchlist
        storage.sync_sources(s, [spec()], default_interval=timedelta(seconds=60), now=T0)
    with sessions() as s:
        assert set(storage.statement_times(s, per_source=3)) == {spec().key}


def test_a_notice_is_recorded_per_subject_and_replaced(sessions: sessionmaker[Session]) -> None:
    with storage.session_scope(sessions) as s:
        storage.record_notice(s, "feed:a", "source_failing", "a failing", now=T0)
        storage.record_notice(s, "channel:main", "channel_paused", "main paused", now=T0)
    with storage.session_scope(sessions) as s:
        storage.record_notice(s, "feed:a", "source_failing", "a failing", now=T0 + timedelta(1))
    with sessions() as s:
        assert storage.notices_sent(s) == {"feed:a": T0 + timedelta(1), "channel:main": T0}
