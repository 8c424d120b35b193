"""The Telegram sender, through python-telegram-bot's `Bot` (the console one is `bot.console`).

Every `telegram.error` is mapped here to `DeliveryError`s that carry what the caller needs
(`retry_after`, `new_chat`). The token never appears in a message we raise or log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from telegram import Bot, InputMediaPhoto, LinkPreviewOptions, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest

from bot.errors import DeliveryRejected, DeliveryRetryLater
from bot.tghtml import html_to_plain, utf16_len

__all__ = ["TelegramSender", "retry_after_seconds", "split_text"]

log = logging.getLogger("watchpost.telegram")

# How long to hold alerts when the token itself is refused: the operator must act, and the
# alerts must wait for them rather than be dropped.
INVALID_TOKEN_WAIT = 300.0


#: how much longer a send waits for its answer after a timed-out try
PATIENT_FACTOR = 6.0

#: UTF-16 units per part when a message must be split (the Bot API takes 4096)
PART_UNITS = 4000


def split_text(text: str, limit: int) -> list[str]:
    """`text` cut into parts of at most `limit` UTF-16 units, at line ends where possible."""
    parts: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while utf16_len(line) > limit:
            cut = limit
            while utf16_len(line[:cut]) > limit:
                cut -= 1
            head, line = line[:cut], line[cut:]
            if current:
                parts.append(current)
                current = ""
            parts.append(head)
        if utf16_len(current + line) > limit:
            parts.append(current)
            current = ""
        current += line
    if current.strip():
        parts.append(current)
    return [p for p in parts if p.strip()] or [text[:limit]]


def retry_after_seconds(exc: RetryAfter) -> float:
    """`RetryAfter.retry_after` in seconds, whichever type this PTB version returns."""
    value: int | timedelta = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramSender:
    """Sends HTML messages through the Bot API at `base_url`; satisfies `bot.ports.Sender`."""

    delivers: bool = True

    def __init__(self, token: str, *, api_root: str, timeout: float = 20.0) -> None:
        self._timeout = timeout
        request = HTTPXRequest(
            connection_pool_size=8,
            connect_timeout=timeout,
            read_timeout=timeout,
            write_timeout=timeout,
            pool_timeout=timeout,
        )
        self._bot = Bot(
            token,
            base_url=f"{api_root.rstrip('/')}/bot",
            request=request,
            get_updates_request=HTTPXRequest(connection_pool_size=1),
        )

    async def start(self) -> str:
        """Check the token with getMe; returns the bot's username.

        Raises:
            DeliveryRejected: the token is refused.
            DeliveryRetryLater: the Bot API cannot be reached now.
        """
        try:
            await self._bot.initialize()
        except InvalidToken as exc:
            raise DeliveryRejected("*", "the Bot API refused TELEGRAM_BOT_TOKEN") from exc
        except TelegramError as exc:
            raise DeliveryRetryLater("*", f"Bot API unreachable: {type(exc).__name__}") from exc
        return self._bot.username

    async def stop(self) -> None:
        """Close the HTTP connections."""
        await self._bot.shutdown()

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
        """Send one HTML message (as a reply if `reply_to`, in forum topic `thread_id` if
        given); returns Telegram's message id.

        `patient` waits `PATIENT_FACTOR` times longer for the answer (after a timeout)."""
        reply = (
            ReplyParameters(message_id=int(reply_to), allow_sending_without_reply=True)
            if reply_to and reply_to.isdigit()
            else None
        )
        no_preview = LinkPreviewOptions(is_disabled=True)
        # PTB reads read_timeout=None as "no timeout": pass it only when patient.
        patience: dict[str, Any] = (
            {"read_timeout": self._timeout * PATIENT_FACTOR} if patient else {}
        )
        if thread_id is not None:
            patience["message_thread_id"] = thread_id
        with _map_errors(channel_id):
            try:
                msg = await self._bot.send_message(
                    chat_id=chat,
                    text=html,
                    parse_mode=ParseMode.HTML,
                    disable_notification=silent,
                    link_preview_options=no_preview,
                    reply_parameters=reply,
                    **patience,
                )
            except BadRequest as exc:
                if "message is too long" in exc.message.lower():
                    # issue 11: a refused length is no reason to lose the alert: send it in
                    # parts (plain text, cut at line ends), the first part carrying the id.
                    return await self._send_parts(
                        chat, html_to_plain(html), silent, reply, thread_id
                    )
                if "parse entities" not in exc.message.lower():
                    raise
                # A rendering bug must not cost the subscribers the alert: send it as plain text.
                msg = await self._bot.send_message(
                    chat_id=chat,
                    text=html_to_plain(html),
                    disable_notification=silent,
                    link_preview_options=no_preview,
                    reply_parameters=reply,
                    message_thread_id=thread_id,
                )
        return str(msg.message_id)

    async def send_photos(
        self,
        channel_id: str,
        chat: str,
        photos: Sequence[str],
        caption: str,
        *,
        silent: bool = False,
        reply_to: str | None = None,
        patient: bool = False,
        thread_id: int | None = None,
    ) -> str:
        """sendPhoto for one photo, sendMediaGroup for 2 to 10 (the caption on the first);
        returns the (first) message's id. Telegram fetches the photos from their URLs itself."""
        reply = (
            ReplyParameters(message_id=int(reply_to), allow_sending_without_reply=True)
            if reply_to and reply_to.isdigit()
            else None
        )
        extra: dict[str, Any] = {"read_timeout": self._timeout * PATIENT_FACTOR} if patient else {}
        with _map_errors(channel_id):
            if len(photos) == 1:
                msg = await self._bot.send_photo(
                    chat_id=chat,
                    photo=photos[0],
                    caption=caption,
                    parse_mode=ParseMode.HTML,
                    disable_notification=silent,
                    reply_parameters=reply,
                    message_thread_id=thread_id,
                    **extra,
                )
                return str(msg.message_id)
            media = [
                InputMediaPhoto(
                    media=url,
                    caption=caption if i == 0 else None,
                    parse_mode=ParseMode.HTML if i == 0 else None,
                )
                for i, url in enumerate(photos)
            ]
            msgs = await self._bot.send_media_group(
                chat_id=chat,
                media=media,
                disable_notification=silent,
                reply_parameters=reply,
                message_thread_id=thread_id,
                **extra,
            )
            return str(msgs[0].message_id)

    async def _send_parts(
        self,
        chat: str,
        text: str,
        silent: bool,
        reply: ReplyParameters | None,
        thread_id: int | None,
    ) -> str:
        first: str | None = None
        for part in split_text(text, PART_UNITS):
            msg = await self._bot.send_message(
                chat_id=chat,
                text=part,
                disable_notification=silent,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                reply_parameters=reply,
                message_thread_id=thread_id,
            )
            first = first or str(msg.message_id)
        return first or ""

    async def edit(self, channel_id: str, chat: str, message_id: str, html: str) -> None:
        """Replace a sent message's text; "message is not modified" counts as done."""
        with _map_errors(channel_id):
            try:
                await self._bot.edit_message_text(
                    text=html,
                    chat_id=chat,
                    message_id=int(message_id),
                    parse_mode=ParseMode.HTML,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
            except BadRequest as exc:
                if "message is not modified" not in exc.message.lower():
                    raise
                # The Bot API's 400 for an edit that changes nothing: the message already says
                # what we wanted, so the edit is done (issue 7).
                log.info(
                    "edit unchanged channel=%s message_id=%s: Telegram has this text already",
                    channel_id,
                    message_id,
                )


@contextmanager
def _map_errors(channel_id: str) -> Iterator[None]:
    """Every `telegram.error` as the `DeliveryError` the dispatcher acts on."""
    try:
        yield
    except RetryAfter as exc:
        secs = retry_after_seconds(exc)
        raise DeliveryRetryLater(
            channel_id, f"flood limit: retry after {secs:g}s", retry_after=secs
        ) from exc
    except ChatMigrated as exc:
        raise DeliveryRejected(
            channel_id, "chat migrated to a supergroup", new_chat=str(exc.new_chat_id)
        ) from exc
    except InvalidToken as exc:
        raise DeliveryRetryLater(
            channel_id, "the Bot API refused TELEGRAM_BOT_TOKEN", retry_after=INVALID_TOKEN_WAIT
        ) from exc
    except (Forbidden, BadRequest) as exc:
        text = exc.message.lower()
        raise DeliveryRejected(
            channel_id,
            f"{type(exc).__name__}: {exc.message}",
            chat_refused=_chat_refused(exc),
            media_refused=isinstance(exc, BadRequest) and any(r in text for r in _MEDIA_REFUSALS),
            thread_refused=isinstance(exc, BadRequest) and "message thread not found" in text,
        ) from exc
    except TimedOut as exc:
        raise DeliveryRetryLater(
            channel_id, f"{type(exc).__name__}: {exc.message}", timed_out=True
        ) from exc
    except TelegramError as exc:  # NetworkError and whatever else is passing
        raise DeliveryRetryLater(channel_id, f"{type(exc).__name__}: {exc.message}") from exc


# Bot API descriptions of a chat that refuses the bot itself (tdlib telegram-bot-api
# Client.cpp, in ../shared/corpus/telegram): every message to it would be refused alike.
_CHAT_REFUSALS = (
    "chat not found",
    "bot was kicked",
    "bot is not a member",
    "bot was blocked",
    "not enough rights",
    "have no rights to send",
    "need administrator rights",
    "chat_write_forbidden",
    "group chat was deactivated",
    "user is deactivated",
)


# Bot API descriptions of a photo Telegram could not take by its URL (too big, not an image,
# unreachable): the alert still goes, as text with the link (issue 11).
_MEDIA_REFUSALS = (
    "wrong file identifier/http url specified",
    "failed to get http url content",
    "wrong type of the web page content",
    "photo_invalid_dimensions",
    "image_process_failed",
    "file is too big",
    "wrong http url specified",
    "can't upload file by url",
)


def _chat_refused(exc: TelegramError) -> bool:
    """Whether a 400/403 refuses the chat (pause the channel), not just this message."""
    text = exc.message.lower()
    return isinstance(exc, Forbidden) or any(r in text for r in _CHAT_REFUSALS)
