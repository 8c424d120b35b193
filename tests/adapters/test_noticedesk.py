"""The notices tick on a real database: a notice Telegram did not take is sent at the next tick."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

import storage
from bot.errors import DeliveryRetryLater
from bot.noticedesk import NoticeDesk
from bot.notices import NoticeKind, NoticePolicy
from bot.x.budget import Budget
from bot.x.plan import plan_preset
from tests.builders import spec

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


class FlakySender:
    """Refuses the first `down` sends as Telegram being unreachable, then takes them."""

    delivers = True

    def __init__(self, down: int) -> None:
        self.down = down
        self.sent: list[tuple[str, str]] = []

    async def send(self, channel_id: str, chat: str, html: str, **_kw: object) -> str:
        if self.down > 0:
            self.down -= 1
            raise DeliveryRetryLater(channel_id, "Timed out")
        self.sent.append((chat, html))
        return str(len(self.sent))


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    """On both backends: the statement times query uses a window function."""
    engine = storage.make_engine(db_url)
    storage.migrate(engine)
    sessions = storage.make_sessions(engine)
    with storage.session_scope(sessions) as s:
        storage.sync_watchlist(
            s,
            [spec("feed:https://example.org/a.rss")],
            [],
            default_interval=timedelta(seconds=60),
            now=NOW,
        )
        for _ in range(3):
            storage.record_poll_failure(
                s, "feed:https://example.org/a.rss", error="HTTP 503", next_poll_at=NOW
            )
    yield sessions
    engine.dispose()


async def test_a_notice_not_delivered_is_sent_at_the_next_tick_and_then_not_again(
    sessions: sessionmaker[Session],
) -> None:
    sender = FlakySender(down=1)
    desk = NoticeDesk(
        sessions=sessions, sender=sender, chat="@ops", policy=NoticePolicy(), clock=lambda: NOW
    )
    assert await desk.tick() == []  # Telegram down: nothing recorded as told
    with sessions() as s:
        assert storage.notices_sent(s) == {}
    (told,) = await desk.tick()
    assert told.kind is NoticeKind.SOURCE_FAILING
    assert [chat for chat, _ in sender.sent] == ["@ops"]
    assert "HTTP 503" in sender.sent[0][1]
    assert await desk.tick() == []
    assert len(sender.sent) == 1


async def test_a_refused_reload_is_told_with_its_lines(sessions: sessionmaker[Session]) -> None:
    sender = FlakySender(down=0)
    desk = NoticeDesk(
        sessions=sessions, sender=sender, chat="@ops", policy=NoticePolicy(), clock=lambda: NOW
    )
    desk.reload_refused(["w.yaml:3: speakers[0].age: unknown key"])
    kinds = {n.kind for n in await desk.tick()}
    assert NoticeKind.RELOAD_REFUSED in kinds
    assert any("w.yaml:3: speakers[0].age" in html for _, html in sender.sent)


async def test_credentials_in_a_notice_never_reach_the_chat(
    sessions: sessionmaker[Session],
) -> None:
    sender = FlakySender(down=0)
    desk = NoticeDesk(
        sessions=sessions, sender=sender, chat="@ops", policy=NoticePolicy(), clock=lambda: NOW
    )
    desk.reload_refused(["w.yaml:9: feed: https://user:hunter2@example.org/f?token=s3cret bad"])
    await desk.tick()
    (_, html), *_ = [m for m in sender.sent if "w.yaml:9" in m[1]]
    assert "hunter2" not in html and "s3cret" not in html and "***" in html


async def test_our_own_x_budget_used_up_is_told_with_when_polling_resumes(
    sessions: sessionmaker[Session],
) -> None:
    """Issue 11: the guard holding every X source until the month ends is "a budget reached"
    as much as X's own UsageCapExceeded; the operator hears of it once."""
    plan = plan_preset("basic")  # 15,000 reads a month
    cap = plan.usable_reads()
    assert cap is not None
    start = Budget.start(plan, NOW, reads=int(cap) - 10)  # less than one search's worth left
    with storage.session_scope(sessions) as s:
        storage.save_budget_state(s, "x", start.state.to_json(), now=NOW)
    sender = FlakySender(down=0)
    desk = NoticeDesk(
        sessions=sessions,
        sender=sender,
        chat="@ops",
        policy=NoticePolicy(),
        clock=lambda: NOW,
        x_plan=plan,
    )
    told = {n.kind for n in await desk.tick()}
    assert NoticeKind.BUDGET_USED_UP in told
    (text,) = [html for _, html in sender.sent if "budget" in html]
    assert "2026-12-01 00:00 UTC" in text  # the billing month's end: polling resumes then
    assert NoticeKind.BUDGET_USED_UP not in {n.kind for n in await desk.tick()}  # once a day
