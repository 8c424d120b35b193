"""The seams between use cases and the world, as Protocols. Adapters satisfy them structurally."""

from __future__ import annotations

from typing import Protocol

from bot.model import FetchResult, SourceForPoll

__all__ = ["Fetcher", "Sender"]


class Fetcher(Protocol):
    """Fetches one source: statements since the cursor, and the next cursor."""

    async def fetch(self, source: SourceForPoll) -> FetchResult:
        """Fetch new items of `source`.

        Raises:
            SourceUnavailable: a passing failure; retry after `retry_after` if set.
            SourceRejected: the source refuses us or does not exist.
            FeedParseError: the body could not be read as a feed.
        """
        ...


class Sender(Protocol):
    """Sends one rendered alert to one chat."""

    async def send(self, channel_id: str, chat: str, html: str, *, silent: bool = False) -> str:
        """Send `html` (Telegram HTML) to `chat`; return the message id as text.

        Raises:
            DeliveryRetryLater: wait `retry_after` seconds (if set) and retry.
            DeliveryRejected: the message or chat is refused for good (see `new_chat`).
        """
        ...
