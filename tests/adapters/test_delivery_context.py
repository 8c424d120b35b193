"""The alert context read in bulk per dispatch tick (issue 9), on both backends: the same values
as the per-alert queries, the same messages, and a number of queries that does not grow with
the number of alerts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

import storage
from bot.context import OTHER_SIDE_WINDOW, build_context
from bot.delivery import DeliveryPolicy, Dispatcher
from bot.metrics import Metrics
from bot.model import AlertForDelivery, AlertKind, Channel, Reference, StatementKind, Watchlist
from bot.pipeline import store_statements
from bot.render import render_alert
from storage.schema import AlertRow, StatementRow
from tests.builders import T0, item, spec, to_store, watchlist

X = "x:am_mfa"
X2 = "x:other"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = storage.make_engine(db_url)
    storage.migrate(eng)
    with storage.session_scope(storage.make_sessions(eng)) as session:
        storage.sync_sources(
            session,
            [spec(), spec(X, speaker="sp1"), spec(X2, speaker="sp2")],
            default_interval=timedelta(seconds=60),
            now=T0,
        )
        storage.sync_channels(session, [Channel("main", "@main")])
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return storage.make_sessions(engine)


WL: Watchlist = watchlist(spec(), spec(X, speaker="sp1"), spec(X2, speaker="sp2"))


class Recorder:
    """A sender that takes every message (a Telegram that never refuses)."""

    delivers = True

    def __init__(self) -> None:
        self.sent: list[tuple[str, str | None]] = []
        self.edits: list[tuple[str, str]] = []

    async def send(
        self,
        channel_id: str,
        chat: str,
        html: str,
        *,
        silent: bool = False,
        reply_to: str | None = None,
        patient: bool = False,
        thread_id: int | None = None,
    ) -> str:
        self.sent.append((html, reply_to))
        return str(len(self.sent))

    async def edit(self, channel_id: str, chat: str, message_id: str, html: str) -> None:
        self.edits.append((message_id, html))


async def _no_sleep(_: float) -> None:
    return None


def _dispatcher(sessions: sessionmaker[Session], sender: Recorder) -> Dispatcher:
    return Dispatcher(
        sessions=sessions,
        sender=sender,
        watchlist=WL,
        # one message per alert, no pacing: every alert needs its own context
        policy=DeliveryPolicy(chat_interval=0.0, global_rate=1e9, burst_max_delay=0.0),
        clock=lambda: T0 + timedelta(hours=3),
        metrics=Metrics(),
        sleep=_no_sleep,
    )


def _news(sessions: sessionmaker[Session], n: int) -> None:
    """`n` alerted statements of sp1, each with a statement of the other side just before."""
    with storage.session_scope(sessions) as s:
        other = [
            to_store(
                item(1000 + k, published=T0 + timedelta(minutes=k, seconds=-30)),
                speaker="sp2",
                channels=(),
            )
            for k in range(n)
        ]
        store_statements(s, X2, other, now=T0)
        store_statements(s, spec().key, [to_store(item(k)) for k in range(n)], now=T0)


def _count_selects(engine: Engine) -> list[str]:
    seen: list[str] = []

    def record(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        # The pool's liveness ping ("SELECT 1") is no query of ours.
        if statement.lstrip().upper().startswith("SELECT") and "FROM" in statement.upper():
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    return seen


@pytest.mark.parametrize("n", [1, 20])
async def test_a_tick_reads_as_often_for_twenty_alerts_as_for_one(
    engine: Engine, sessions: sessionmaker[Session], n: int
) -> None:
    _news(sessions, n)
    sender = Recorder()
    selects = _count_selects(engine)
    report = await _dispatcher(sessions, sender).dispatch()
    assert report.sent == n
    # claim: alerts, parents, statements, matches; context: also, thread, recent (one UNION),
    # their statements and matches. The same 9 reads for 1 alert or 20; and, at a worker's
    # first tick only, each chat's last send (its pace across a restart).
    assert len(selects) == 10, selects
    assert sum("max(alerts.sent_at)" in q for q in selects) == 1
    assert all("On the other side" in html for html, _ in sender.sent)


def _old_context_html(s: Session, alert: AlertForDelivery) -> str:
    """The alert rendered from the per-alert queries the dispatcher made before issue 9."""
    st = alert.statement
    context = build_context(
        st,
        WL,
        also=storage.also_published(s, st.id),
        thread=storage.thread_continuations(s, st.id),
        recent=storage.recent_on_topics(
            s,
            [m.topic_id for m in st.matches],
            since=st.published_at - OTHER_SIDE_WINDOW,
            until=st.published_at,
            exclude_speakers=[st.speaker_id],
        ),
    )
    topics = {t.id: t for t in WL.topics}
    return render_alert(alert, WL.speaker(st.speaker_id), topics, context=context, max_text=1500)


def _follow_ups(sessions: sessionmaker[Session]) -> None:
    """A statement that was reposted by the other side, a thread that grew, and an edit."""
    root = replace(item(1), external_id="100", thread_id="100")
    reply = replace(
        item(2),
        external_id="101",
        thread_id="100",
        kind=StatementKind.REPLY,
        published_at=root.published_at + timedelta(minutes=3),
        references=(Reference("replied_to", "100", "am_mfa", "", None),),
    )
    repost = replace(
        item(3),
        external_id="777",
        kind=StatementKind.REPOST,
        references=(Reference("retweeted", "100", "am_mfa", "", None),),
    )
    with storage.session_scope(sessions) as s:
        store_statements(
            s, X2, [to_store(item(50, published=T0), speaker="sp2", channels=())], now=T0
        )
        store_statements(s, X, [replace(to_store(root), alert_edits=True)], now=T0)
        store_statements(s, X, [to_store(reply)], now=T0)
        store_statements(s, X2, [to_store(repost, speaker="sp2")], now=T0)
        edited = replace(root, text="Edited text about Karabakh.", version_id="1002")
        store_statements(s, X, [replace(to_store(edited), alert_edits=True)], now=T0)


def test_bulk_context_gives_what_the_per_alert_queries_gave(
    sessions: sessionmaker[Session],
) -> None:
    _follow_ups(sessions)
    with storage.session_scope(sessions) as s:
        alerts = storage.claim_alerts(s, T0, limit=50, lease=timedelta(seconds=60))
        kinds = sorted(a.kind.value for a in alerts)
        assert kinds == ["also", "edit", "new", "thread"]
        around = storage.load_around(s, alerts, window=OTHER_SIDE_WINDOW)
        topics = {t.id: t for t in WL.topics}
        for a in alerts:
            st = a.statement
            if a.kind is AlertKind.EDIT:
                assert a.subject_id is not None
                edit = around[a.id].edit
                assert edit is not None
                assert edit.before == storage.text_before(s, st.id, a.subject_id)
                assert (edit.after, edit.edited_at) == storage.version_text(s, a.subject_id)
                continue
            got = around[a.id]
            assert list(got.also) == storage.also_published(s, st.id)
            assert list(got.thread) == storage.thread_continuations(s, st.id)
            ctx = build_context(st, WL, also=got.also, thread=got.thread, recent=got.recent)
            html = render_alert(a, WL.speaker(st.speaker_id), topics, context=ctx, max_text=1500)
            assert html == _old_context_html(s, a)
            if a.kind is not AlertKind.NEW:
                assert a.parent_id is not None and got.parent is not None
                assert (got.parent.status, got.parent.message_id) == storage.alert_state(
                    s, a.parent_id
                )
        (first,) = [a for a in alerts if a.kind is AlertKind.NEW]
        assert [x.external_id for x in around[first.id].also] == ["777"]
        assert [x.external_id for x in around[first.id].thread] == ["101"]
        assert [x.speaker_id for x in around[first.id].recent] == ["sp2"]


async def test_a_follow_up_in_the_tick_of_its_first_alert_rewrites_the_message_sent(
    sessions: sessionmaker[Session],
) -> None:
    _follow_ups(sessions)
    sender = Recorder()
    report = await _dispatcher(sessions, sender).dispatch()
    assert (report.sent, report.retried, report.failed) == (4, 0, 0)
    # the first alert went out, and the thread and the repost grew it in the same tick (the
    # edit is a message of its own)
    assert len(sender.sent) == 2
    assert [m for m, _ in sender.edits] == ["1", "1"]
    assert "101" in sender.edits[-1][1] or "Text of statement number 2" in sender.edits[-1][1]
    with sessions() as s:
        assert set(s.scalars(select(AlertRow.status))) == {"sent"}
        assert s.scalar(select(StatementRow.id).where(StatementRow.external_id == "777"))
