"""Forum topics and photos end to end (issue 11): fake t.me preview → worker → PTB → fake Bot API,
on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

import storage
from bot.app import App, run_once
from bot.fakes.feed_server import FeedServer
from bot.fakes.http import LocalServer
from bot.fakes.telegram_api import FakeTelegram
from bot.fakes.telegram_preview import FakePreview
from bot.tghtml import parse_tg_html, utf16_len
from bot.watchlist import parse_watchlist
from storage.schema import AlertRow, SourceRow
from tests.e2e.conftest import CHATS, TOKEN, World

FORUM = "@forum_watch"
FORUM_ID = -1001000000009
#: the forum's topics: general (1), ceasefire (5), Armenia (12), Azerbaijan (14)
TOPICS = (1, 5, 12, 14)
CDN = "https://cdn4.telesco.pe/file/"

WATCHLIST = """
speakers:
  - id: az-mod
    name: Ministry of Defence of Azerbaijan
    role: Defence ministry
    side: Azerbaijan
    timezone: Asia/Baku
    sources:
      - telegram: "@MODAzerbaijan"
  - id: am-mfa
    name: Ministry of Foreign Affairs of Armenia
    role: Foreign ministry
    side: Armenia
    timezone: Asia/Yerevan
    sources:
      - telegram: armenianmfa
topics:
  - id: karabakh
    name: Nagorno-Karabakh
    terms:
      en: [Karabakh, Stepanakert]
      az: [Qarabağ*]
  - id: ceasefire
    name: Ceasefire
    terms:
      en: [ceasefire*]
channels:
  - id: forum
    chat: "@forum_watch"
    media: on
    threads:
      topics: {ceasefire: 5}
      sides: {armenia: 12, azerbaijan: 14}
      default: 1
  - id: main
    chat: "@main_watch"
