"""Follow-up alerts in storage, on both backends: edits, deletions, reposts, threads, cross-posts,
digests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

import storage
from bot.model import Channel, FetchedItem, Reference, StatementKind
from bot.pipeline import store_statements
from storage.schema import AlertRow, StatementRow
from tests.builders import T0, item, spec, to_store

X = "x:am_mfa"
X2 = "x:other"


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    eng: Engine = storage.make_engine(db_url)
    storage.migrate(eng)
    s = storage.make_sessions(eng)
    with storage.session_scope(s) as session:
        storage.sync_sources(
            session,
            [spec(), spec(X, speaker="sp1"), spec(X2, speaker="sp2")],
            default_interval=timedelta(seconds=60),
            now=T0,
        )
        storage.sync_channels(session, [Channel("main", "@main")])
    yield s
    eng.dispose()


def _alerts(s: Session) -> list[tuple[str, int, int | None]]:
    return [
        (a.kind, a.subject_id, a.parent_id)
        for a in s.scalars(select(AlertRow).order_by(AlertRow.id))
    ]


def _post(n: int, **kw: object) -> FetchedItem:
    return replace(item(n), **kw)  # type: ignore[arg-type]


def test_changed_text_keeps_both_versions_and_answers_the_alert_when_edits_matter(
    sessions,
) -> None:
    first = to_store(item(1))
    with storage.session_scope(sessions) as s:
        store_statements(s, X, [replace(first, alert_edits=True)], now=T0)
    edited = replace(item(1, text="Edited text about Karabakh."), version_id="1002")
    st2 = replace(to_store(edited), alert_edits=True)
    with storage.session_scope(sessions) as s:
        res = store_statements(s, X, [st2], now=T0)
        again = store_statements(s, X, [st2], now=T0)  # same version seen again
        new_id = s.scalars(select(AlertRow.id).order_by(AlertRow.id)).first()
        assert (res.edits, res.alerts, again.alerts) == (1, 1, 0)
        (stmt,) = s.scalars(select(StatementRow)).all()
        assert stmt.text == item(1).text  # the first version is never rewritten
        kinds = _alerts(s)
        assert kinds[1][0] == "edit" and kinds[1][2] == new_id
        version = storage.load_version(s, kinds[1][1])
        assert version.text == "Edited text about Karabakh." and version.version_id == "1002"
        assert storage.text_before(s, stmt.id, version.id).endswith(item(1).text)


def test_feed_rewording_is_kept_silently(sessions) -> None:
    with storage.session_scope(sessions) as s:
        store_statements(s, spec().key, [to_store(item(1))], now=T0)
        res = store_statements(
            s, spec().key, [to_store(item(1, text="Reworded on Karabakh."))], now=T0
        )
        assert (res.edits, res.alerts) == (1, 0)


def test_repost_by_another_account_is_a_duplicate_that_the_first_alert_mentions(
    sessions,
) -> None:
    with storage.session_scope(sessions) as s:
        store_statements(s, X, [to_store(_post(1, external_id="555"))], now=T0)
        repost = _post(
            2,
            external_id="777",
            kind=StatementKind.REPOST,
            references=(Reference("retweeted", "555", "am_mfa", "", None),),
        )
        res = store_statements(s, X2, [to_store(repost, speaker="sp2")], now=T0)
        assert (res.new, res.duplicates) == (0, 1)
        assert [k for k, _, _ in _alerts(s)] == ["new", "also"]


def test_own_reply_within_minutes_grows_the_thread_alert(sessions) -> None:
    root = _post(1, external_id="100", thread_id="100")
    reply = _post(
        2,
        external_id="101",
        thread_id="100",
        kind=StatementKind.REPLY,
        published_at=root.published_at + timedelta(minutes=3),
        references=(Reference("replied_to", "100", "am_mfa", "", None),),
    )
    late = replace(
        reply,
        external_id="102",
        published_at=root.published_at + timedelta(hours=2),
        references=(Reference("replied_to", "101", "am_mfa", "", None),),
    )
    with storage.session_scope(sessions) as s:
        store_statements(s, X, [to_store(root)], now=T0)
        res = store_statements(s, X, [to_store(reply), to_store(late)], now=T0)
        assert res.new == 2
        kinds = [k for k, _, _ in _alerts(s)]
        assert kinds == ["new", "thread", "new"]  # the late reply is news of its own
        (root_id,) = s.scalars(select(StatementRow.id).where(StatementRow.external_id == "100"))
        assert [c.external_id for c in storage.thread_continuations(s, root_id)] == ["101"]


def test_near_duplicate_from_another_source_adds_also_published(sessions) -> None:
    with storage.session_scope(sessions) as s:
        store_statements(s, spec().key, [to_store(item(1))], now=T0)
        (orig,) = s.scalars(select(StatementRow.id))
        cross_post = item(2, text=item(1).text + " #Karabakh")  # the index found it close
        near = replace(to_store(cross_post, speaker="sp2"), near=(orig,))
        res = store_statements(s, X2, [near], now=T0)
        assert (res.new, res.duplicates, res.alerts) == (0, 1, 1)
        assert [k for k, _, _ in _alerts(s)] == ["new", "also"]
        assert [a.external_id for a in storage.also_published(s, orig)] == ["id-2"]
        # the index's candidate from the same source is not a cross-post
        same = replace(to_store(item(3, text=item(1).text + "!")), near=(orig,))
        assert store_statements(s, spec().key, [same], now=T0).new == 1


def test_deleted_statement_is_marked_and_answered_once(sessions) -> None:
    with storage.session_scope(sessions) as s:
        store_statements(s, X, [to_store(_post(1, external_id="900"))], now=T0)
        (due,) = storage.due_for_deletion_check(s, kind="x", since=T0 - timedelta(days=2), limit=10)
        assert due.remote_ids == ("900",)
        assert storage.record_deleted(s, due.statement_id, now=T0) == 1
        assert storage.record_deleted(s, due.statement_id, now=T0) == 0
        assert [k for k, _, _ in _alerts(s)] == ["new", "delete"]
        assert (
            storage.due_for_deletion_check(s, kind="x", since=T0 - timedelta(days=2), limit=9) == []
        )
        (stmt,) = s.scalars(select(StatementRow)).all()
        assert stmt.deleted_at == T0 and stmt.text == item(1).text


def test_digest_alerts_wait_without_blocking_the_channel(sessions) -> None:
    later = T0 + timedelta(hours=10)
    with storage.session_scope(sessions) as s:
        low = replace(to_store(item(1)), channels=(), digest=(("main", later),))
        store_statements(s, spec().key, [low, to_store(item(2))], now=T0)
        claimed = storage.claim_alerts(s, T0, limit=10, lease=timedelta(seconds=30))
        assert [a.statement.external_id for a in claimed] == ["id-2"]
    with storage.session_scope(sessions) as s:
        for a in claimed:
            storage.mark_alert_sent(s, a.id, message_id="1", now=T0)
        at_digest = storage.claim_alerts(s, later, limit=10, lease=timedelta(seconds=30))
        assert [(a.kind.value, a.statement.external_id) for a in at_digest] == [("digest", "id-1")]


def test_alerts_sent_in_one_digest_share_its_message_and_know_it(sessions) -> None:
    with storage.session_scope(sessions) as s:
        store_statements(s, X, [to_store(item(n)) for n in (1, 2, 3)], now=T0)
    with storage.session_scope(sessions) as s:
        a, b, c = storage.claim_alerts(s, T0, limit=10, lease=timedelta(seconds=60))
        storage.mark_alert_sent(s, a.id, message_id="7", now=T0)
        storage.mark_alert_sent(s, b.id, message_id="7", now=T0)
        storage.mark_alert_sent(s, c.id, message_id="8", now=T0)
    with storage.session_scope(sessions) as s:
        assert storage.alert_state(s, a.id) == storage.alert_state(s, b.id)
        assert storage.message_shared(s, a.id) and storage.message_shared(s, b.id)
        assert not storage.message_shared(s, c.id)  # a message of its own may be rewritten


def test_an_also_published_edit_of_a_message_does_not_make_it_a_digest(sessions) -> None:
    with storage.session_scope(sessions) as s:
        store_statements(s, spec().key, [to_store(item(1))], now=T0)
        (orig,) = s.scalars(select(StatementRow.id))
        near = replace(to_store(item(2, text=item(1).text + " #x"), speaker="sp2"), near=(orig,))
        store_statements(s, X2, [near], now=T0)
        first, also = s.scalars(select(AlertRow.id).order_by(AlertRow.id)).all()
        storage.mark_alert_sent(s, first, message_id="5", now=T0)
        storage.mark_alert_sent(s, also, message_id="5", now=T0)  # it rewrote message 5
    with storage.session_scope(sessions) as s:
        assert not storage.message_shared(s, first)  # the next follow-up may rewrite it too
