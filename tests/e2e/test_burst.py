"""Bursts end to end (issue 11): a backlog too long for the chat's pace goes out as digests,
through the real dispatcher, PTB and a fake Bot API that answers 429 to a post too soon."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

import storage
from bot.app import App, open_app, run_once
from bot.delivery import DeliveryPolicy, Dispatcher
from bot.fakes.clock import SimClock
from bot.fakes.feed_server import FeedServer
from bot.fakes.http import LocalServer
from bot.fakes.telegram_api import FakeTelegram
from bot.watchlist import parse_watchlist
from storage.schema import AlertRow
from tests.e2e.conftest import CHATS, TOKEN, WATCHLIST, World, entry

PACE = 3.0  # Telegram's 20 messages a minute in one chat
URGENT_TOPIC = """  - id: strikes
    name: Strikes
    priority: urgent
    terms:
      en: [airstrike*]
channels:"""


@pytest.fixture
def clock() -> SimClock:
    return SimClock(datetime(2020, 9, 27, 5, 0, tzinfo=UTC))


@pytest.fixture
def paced(tmp_path: Path, clock: SimClock) -> Iterator[World]:
    feed_state = FeedServer()
    telegram = FakeTelegram(
        tokens={TOKEN},
        chats=CHATS,
        clock=clock.epoch,
        chat_interval=PACE,
        monotonic=clock.monotonic,
    )
    with LocalServer(feed_state.handle) as feeds, LocalServer(telegram.handle) as tg:
        yield World(tmp_path, feeds, feed_state, telegram, tg)


@pytest.fixture
async def app(paced: World, clock: SimClock) -> AsyncIterator[App]:
    text = WATCHLIST.replace("channels:", URGENT_TOPIC, 1).replace("{feeds}", paced.feeds.url)
    wl = parse_watchlist(text, path="test.yaml")
    async with open_app(paced.settings(), wl, clock=clock.now) as running:
        paced.publish("/am.rss", entry(1, "Old news on Karabakh", "Seen at the first poll."))
        await run_once(running, dispatch=False)  # the first poll stores, never alerts
        yield running


def dispatcher(app: App, clock: SimClock, *, max_delay: float = 60.0) -> Dispatcher:
    return Dispatcher(
        sessions=app.sessions,
        sender=app.sender,
        watchlist=app.watchlist,
        policy=DeliveryPolicy(chat_interval=PACE, burst_max_delay=max_delay),
        clock=clock.now,
        metrics=app.metrics,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )


async def drain(app: App, disp: Dispatcher, clock: SimClock, *, ticks: int = 200) -> None:
    """Dispatch ticks 2 simulated seconds apart until the outbox has nothing pending."""
    for _ in range(ticks):
        await disp.dispatch()
        if storage.outbox_counts(app.sessions())["pending"] == 0:
            return
        clock.advance(2.0)
    pytest.fail(f"alerts still pending after {ticks} ticks")


def burst(world: World, first: int, n: int, *, urgent_at: int | None = None) -> list[int]:
    numbers = list(range(first, first + n))
    world.publish(
        "/am.rss",
        *(
            entry(
                k, "Airstrike reported" if k == urgent_at else f"Karabakh update {k}", f"Text {k}."
            )
            for k in numbers
        ),
    )
    return numbers


def links_per_statement(world: World, numbers: list[int]) -> dict[int, int]:
    html = "\n".join(m.html for m in world.telegram.messages("@main_watch"))
    return {k: len(re.findall(rf'news/{k}"', html)) for k in numbers}


def flood_refusals(world: World) -> int:
    return sum(1 for c in world.telegram.calls() if c.status == 429)


async def test_a_burst_arrives_as_few_digests_each_statement_once_and_no_429(
    paced: World, app: App, clock: SimClock
) -> None:
    numbers = burst(paced, 10, 40)
    await run_once(app, dispatch=False)
    await drain(app, dispatcher(app, clock), clock)
    messages = paced.telegram.messages("@main_watch")
    assert 1 <= len(messages) <= 3  # one by one: 40 messages, the last two minutes late
    assert links_per_statement(paced, numbers) == dict.fromkeys(numbers, 1)
    assert flood_refusals(paced) == 0
    with app.sessions() as s:
        rows = s.scalars(select(AlertRow).where(AlertRow.channel_id == "main")).all()
    assert {r.status for r in rows} == {"sent"}
    # each alert keeps the id of the message that carries it, for follow-ups to answer
    assert {r.message_id for r in rows} == {str(m.message_id) for m in messages}


async def test_without_coalescing_the_same_burst_goes_one_by_one(
    paced: World, app: App, clock: SimClock
) -> None:
    numbers = burst(paced, 10, 25)
    await run_once(app, dispatch=False)
    await drain(app, dispatcher(app, clock, max_delay=0), clock)
    assert len(paced.telegram.messages("@main_watch")) == 25
    assert links_per_statement(paced, numbers) == dict.fromkeys(numbers, 1)
    assert flood_refusals(paced) == 0


async def test_an_urgent_statement_in_a_burst_goes_alone_and_first(
    paced: World, app: App, clock: SimClock
) -> None:
    numbers = burst(paced, 10, 40, urgent_at=30)
    await run_once(app, dispatch=False)
    await drain(app, dispatcher(app, clock), clock)
    first, *rest = paced.telegram.messages("@main_watch")
    assert "Airstrike reported" in first.text and "news/30" in first.html
    assert not first.disable_notification
    assert all("news/30" not in m.html for m in rest)
    assert links_per_statement(paced, numbers) == dict.fromkeys(numbers, 1)
    assert flood_refusals(paced) == 0


async def test_a_failed_digest_leaves_all_its_alerts_pending_and_the_retry_sends_them_once(
    paced: World, app: App, clock: SimClock
) -> None:
    numbers = burst(paced, 10, 40)
    await run_once(app, dispatch=False)
    disp = dispatcher(app, clock)
    paced.telegram.fail_next(1, status=502, method="sendMessage")
    report = await disp.dispatch()
    assert report.sent == 0 and report.retried >= 2  # the digest's alerts, together
    assert storage.outbox_counts(app.sessions())["pending"] == 40
    assert paced.telegram.messages("@main_watch") == []
    await drain(app, disp, clock)
    assert links_per_statement(paced, numbers) == dict.fromkeys(numbers, 1)
    assert storage.outbox_counts(app.sessions())["sent"] == 40


async def test_an_edit_of_a_statement_sent_in_a_digest_answers_the_digest(
    paced: World, app: App, clock: SimClock
) -> None:
    burst(paced, 10, 40)
    await run_once(app, dispatch=False)
    disp = dispatcher(app, clock)
    await drain(app, disp, clock)
    digests = paced.telegram.messages("@main_watch")
    carrying = next(m for m in digests if 'news/12"' in m.html)
    paced.entries["/am.rss"] = [
        entry(12, "Karabakh update 12", "Text 12, corrected.") if e.id == "urn:test:12" else e
        for e in paced.entries["/am.rss"]
    ]
    paced.publish("/am.rss")
    await run_once(app, dispatch=False)
    clock.advance(PACE)
    await drain(app, disp, clock)
    after = paced.telegram.messages("@main_watch")
    assert len(after) == len(digests) + 1
    assert after[-1].reply_to == carrying.message_id
    assert [m.html for m in after[:-1]] == [m.html for m in digests]  # no digest rewritten
