"""The operator's summaries on both backends: channels with their outbox, activity since."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

import storage
from bot.model import AlertStatus, Channel
from bot.pipeline import store_statements
from storage.schema import AlertRow
from tests.builders import T0, item, spec, to_store

OTHER = "feed:https://other.org/rss"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
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
            [spec(), spec(OTHER, speaker="sp2")],
            default_interval=timedelta(seconds=60),
            now=T0,
        )
        storage.sync_channels(session, [Channel("main", "@main"), Channel("cf", "@cf")])
    return s


def test_channels_and_activity(sessions: sessionmaker[Session]) -> None:
    first = item(1)
    same = dict(title=first.title, text=first.text)
    with storage.session_scope(sessions) as s:
        store_statements(s, spec().key, [to_store(first, canonical="https://x.org/a")], now=T0)
        store_statements(s, spec().key, [to_store(item(2))], now=T0)
        # the same statement published by another speaker: a duplicate, stored as evidence
        store_statements(
            s,
            OTHER,
            [to_store(item(9, **same), speaker="sp2", canonical="https://x.org/a")],
            now=T0,
        )
    with storage.session_scope(sessions) as s:
        first_alert = s.scalars(select(AlertRow.id).order_by(AlertRow.id)).first()
        assert first_alert is not None
        storage.mark_alert_sent(s, first_alert, message_id="7", now=T0 + timedelta(minutes=1))
        storage.pause_channel(s, "cf", reason="Forbidden: bot was kicked", now=T0)

    with storage.session_scope(sessions) as s:
        cf, main = storage.channel_summaries(s)
        week = storage.activity_since(s, T0 - timedelta(days=7))
        later = storage.activity_since(s, T0 + timedelta(seconds=1))

    assert (cf.id, cf.chat, cf.paused_at, cf.paused_reason) == (
        "cf",
        "@cf",
        T0,
        "Forbidden: bot was kicked",
    )
    assert cf.count(AlertStatus.PENDING) == 0 and cf.last_sent_at is None
    assert (main.id, main.paused_at) == ("main", None)
    # 2 new alerts and the "also published by" of the duplicate: one sent, two waiting
    assert (main.count(AlertStatus.SENT), main.count(AlertStatus.PENDING)) == (1, 2)
    assert main.count(AlertStatus.FAILED) == main.count(AlertStatus.SHOWN) == 0
    assert main.last_sent_at == T0 + timedelta(minutes=1)

    assert week.statements == (("sp1", "feed", 2), ("sp2", "feed", 1))
    assert week.alerts == (("main", "pending", 2), ("main", "sent", 1))
    assert (week.duplicates, week.edits, week.deletions) == (1, 0, 0)
    assert later.statements == later.alerts == ()
    assert (later.duplicates, later.edits, later.deletions) == (0, 0, 0)