"""

T0 = datetime(2020, 9, 27, 4, 0, tzinfo=UTC)


@pytest.fixture
def tg() -> Iterator[tuple[FakePreview, LocalServer]]:
    fake = FakePreview(start=T0)
    fake.add_channel("MODAzerbaijan", "Azərbaycan Respublikası Müdafiə Nazirliyi")
    fake.add_channel("armenianmfa", "MFA of Armenia")
    with LocalServer(fake.handle) as server:
        yield fake, server


def _world(tmp: Path, telegram: FakeTelegram) -> Iterator[World]:
    telegram.add_chat(FORUM, FORUM_ID, threads=TOPICS)
    feed_state = FeedServer()
    with LocalServer(feed_state.handle) as feeds, LocalServer(telegram.handle) as api:
        yield World(tmp, feeds, feed_state, telegram, api)


@pytest.fixture
def forum(tmp_path: Path) -> Iterator[World]:
    yield from _world(tmp_path, FakeTelegram(tokens={TOKEN}, chats=CHATS))


@pytest.fixture
def paced(tmp_path: Path) -> Iterator[World]:
    """A Bot API that answers 429 to a chat posted to sooner than 0.05 s per message."""
    yield from _world(tmp_path, FakeTelegram(tokens={TOKEN}, chats=CHATS, chat_interval=0.05))


def _app(world: World, server: LocalServer, db_url: str, text: str = WATCHLIST, **extra: str):
    env = {
        "WATCHPOST_DATABASE_URL": db_url,
        "WATCHPOST_TELEGRAM_PREVIEW_BASE_URL": server.url,
        "WATCHPOST_TELEGRAM_PREVIEW_INTERVAL_SECONDS": "0",
        **extra,
    }
    return world.app(text, **env)


async def _poll(app: App):
    """Time passes: every source and waiting alert is due; one poll and dispatch."""
    past = app.clock() - timedelta(seconds=1)
    with app.sessions.begin() as s:
        s.execute(update(SourceRow).values(next_poll_at=past))
        s.execute(update(AlertRow).where(AlertRow.status == "pending").values(next_attempt_at=past))
    return await run_once(app)


def _stored(app: App) -> list[tuple[str, str, str | None, int | None]]:
    with app.sessions() as s:
        rows = s.execute(
            select(
                AlertRow.channel_id, AlertRow.status, AlertRow.message_id, AlertRow.thread_id
            ).order_by(AlertRow.id)
        ).all()
    return [tuple(r) for r in rows]


async def test_topics_and_sides_go_to_their_forum_threads(
    forum: World, tg: tuple[FakePreview, LocalServer], db_url: str
) -> None:
    fake, server = tg
    async with _app(forum, server, db_url) as app:
        await run_once(app)  # first poll: the channels are primed
        fake.post("MODAzerbaijan", "Qarabağ cəbhəsində vəziyyət.")
        await _poll(app)
        fake.post("armenianmfa", "Shelling of Stepanakert continues.")
        await _poll(app)
        fake.post("armenianmfa", "We call for a ceasefire in Karabakh.")
        _, report = await _poll(app)
        assert report.failed == 0
        stored = _stored(app)
    in_forum = forum.telegram.messages(FORUM)
    assert [(m.text.split(" — ")[0], m.thread_id) for m in in_forum] == [
        ("🗣 Ministry of Defence of Azerbaijan", 14),
        ("🗣 Ministry of Foreign Affairs of Armenia", 12),
        ("🗣 Ministry of Foreign Affairs of Armenia", 5),  # a topic's thread before the side's
    ]
    # A channel without threads posts as before: no message_thread_id at all.
    main = forum.telegram.messages("@main_watch")
    assert len(main) == 3 and all(m.thread_id is None for m in main)
    to_main = [
        c for c in forum.telegram.calls("sendMessage") if c.params.get("chat_id") == "@main_watch"
    ]
    assert to_main and all("message_thread_id" not in c.params for c in to_main)
    # The thread is kept with the alert, for its follow-ups.
    assert [t for ch, _, _, t in stored if ch == "forum"] == [14, 12, 5]


async def test_a_follow_up_goes_to_its_originals_thread_even_after_a_reload(
    forum: World, tg: tuple[FakePreview, LocalServer], db_url: str
) -> None:
    fake, server = tg
    async with _app(forum, server, db_url) as app:
        await run_once(app)
        number = fake.post("armenianmfa", "Shelling of Stepanakert continues.")
        await _poll(app)
        (original,) = forum.telegram.messages(FORUM)
        assert original.thread_id == 12
        # The operator moves Armenia to another topic; what was said before stays where it is.
        moved = WATCHLIST.replace("armenia: 12", "armenia: 1")
        wl = parse_watchlist(moved, path="test.yaml")
        app.dispatcher.replace_watchlist(wl)
        fake.edit("armenianmfa", number, "Shelling of Stepanakert continues tonight.")
        _, report = await _poll(app)
        assert report.sent >= 1
    follow_up = forum.telegram.messages(FORUM)[-1]
    assert follow_up is not original and follow_up.reply_to == original.message_id
    assert follow_up.thread_id == 12


async def test_a_photo_with_a_long_caption_is_cut_and_the_rest_answers_it(
    forum: World, tg: tuple[FakePreview, LocalServer], db_url: str
) -> None:
    fake, server = tg
    sentences = [f"Sentence {i} on the shelling of Stepanakert & <its> people." for i in range(18)]
    text = " ".join(sentences)
    assert len(text) > 1024
    async with _app(forum, server, db_url) as app:
        await run_once(app)
        number = fake.post("armenianmfa", text, media="photo")
        _, report = await _poll(app)
        assert report.failed == 0
        stored = _stored(app)
    photo, rest = forum.telegram.messages(FORUM)
    assert photo.photo == f"{CDN}p{number}.jpg" and photo.thread_id == 12
    assert utf16_len(photo.text) <= 1024 and photo.parse_mode == "HTML"
    parse_tg_html(photo.html)  # both halves are valid Telegram HTML
    parse_tg_html(rest.html)
    assert rest.photo is None and rest.reply_to == photo.message_id and rest.thread_id == 12
    whole = " ".join((photo.text + " " + rest.text).split())
    assert all(s in whole for s in sentences)  # nothing of the statement is lost in the cut
    assert "…" not in whole  # (the renderer did not cut it: the caption did)
    # The alert's message is the photo: follow-ups answer it.
    assert ("forum", "sent", str(photo.message_id), 12) in stored
    # The channel without media has the same alert as text.
    (plain,) = forum.telegram.messages("@main_watch")
    assert plain.photo is None and "Sentence 17" in plain.text


async def test_an_album_of_twelve_sends_ten_and_paces_each_photo(
    paced: World, tg: tuple[FakePreview, LocalServer], db_url: str
) -> None:
    fake, server = tg
    # The worker's pace is a little slower than the fake's limit: a request's latency must not
    # make a message on time by the worker's clock early by the fake's.
    async with _app(paced, server, db_url, WATCHPOST_TELEGRAM_CHAT_INTERVAL_SECONDS="0.06") as app:
        await run_once(app)
        number = fake.post("MODAzerbaijan", "Qarabağ: albom.", album=12)
        fake.post("MODAzerbaijan", "Qarabağ: after the album.")
        _, report = await _poll(app)
        assert (report.sent, report.retried, report.failed) == (4, 0, 0)
        stored = _stored(app)
    calls = paced.telegram.calls()
    # The next message to the forum came ten intervals after the album: never refused as too
    # early, which it would be if the album counted as one message.
    assert [c.status for c in calls if c.status != 200] == []
    album = [m for m in paced.telegram.messages(FORUM) if m.media_group_id]
    assert [m.photo for m in album] == [f"{CDN}a{number}_{i}.jpg" for i in range(10)]
    assert "Qarabağ: albom" in album[0].text and all(not m.text for m in album[1:])
    assert {m.thread_id for m in album} == {14}
    after = paced.telegram.messages(FORUM)[-1]
    assert after.photo is None and "after the album" in after.text
    # The album's first message is the alert's.
    assert ("forum", "sent", str(album[0].message_id), 14) in stored


async def test_an_unreachable_photo_becomes_a_text_alert_with_its_link(
    forum: World, tg: tuple[FakePreview, LocalServer], db_url: str
) -> None:
    fake, server = tg
    async with _app(forum, server, db_url) as app:
        await run_once(app)
        number = fake.post("armenianmfa", "Photo from Stepanakert.", media="photo")
        url = f"{CDN}p{number}.jpg"
        forum.telegram.refuse_photo(url)
        _, report = await _poll(app)
        assert (report.sent, report.failed) == (2, 0)
    refused = forum.telegram.calls("sendPhoto")
    assert [(c.status, c.description) for c in refused] == [
        (400, "Bad Request: failed to get HTTP URL content")
    ]
    (text,) = forum.telegram.messages(FORUM)
    assert text.photo is None and text.thread_id == 12
    assert "Photo from Stepanakert." in text.text
    assert any(e.type == "text_link" and e.url == url for e in text.entities)
    assert f"https://t.me/armenianmfa/{number}" in text.html


async def test_media_is_off_unless_the_channel_asks(
    forum: World, tg: tuple[FakePreview, LocalServer], db_url: str
) -> None:
    fake, server = tg
    async with _app(forum, server, db_url) as app:
        await run_once(app)
        fake.post("MODAzerbaijan", "Qarabağ: foto.", media="photo")
        fake.post("MODAzerbaijan", "Qarabağ: albom.", album=2)
        await _poll(app)
    to_main = [c for c in forum.telegram.calls() if c.params.get("chat_id") == "@main_watch"]
    assert [c.method for c in to_main] == ["sendMessage", "sendMessage"]
    assert [m.photo is not None for m in forum.telegram.messages(FORUM)] == [True, True, True]


async def test_a_refusing_forum_pauses_its_channel_for_photos_too(
    forum: World, tg: tuple[FakePreview, LocalServer], db_url: str
) -> None:
    fake, server = tg
    async with _app(forum, server, db_url) as app:
        await run_once(app)
        forum.telegram.forbid(FORUM)
        fake.post("armenianmfa", "Photo from Stepanakert.", media="photo")
        _, report = await _poll(app)
        assert report.failed == 0
        with storage.session_scope(app.sessions) as s:
            ((channel, _, reason),) = storage.paused_channels(s)
            assert storage.outbox_counts(s)["pending"] == 1
    assert channel == "forum" and "kicked" in reason
    assert [c.status for c in forum.telegram.calls("sendPhoto")] == [403]


async def test_a_topic_gone_from_the_forum_sends_to_the_general_topic(
    forum: World, tg: tuple[FakePreview, LocalServer], db_url: str
) -> None:
    fake, server = tg
    text = WATCHLIST.replace("armenia: 12", "armenia: 99")
    async with _app(forum, server, db_url, text) as app:
        await run_once(app)
        fake.post("armenianmfa", "Shelling of Stepanakert continues.")
        _, report = await _poll(app)
        assert report.failed == 0
        stored = _stored(app)
    refused = [c for c in forum.telegram.calls("sendMessage") if c.status == 400]
    assert [c.description for c in refused] == ["Bad Request: message thread not found"]
    (message,) = forum.telegram.messages(FORUM)
    assert message.thread_id is None
    assert [t for ch, _, _, t in stored if ch == "forum"] == [None]


async def test_a_repeat_of_a_photo_alert_answers_it_as_a_photo_has_no_text_to_edit(
    forum: World, tg: tuple[FakePreview, LocalServer], db_url: str
) -> None:
    """A text alert grows by an edit when another speaker repeats it; a photo's cannot (its
    text is a caption): the refused edit is answered at the next try, not retried forever."""
    fake, server = tg
    async with _app(forum, server, db_url) as app:
        await run_once(app)
        original = fake.post("armenianmfa", "Photo from Stepanakert today.", media="photo")
        await _poll(app)
        fake.post(
            "MODAzerbaijan",
            "Photo from Stepanakert today.",
            forwarded=("MFA of Armenia", f"https://t.me/armenianmfa/{original}"),
        )
        await _poll(app)  # the edit is refused
        _, report = await _poll(app)  # answered instead
        assert (report.sent, report.failed) == (1, 0)
    refused = [c for c in forum.telegram.calls("editMessageText") if c.status == 400]
    assert len(refused) == 1 and "no text" in (refused[0].description or "")
    photo, answer = forum.telegram.messages(FORUM)
    assert photo.photo is not None and not photo.edits
    assert answer.reply_to == photo.message_id and answer.thread_id == photo.thread_id == 12
    assert "Ministry of Defence of Azerbaijan" in answer.text


async def test_a_refused_caption_rest_is_tried_again_and_the_photo_is_not_sent_twice(
    forum: World, tg: tuple[FakePreview, LocalServer], db_url: str
) -> None:
    fake, server = tg
    only_forum = WATCHLIST.split("  - id: main")[0]
    text = " ".join(f"Sentence {i} on the shelling of Stepanakert." for i in range(30))
    async with _app(forum, server, db_url, only_forum) as app:
        await run_once(app)
        fake.post("armenianmfa", text, media="photo")
        # The photo is taken; the caption's rest meets a flood wait once.
        forum.telegram.fail_next(1, status=429, retry_after=1, method="sendMessage")
        _, report = await _poll(app)
        assert (report.sent, report.retried, report.failed) == (1, 0, 0)
    assert [c.status for c in forum.telegram.calls("sendPhoto")] == [200]
    assert [c.status for c in forum.telegram.calls("sendMessage")] == [429, 200]
    photo, rest = forum.telegram.messages(FORUM)
    assert rest.reply_to == photo.message_id and "Sentence 28" in rest.text
