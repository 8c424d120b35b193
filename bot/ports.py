"""The seams between use cases and the world, as Protocols. Adapters satisfy them structurally."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.errors import SourceError
from bot.model import FetchResult, SourceForPoll

__all__ = ["BatchFetcher", "Fetcher", "PostLookup", "Sender"]


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


class BatchFetcher(Fetcher, Protocol):
    """A fetcher that can poll many sources of its kind in one request."""

    async def fetch_many(
        self, sources: Sequence[SourceForPoll]
    ) -> dict[str, FetchResult | SourceError]:
        """Fetch every source in `sources`; per source key, its result or its error."""
        ...


class PostLookup(Protocol):
    """Asks a platform which posts still exist."""

    async def lookup(self, ids: Sequence[str]) -> tuple[set[str], int]:
        """Which of `ids` (at most 100) still exist, and how many posts the answer read.

        Raises:
            SourceError: the platform could not be asked now.
        """
        ...

    async def visible_authors(self, user_ids: Sequence[str]) -> tuple[set[str], int]:
        """Which of these accounts still show their posts (not suspended, protected or gone),
        and how many requests asking took.

        Raises:
            SourceError: the platform could not be asked now.
        """
        ...


class Sender(Protocol):
    """Sends one rendered alert to one chat."""

    #: True when an accepted message reached Telegram; False for a sender that only shows it
    #: (the console): its alerts are recorded as shown, never as sent (issue 7).
    delivers: bool

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
        """Send `html` (Telegram HTML) to `chat`, as a reply to message `reply_to` if given,
        in forum topic `thread_id` if given; return the message id as text. `patient`: the
        last try timed out, so wait much longer for the answer this time (issue 11: a slow
        Telegram got one copy per retry).

        Raises:
            DeliveryRetryLater: wait `retry_after` seconds (if set) and retry.
            DeliveryRejected: the message or chat is refused for good (see `new_chat`).
        """
        ...

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
        """Send one photo (2 to 10: an album) by URL with `caption` (Telegram HTML, at most
        1,024 characters of text) on the first; return the first message's id as text.

        Raises:
            DeliveryRetryLater: wait `retry_after` seconds (if set) and retry.
            DeliveryRejected: refused for good; `media_refused` when a photo could not be taken.
        """
        ...

    async def edit(self, channel_id: str, chat: str, message_id: str, html: str) -> None:
        """Replace the text of a message sent before (an unchanged text is no error).

        Raises:
            DeliveryRetryLater: wait `retry_after` seconds (if set) and retry.
            DeliveryRejected: the message can no longer be edited.
        """
        ...
