"""The fake Telegram Bot API, driven by the real python-telegram-bot client (and raw httpx)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from telegram import Bot, InputMediaPhoto, LinkPreviewOptions, MessageEntity
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)

from bot.fakes.http import LocalServer
from bot.fakes.telegram_api import FakeTelegram

TOKEN = "123:ABC"
CHANNEL = "@example_channel"
CHANNEL_ID = -1001234567890
CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "telegram"


@pytest.fixture(autouse=True)
def _timedelta_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    # PTB 22 warns about int retry_after unless told to use timedelta.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
def fake() -> FakeTelegram:
    return FakeTelegram(tokens={TOKEN}, chats={CHANNEL: CHANNEL_ID}, clock=lambda: 1_600_000_000)


@pytest.fixture
def server(fake: FakeTelegram) -> Iterator[LocalServer]:
    with LocalServer(fake.handle) as running:
        yield running


@pytest.fixture
async def bot(server: LocalServer) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=f"{server.url}/bot") as client:
        yield client


async def test_get_me_on_initialize(bot: Bot, fake: FakeTelegram) -> None:
    assert bot.id == 123
    assert bot.username == "watchpost_test_bot"
    assert [c.method for c in fake.calls()] == ["getMe"]


async def test_send_html_gives_a_real_message(bot: Bot, fake: FakeTelegram) -> None:
    html = '<b>MFA</b>: statement on <a href="https://mfa.example/1">the corridor</a> &amp; more'
    message = await bot.send_message(
        CHANNEL,
        html,
        parse_mode="HTML",
        disable_notification=True,
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )
    assert message.message_id == 1
    assert message.chat.id == CHANNEL_ID
    assert message.chat.type == "channel"
    assert message.chat.username == "example_channel"
    assert message.sender_chat is not None and message.sender_chat.id == CHANNEL_ID
    assert message.text == "MFA: statement on the corridor & more"
    assert message.date.timestamp() == 1_600_000_000
    assert message.entities == (
        MessageEntity(MessageEntity.BOLD, 0, 3),
        MessageEntity(MessageEntity.TEXT_LINK, 18, 12, url="https://mfa.example/1"),
    )

    [sent] = fake.messages(CHANNEL)
    assert (sent.chat, sent.chat_id, sent.message_id) == (CHANNEL, CHANNEL_ID, 1)
    assert sent.html == html
    assert sent.text == message.text
    assert sent.parse_mode == "HTML"
    assert sent.disable_notification is True
    assert sent.link_preview_disabled is True
    assert sent.reply_to is None


async def test_message_ids_increase_per_chat(bot: Bot, fake: FakeTelegram) -> None:
    fake.add_chat("@other", -1009, title="Other")
    ids = [
        (await bot.send_message(chat, "x")).message_id
        for chat in (CHANNEL, CHANNEL, "@other", CHANNEL_ID, -1009)
    ]
    assert ids == [1, 2, 1, 3, 2]
    assert len(fake.messages(CHANNEL)) == 3  # by key, id or username alike
    assert [m.chat for m in fake.messages(-1009)] == ["@other", "-1009"]


async def test_reply_by_id_and_by_parameters(bot: Bot, fake: FakeTelegram) -> None:
    first = await bot.send_message(CHANNEL, "first")
    reply = await bot.send_message(CHANNEL, "second", reply_to_message_id=first.message_id)
    assert reply.reply_to_message is not None
    assert reply.reply_to_message.text == "first"
    assert fake.messages()[-1].reply_to == first.message_id
    with pytest.raises(BadRequest, match=r"(?i)message to be replied not found"):
        await bot.send_message(CHANNEL, "third", reply_to_message_id=99)
    lenient = await bot.send_message(
        CHANNEL, "fourth", reply_to_message_id=99, allow_sending_without_reply=True
    )
    assert lenient.reply_to_message is None


async def test_edit_and_delete(bot: Bot, fake: FakeTelegram) -> None:
    sent = await bot.send_message(CHANNEL, "<i>draft</i>", parse_mode="HTML")
    edited = await bot.edit_message_text(
        "<b>final</b>", chat_id=CHANNEL, message_id=sent.message_id, parse_mode="HTML"
    )
    assert not isinstance(edited, bool)
    assert edited.text == "final"
    assert edited.edit_date is not None
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text(
            "<b>final</b>", chat_id=CHANNEL, message_id=sent.message_id, parse_mode="HTML"
        )
    [record] = fake.messages()
    assert [e.html for e in record.edits] == ["<b>final</b>"]
    assert (record.current_text, record.text) == ("final", "draft")

    assert await bot.delete_message(CHANNEL, sent.message_id) is True
    assert fake.messages()[0].deleted
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(CHANNEL, sent.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("again", chat_id=CHANNEL, message_id=sent.message_id)


@pytest.mark.parametrize(
    ("text", "parse_mode", "description"),
    [
        pytest.param(
            "<b>open",
            "HTML",
            "can't parse entities: Can't find end tag corresponding to start tag \"b\"",
            id="unclosed-tag",
        ),
        pytest.param(
            "<div>x</div>",
            "HTML",
            'can\'t parse entities: Unsupported start tag "div" at byte offset 0',
            id="unknown-tag",
        ),
        pytest.param("   ", None, "message text is empty", id="blank"),
        pytest.param("<b> </b>", "HTML", "message text is empty", id="blank-after-parsing"),
        pytest.param("x" * 4097, None, "message is too long", id="4097-chars"),
        pytest.param("😀" * 2049, None, "message is too long", id="4098-utf16-units"),
        # The fake speaks HTML only; the project sends nothing else.
        pytest.param("*x*", "MarkdownV2", "unsupported parse_mode", id="markdown"),
    ],
)
def test_bad_text_is_refused(
    server: LocalServer, fake: FakeTelegram, text: str, parse_mode: str | None, description: str
) -> None:
    data = {"chat_id": CHANNEL, "text": text}
    if parse_mode:
        data["parse_mode"] = parse_mode
    response = httpx.post(f"{server.url}/bot{TOKEN}/sendMessage", data=data)
    assert response.status_code == 400
    assert response.json() == {
        "ok": False,
        "error_code": 400,
        "description": f"Bad Request: {description}",
    }
    assert fake.messages() == []


async def test_bad_html_is_bad_request(bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)^can't parse entities: unmatched end tag"):
        await bot.send_message(CHANNEL, "<b>x</i>", parse_mode="HTML")


async def test_length_counts_after_entity_parsing(bot: Bot) -> None:
    # 4096 characters of text wrapped in markup: the tags do not count.
    message = await bot.send_message(CHANNEL, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    assert len(message.text or "") == 4096


async def test_unknown_chat(bot: Bot) -> None:
    # PTB drops the "Bad Request: " prefix and str.capitalize()s what is left.
    with pytest.raises(BadRequest, match=r"^Chat not found$"):
        await bot.send_message("@nobody", "x")
    with pytest.raises(BadRequest, match=r"^Chat not found$"):
        await bot.send_message(-100777, "x")


async def test_bad_token_is_invalid_token(server: LocalServer) -> None:
    bot = Bot("999:WRONG", base_url=f"{server.url}/bot")
    with pytest.raises(InvalidToken, match="Unauthorized"):
        await bot.get_me()


async def test_flood_wait_is_retry_after(bot: Bot, fake: FakeTelegram) -> None:
    fake.fail_next(2, status=429, retry_after=7)
    for _ in range(2):
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(CHANNEL, "x")
        assert caught.value.retry_after == timedelta(seconds=7)
    assert (await bot.send_message(CHANNEL, "x")).message_id == 1


async def test_server_errors_are_network_errors(bot: Bot, fake: FakeTelegram) -> None:
    fake.fail_next(1, status=500)
    fake.fail_next(1, status=502)
    with pytest.raises(NetworkError, match="Internal Server Error"):
        await bot.send_message(CHANNEL, "x")
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(CHANNEL, "x")
    assert fake.messages() == []


async def test_injected_failure_can_target_one_method(bot: Bot, fake: FakeTelegram) -> None:
    fake.fail_next(1, status=429, retry_after=1, method="deleteMessage")
    sent = await bot.send_message(CHANNEL, "x")
    with pytest.raises(RetryAfter):
        await bot.delete_message(CHANNEL, sent.message_id)
    assert await bot.delete_message(CHANNEL, sent.message_id)


async def test_migrated_group_is_chat_migrated(bot: Bot, fake: FakeTelegram) -> None:
    fake.add_chat("Ops group", -4242, type="group")
    fake.migrate(-4242, -1004242)
    with pytest.raises(ChatMigrated) as caught:
        await bot.send_message(-4242, "x")
    assert caught.value.new_chat_id == -1004242
    moved = await bot.send_message(caught.value.new_chat_id, "x")
    assert moved.chat.type == "supergroup"


async def test_kicked_bot_is_forbidden(bot: Bot, fake: FakeTelegram) -> None:
    fake.forbid(CHANNEL)
    with pytest.raises(Forbidden, match=r"(?i)bot was kicked from the channel chat"):
        await bot.send_message(CHANNEL, "x")
    fake.forbid(CHANNEL, False)
    assert (await bot.send_message(CHANNEL, "x")).message_id == 1


# --- the wire, checked without PTB ----------------------------------------------------------


def test_envelopes_match_the_official_server(server: LocalServer, fake: FakeTelegram) -> None:
    fake.fail_next(1, status=429, retry_after=3)
    with httpx.Client(base_url=server.url) as client:
        flood = client.post(f"/bot{TOKEN}/sendMessage", data={"chat_id": CHANNEL, "text": "x"})
        unknown = client.post(f"/bot{TOKEN}/noSuchMethod")
        malformed = client.post("/botnot-a-token/getMe")
        migrated_group = client.get(f"/bot{TOKEN}/getme")  # names are case-insensitive
    assert flood.status_code == 429
    assert flood.headers["retry-after"] == "3"
    assert flood.headers["content-type"] == "application/json"
    assert flood.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }
    assert (unknown.status_code, unknown.json()["description"]) == (
        404,
        "Not Found: method not found",
    )
    assert malformed.json() == {
        "ok": False,
        "error_code": 401,
        "description": "Unauthorized: invalid token specified",
    }
    assert migrated_group.json()["ok"] is True


def test_json_and_multipart_bodies_are_read(server: LocalServer, fake: FakeTelegram) -> None:
    url = f"{server.url}/bot{TOKEN}/sendMessage"
    as_json = httpx.post(
        url, json={"chat_id": CHANNEL_ID, "text": "a", "disable_notification": True}
    )
    multipart = httpx.post(url, files={"chat_id": (None, CHANNEL), "text": (None, "b")})
    assert as_json.json()["result"]["text"] == "a"
    assert multipart.json()["result"]["text"] == "b"
    assert [(m.chat, m.disable_notification) for m in fake.messages()] == [
        (str(CHANNEL_ID), True),
        (CHANNEL, False),
    ]


@pytest.mark.corpus
def test_error_descriptions_are_in_the_official_catalog(server: LocalServer) -> None:
    catalog = CORPUS / "tdlib-telegram-bot-api" / "error_catalog.tsv"
    if not catalog.exists():
        pytest.skip("shared corpus absent")
    known = {line.split("\t")[1] for line in catalog.read_text().splitlines()[1:]}
    fake = FakeTelegram(tokens={TOKEN}, chats={CHANNEL: CHANNEL_ID})
    fake.add_chat("@kicked", -1002)
    fake.forbid("@kicked")
    fake.add_chat("Group", -3, type="group")
    fake.migrate(-3, -1003)
    with LocalServer(fake.handle) as local, httpx.Client(base_url=local.url) as client:
        send = f"/bot{TOKEN}/sendMessage"
        bodies = [
            client.post(send, data={"chat_id": "@nobody", "text": "x"}),
            client.post(send, data={"chat_id": "@kicked", "text": "x"}),
            client.post(send, data={"chat_id": "-3", "text": "x"}),
            client.post(send, data={"chat_id": CHANNEL, "text": ""}),
            client.post(send, data={"chat_id": CHANNEL, "text": "x", "parse_mode": "Markdown"}),
            client.post(f"/bot{TOKEN}/noSuchMethod"),
            client.post("/botbad/getMe"),
        ]
    descriptions = [json.loads(r.content)["description"] for r in bodies]
    assert set(descriptions) <= known, set(descriptions) - known
    shapes = json.loads((CORPUS / "tdlib-telegram-bot-api" / "envelope_shapes.json").read_text())
    assert list(json.loads(bodies[2].content)) == list(shapes["group_migrated"]["body"])


async def test_a_paced_chat_answers_429_to_a_post_that_comes_too_soon() -> None:
    now = [100.0]
    paced = FakeTelegram(
        tokens={TOKEN},
        chats={CHANNEL: CHANNEL_ID},
        chat_interval=3.0,
        monotonic=lambda: now[0],
    )
    with LocalServer(paced.handle) as running:
        async with Bot(TOKEN, base_url=f"{running.url}/bot") as client:
            first = await client.send_message(CHANNEL, "one")
            now[0] += 1.0
            with pytest.raises(RetryAfter) as caught:
                await client.send_message(CHANNEL, "two")
            assert caught.value.retry_after == timedelta(seconds=2)
            with pytest.raises(RetryAfter):  # an edit is a post too
                await client.edit_message_text("uno", CHANNEL, first.message_id)
            now[0] += 2.0  # exactly the interval after the first: on time
            await client.send_message(CHANNEL, "two")
    assert [m.text for m in paced.messages()] == ["one", "two"]


# --- photos, albums and forum topics (issue 11) ---------------------------------------------

FORUM_ID = -1001000000077
PHOTO = "https://cdn.example.org/p1.jpg"


@pytest.fixture
def forum(fake: FakeTelegram) -> int:
    fake.add_chat("Forum", FORUM_ID, threads=(1, 12))
    return FORUM_ID


async def test_send_photo_by_url_with_an_html_caption(bot: Bot, fake: FakeTelegram) -> None:
    msg = await bot.send_photo(CHANNEL, PHOTO, caption="<b>Said</b> today", parse_mode="HTML")
    assert msg.photo and msg.photo[-1].width == 1280
    assert msg.caption == "Said today" and msg.caption_entities[0].type == "bold"
    (sent,) = fake.messages(CHANNEL)
    assert (sent.photo, sent.text, sent.message_id) == (PHOTO, "Said today", msg.message_id)


async def test_a_caption_over_1024_characters_is_refused(bot: Bot, fake: FakeTelegram) -> None:
    # 1,024 characters of text after entity parsing pass; the markup does not count.
    await bot.send_photo(CHANNEL, PHOTO, caption="<b>" + "я" * 1024 + "</b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)caption is too long"):
        await bot.send_photo(CHANNEL, PHOTO, caption="x" * 1025)
    assert len(fake.messages(CHANNEL)) == 1


async def test_send_media_group_returns_one_message_per_photo(bot: Bot, fake: FakeTelegram) -> None:
    media = [
        InputMediaPhoto(f"https://cdn.example.org/{i}.jpg", caption="Album" if i == 0 else None)
        for i in range(3)
    ]
    msgs = await bot.send_media_group(CHANNEL, media)
    assert [m.message_id for m in msgs] == [1, 2, 3]
    assert msgs[0].caption == "Album" and msgs[1].caption is None
    assert len({m.media_group_id for m in msgs}) == 1 and msgs[0].media_group_id
    with pytest.raises(BadRequest, match="2-10"):
        await bot.send_media_group(
            CHANNEL, [InputMediaPhoto(f"https://cdn.example.org/{i}.jpg") for i in range(11)]
        )


async def test_a_refused_photo_url_answers_as_telegram_does(bot: Bot, fake: FakeTelegram) -> None:
    fake.refuse_photo(PHOTO)
    with pytest.raises(BadRequest, match=r"(?i)failed to get http url content"):
        await bot.send_photo(CHANNEL, PHOTO)
    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier/http url specified"):
        await bot.send_photo(CHANNEL, "not-a-file-id-we-issued")
    assert fake.messages() == []


async def test_threads_only_in_a_forum_and_only_known_ones(
    bot: Bot, fake: FakeTelegram, forum: int
) -> None:
    msg = await bot.send_message(forum, "in a topic", message_thread_id=12)
    assert msg.message_thread_id == 12 and msg.is_topic_message
    assert msg.chat.is_forum
    for chat, thread in ((forum, 99), (CHANNEL, 12)):
        with pytest.raises(BadRequest, match=r"(?i)message thread not found"):
            await bot.send_message(chat, "nowhere", message_thread_id=thread)
    photo = await bot.send_photo(forum, PHOTO, message_thread_id=1)
    assert photo.message_thread_id == 1
    assert [m.thread_id for m in fake.messages(forum)] == [12, 1]


async def test_a_photo_has_no_text_to_edit(bot: Bot, fake: FakeTelegram) -> None:
    msg = await bot.send_photo(CHANNEL, PHOTO, caption="c")
    with pytest.raises(BadRequest, match=r"(?i)there is no text in the message to edit"):
        await bot.edit_message_text("new", chat_id=CHANNEL, message_id=msg.message_id)


async def test_photos_answer_kicked_and_unknown_chats_like_messages(
    bot: Bot, fake: FakeTelegram
) -> None:
    fake.forbid(CHANNEL)
    with pytest.raises(Forbidden, match="bot was kicked from the channel chat"):
        await bot.send_photo(CHANNEL, PHOTO)
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_photo("@no_such_chat", PHOTO)


async def test_an_album_counts_each_photo_against_the_chats_pace() -> None:
    now = [100.0]
    fake = FakeTelegram(
        tokens={TOKEN}, chats={CHANNEL: CHANNEL_ID}, chat_interval=3.0, monotonic=lambda: now[0]
    )
    with LocalServer(fake.handle) as server:
        async with Bot(TOKEN, base_url=f"{server.url}/bot") as client:
            await client.send_media_group(
                CHANNEL, [InputMediaPhoto(f"https://cdn.example.org/{i}.jpg") for i in range(4)]
            )
            now[0] += 3.0 * 3  # three messages' time: one short of the album's four
            with pytest.raises(RetryAfter):
                await client.send_message(CHANNEL, "too soon")
            now[0] += 3.0
            await client.send_message(CHANNEL, "on time")
