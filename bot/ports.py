"""The seams between use cases and the world, as Protocols. Adapters satisfy them structurally."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Protocol

from bot.context import Around
from bot.errors import SourceError
from bot.ingest import Intent, Known, KnownItems
from bot.model import (
    AlertForDelivery,
    CachingInfo,
    FetchResult,
    SourceForPoll,
    StatementToStore,
    StoredStatement,
    StoreResult,
)

__all__ = [
    "BatchFetcher",
    "Fetcher",
    "Outbox",
    "PollStore",
    "PollUnit",
    "PostLookup",
    "Sender",
]


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


class PollUnit(Protocol):
    """One transaction of the poller (issue 9): what a poll reads and writes, all or nothing."""

    def claim_sources(
        self,
        now: datetime,
        *,
        limit: int,
        lease: timedelta,
        owner: str,
        due_only: bool = True,
        after_key: str | None = None,
        due_by: datetime | None = None,
    ) -> list[SourceForPoll]:
        """Lease up to `limit` sources (due ones, or all after `after_key` in key order); with
        `due_by`, those due by then count as due."""
        ...

    def release_sources(self, owner: str, keys: Sequence[str] | None = None) -> int:
        """Give back the leases `owner` holds (on `keys` only, if given); returns how many."""
        ...

    def known_items(self, source_key: str, external_ids: Sequence[str]) -> KnownItems:
        """What the source gave before among these ids (read once per poll)."""
        ...

    def lookup_known(self, mine: KnownItems, statements: Sequence[StatementToStore]) -> Known:
        """What bears on these statements besides the source's own rows (`bot.ingest`)."""
        ...

    def apply_intents(
        self, source_id: int, intents: Sequence[Intent], *, now: datetime
    ) -> StoreResult:
        """Store what the decider decided: statements, versions, matches, outbox rows."""
        ...

    def posts_since(self, source_key: str, *, since: datetime) -> list[tuple[int, str]]:
        """(id, external id) of the source's statements since `since` not known deleted."""
        ...

    def record_deleted(self, statement_id: int, *, now: datetime) -> int:
        """Mark a statement deleted at its source; returns the follow-up alerts enqueued."""
        ...

    def load_statements(self, ids: Sequence[int]) -> list[StoredStatement]:
        """Stored statements by id (what a dry run shows)."""
        ...

    def record_poll_success(
        self,
        key: str,
        *,
        caching: CachingInfo | None,
        cursor: str | None,
        now: datetime,
        next_poll_at: datetime,
        remote_id: str | None = None,
        settled: bytes | None = None,
    ) -> None:
        """The poll worked: new caching state and cursor, next poll, lease released; with new
        caching, the items the poll settled (`bot.unchanged`) replace the stored ones."""
        ...

    def record_not_modified(self, polled: Sequence[tuple[str, datetime]], *, now: datetime) -> None:
        """Many 304s at once: (source key, next poll) each, leases released."""
        ...

    def record_poll_failure(
        self, key: str, *, error: str, next_poll_at: datetime, problem: str | None = None
    ) -> int:
        """The poll failed: count it, say why (`problem`: a `SourceProblem` value, when
        classified), back off; returns the failures in a row."""
        ...

    def record_source_gone(self, key: str, *, error: str, now: datetime) -> None:
        """The publisher said the source is gone for good (410): no longer polled."""
        ...

    def postpone_source(self, key: str, *, next_poll_at: datetime) -> None:
        """Not polled now (our own budget said wait): no failure counted."""
        ...

    def record_usage(self, api: str, now: datetime, *, requests: int, reads: int) -> None:
        """Add to this month's counters of a metered API."""
        ...


class PollStore(Protocol):
    """Where the poller keeps sources, statements and their alerts."""

    def unit(self) -> AbstractContextManager[PollUnit]:
        """One transaction: committed when the block ends (rolled back on an error, or always
        in a dry run).

        Raises:
            StorageError: the database could not be reached; nothing was written.
        """
        ...


class Outbox(Protocol):
    """What the dispatcher needs of the outbox. Each call is one transaction.

    Raises (every method):
        StorageError: the database could not be reached; nothing was written.
    """

    def claim(
        self, now: datetime, *, limit: int, lease: timedelta, owner: str | None
    ) -> list[AlertForDelivery]:
        """Lease up to `limit` due alerts, oldest first, each channel in order."""
        ...

    def last_sent(self) -> dict[str, datetime]:
        """When each chat last had a message from us (any worker, any run)."""
        ...

    def load_around(
        self, alerts: Sequence[AlertForDelivery], *, window: timedelta
    ) -> dict[int, Around]:
        """The context of each alert (alert id → `Around`), read at once for the tick."""
        ...

    def mark_sent(
        self,
        alert_ids: Sequence[int],
        *,
        message_id: str | None,
        now: datetime,
        thread_id: int | None = None,
    ) -> None:
        """Telegram confirmed the message carrying these alerts (in forum topic `thread_id`,
        where their follow-ups go)."""
        ...

    def mark_shown(self, alert_ids: Sequence[int], *, now: datetime) -> None:
        """Printed on the console: done, never counted as sent."""
        ...

    def mark_retry(self, alert_id: int, *, error: str, next_attempt_at: datetime) -> None:
        """Not delivered now: try again at `next_attempt_at`."""
        ...

    def mark_failed(self, alert_id: int, *, error: str, now: datetime) -> None:
        """Refused for good: kept for the operator to see."""
        ...

    def release(self, alert_ids: Sequence[int]) -> None:
        """Give claimed alerts back without counting an attempt."""
        ...

    def pause_channel(
        self, channel_id: str, *, reason: str, now: datetime, release: Sequence[int]
    ) -> None:
        """The chat refuses the bot: hold the channel's alerts, and give back `release`."""
        ...

    def set_channel_chat(self, channel_id: str, chat: str) -> None:
        """Telegram moved the chat: send there from now on."""
        ...
