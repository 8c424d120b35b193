"""What Telegram channels need from storage, on both backends: the posts a window may show gone,
forwards as repeats, edits dated when seen, and the `sources` view's cursor and last post."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

import storage
from bot.model import CachingInfo, Channel, FetchedItem, Reference, StatementKind
from bot.pipeline import store_statements
from storage.schema import AlertRow, VersionRow
from tests.builders import T0, item, spec, to_store

AZ = "telegram:azmfa"
AM = "telegram:armfa"


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    eng: Engine = storage.make_engine(db_url)
    storage.migrate(eng)
    s = storage.make_sessions(eng)
    with storage.session_scope(s) as session:
        storage.sync_sources(
            session,
            [spec(AZ, speaker="az"), spec(AM, speaker="am")],
            default_interval=timedelta(seconds=60),
            now=T0,
        )
        storage.sync_channels(session, [Channel("main", "@main")])
    yield s
    eng.dispose()


def _post(channel: str, n: int, **kw: object) -> FetchedItem:
    return replace(item(n), external_id=f"{channel}/{n}", url=None, **kw)  # type: ignore[arg-type]


def test_posts_since_are_this_channels_live_ones(sessions) -> None:
    with storage.session_scope(sessions) as s:
        store_statements(s, AZ, [to_store(_post("azmfa", n)) for n in (1, 2, 3)], now=T0)
        store_statements(s, AM, [to_store(_post("armfa", 4), speaker="am")], now=T0)
    with storage.session_scope(sessions) as s:
        ids = dict((ext, sid) for sid, ext in storage.posts_since(s, AZ, since=T0))
        storage.record_deleted(s, ids["azmfa/3"], now=T0 + timedelta(hours=1))
    with storage.session_scope(sessions) as s:
        live = sorted(ext for _, ext in storage.posts_since(s, AZ, since=T0 + timedelta(minutes=2)))
    assert live == ["azmfa/2"]  # 1 is older than the window, 3 is deleted, 4 is another channel


def test_a_forward_of_a_stored_post_repeats_it_and_says_also(sessions) -> None:
    with storage.session_scope(sessions) as s:
        store_statements(s, AM, [to_store(_post("armfa", 7), speaker="am")], now=T0)
    fwd = _post(
        "azmfa",
        50,
        text="Forwarded, in other words entirely.",
        kind=StatementKind.REPOST,
        references=(Reference("forwarded", "armfa/7", author="armfa"),),
    )
    with storage.session_scope(sessions) as s:
        res = store_statements(s, AZ, [to_store(fwd, speaker="az")], now=T0)
        kinds = [a.kind for a in s.scalars(select(AlertRow).order_by(AlertRow.id))]
    assert (res.new, res.duplicates) == (0, 1)
    assert kinds == ["new", "also"]


def test_an_edit_without_its_own_id_is_dated_when_seen(sessions) -> None:
    with storage.session_scope(sessions) as s:
        store_statements(s, AZ, [to_store(_post("azmfa", 1))], now=T0)
    later = T0 + timedelta(minutes=40)
    edited = replace(to_store(_post("azmfa", 1, text="Changed words on Karabakh.")))
    with storage.session_scope(sessions) as s:
        store_statements(s, AZ, [replace(edited, alert_edits=True)], now=later)
        version = s.scalars(select(VersionRow)).one()
    assert version.published_at == later


def test_the_sources_view_has_cursor_and_last_post(sessions) -> None:
    with storage.session_scope(sessions) as s:
        store_statements(s, AZ, [to_store(_post("azmfa", n)) for n in (1, 2)], now=T0)
        storage.record_poll_success(
            s,
            AZ,
            caching=CachingInfo(),
            cursor="2 gap=1-1",
            now=T0,
            next_poll_at=T0 + timedelta(minutes=1),
        )
    with storage.session_scope(sessions) as s:
        rows = {r.key: r for r in storage.source_statuses(s)}
    az, am = rows[AZ], rows[AM]
    assert az.cursor == "2 gap=1-1" and az.statements == 2
    assert az.last_published_at == item(2).published_at
    assert az.last_published_at is not None and az.last_published_at.tzinfo == UTC
    assert (am.cursor, am.last_published_at) == (None, None)
