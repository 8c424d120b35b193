"""`TelegramSender` through python-telegram-bot against the fake Bot API on 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.console import ConsoleSender
from bot.errors import DeliveryRejected
from bot.fakes.http import LocalServer
from bot.fakes.telegram_api import FakeTelegram
from bot.senders import TelegramSender

TOKEN = "123:ABC"
CHANNEL = "@example_channel"
CATALOG = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "corpus"
    / "telegram"
    / "tdlib-telegram-bot-api"
    / "error_catalog.tsv"
)


@pytest.fixture
def fake() -> FakeTelegram:
    return FakeTelegram(tokens={TOKEN}, chats={CHANNEL: -1001234567890})


@pytest.fixture
def server(fake: FakeTelegram) -> Iterator[LocalServer]:
    with LocalServer(fake.handle) as srv:
        yield srv


@pytest.fixture
async def sender(server: LocalServer) -> AsyncIterator[TelegramSender]:
    s = TelegramSender(TOKEN, api_root=server.url, timeout=5)
    await s.start()
    yield s
    await s.stop()


async def test_unchanged_edit_is_success_logged_once(
    sender: TelegramSender, fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    message_id = await sender.send("main", CHANNEL, "<b>Karabakh</b> statement")
    await sender.edit("main", CHANNEL, message_id, "<b>Karabakh</b> statement, also by X")
    caplog.set_level(logging.INFO, logger="watchpost.telegram")
    # The same text again: Telegram answers 400 "message is not modified"; the edit is done.
    await sender.edit("main", CHANNEL, message_id, "<b>Karabakh</b> statement, also by X")
    (call,) = [c for c in fake.calls("editMessageText") if c.status == 400]
    assert call.description is not None and call.description.startswith(
        "Bad Request: message is not modified"
    )
    unchanged = [r for r in caplog.records if "edit unchanged" in r.getMessage()]
    assert len(unchanged) == 1 and f"message_id={message_id}" in unchanged[0].getMessage()
    assert len(fake.messages()[0].edits) == 1


async def test_other_edit_refusals_still_fail(sender: TelegramSender) -> None:
    with pytest.raises(DeliveryRejected, match=r"(?i)message to edit not found"):
        await sender.edit("main", CHANNEL, "999", "text")


def test_fake_answers_not_modified_in_telegrams_words() -> None:
    """The fake's description is the Bot API server's own (tdlib/telegram-bot-api Client.cpp)."""
    if not CATALOG.exists():
        pytest.skip("../shared/corpus is absent")
    from bot.fakes import telegram_api

    rows = [line.split("\t") for line in CATALOG.read_text(encoding="utf-8").splitlines()]
    (row,) = [r for r in rows if "MESSAGE_NOT_MODIFIED" in r[2]]
    assert (row[0], row[1]) == ("400", telegram_api._NOT_MODIFIED)


def test_senders_say_whether_they_deliver() -> None:
    assert TelegramSender.delivers is True
    assert ConsoleSender.delivers is False


async def test_a_message_telegram_finds_too_long_is_sent_in_parts(
    sender: TelegramSender, fake: FakeTelegram
) -> None:
    """Issue 11: "message is too long" failed the alert; it is split instead."""
    lines = [f"Line {n}: the statement goes on and on about the ceasefire." for n in range(150)]
    html = "<b>Speaker</b>\n" + "\n".join(lines)
    first = await sender.send("main", CHANNEL, html)
    sent = fake.messages()
    assert len(sent) >= 2 and str(sent[0].message_id) == first
    joined = "".join(m.text + "\n" for m in sent)
    assert all(line in joined for line in lines)
    assert all(len(m.text.encode("utf-16-le")) // 2 <= 4096 for m in sent)
