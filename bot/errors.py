"""Watchpost's exception tree.

::

    WatchpostError
    ├─ ConfigError(problems)            one line per problem: "FILE:LINE: field.path: message"
    ├─ StartupError                     the worker cannot start as configured: one line, exit 2
    ├─ SourceError(source_key)          __cause__ is the library's exception
    │  ├─ SourceUnavailable(retry_after)   429, 5xx, timeouts, resets: back off, keep state
    │  │  └─ SourceHeld                    our own budget holds the request: wait, no failure
    │  ├─ SourceRejected                   401/403/404/410, bad URL: back off long, tell operator
    │  └─ FeedParseError                   hostile, oversized or garbled body
    ├─ DeliveryError(channel_id)
    │  ├─ DeliveryRetryLater(retry_after)  Telegram RetryAfter, TimedOut, NetworkError, 5xx
    │  └─ DeliveryRejected(new_chat)       Forbidden, BadRequest; ChatMigrated gives new_chat
    └─ StorageError                     database down or locked: nothing is lost, the tick retries

Adapters map foreign exceptions at one seam and chain them (``raise ... from exc``). Anything that
is not a ``WatchpostError`` is a bug: the worker logs it with a traceback and goes on.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "DeliveryError",
    "DeliveryRejected",
    "DeliveryRetryLater",
    "FeedParseError",
    "SourceError",
    "SourceHeld",
    "SourceRejected",
    "SourceUnavailable",
    "StartupError",
    "StorageError",
    "WatchpostError",
]


class WatchpostError(Exception):
    """The root of every error Watchpost raises on purpose."""


class StartupError(WatchpostError):
    """The worker must not start as configured; `str()` is the one line the operator reads."""


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One problem in an operator's file."""

    path: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class ConfigError(WatchpostError):
    """The watchlist or the settings are wrong; every problem found is listed."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in problems))


class SourceError(WatchpostError):
    """Polling one source failed; the others go on."""

    def __init__(self, source_key: str, message: str = "") -> None:
        self.source_key = source_key
        self.message = message
        #: what the failed attempt still cost on a metered API (requests made, posts read)
        self.requests = 0
        self.reads = 0
        super().__init__(f"{source_key}: {message}" if message else source_key)


class SourceUnavailable(SourceError):
    """A passing failure (429, 5xx, timeout, reset): retry later, not before `retry_after`."""

    def __init__(self, source_key: str, message: str = "", *, retry_after: float | None = None):
        super().__init__(source_key, message)
        self.retry_after = retry_after


class SourceHeld(SourceUnavailable):
    """Our own budget holds the request back: not the source's failure, no backoff."""


class SourceRejected(SourceError):
    """The source refuses us or does not exist (401/403/404/410): the operator must look."""


class FeedParseError(SourceError):
    """The body is not a feed we can read: hostile, oversized or garbled."""


class DeliveryError(WatchpostError):
    """Sending one alert to one channel failed."""

    def __init__(self, channel_id: str, message: str = "") -> None:
        self.channel_id = channel_id
        self.message = message
        super().__init__(f"{channel_id}: {message}" if message else channel_id)


class DeliveryRetryLater(DeliveryError):
    """Telegram asked us to wait, or could not be reached: keep the alert, retry later.

    ``timed_out`` when the request went out but no answer came in time: Telegram may have
    posted the message anyway.
    """

    def __init__(
        self,
        channel_id: str,
        message: str = "",
        *,
        retry_after: float | None = None,
        timed_out: bool = False,
    ):
        super().__init__(channel_id, message)
        self.retry_after = retry_after
        self.timed_out = timed_out


class DeliveryRejected(DeliveryError):
    """Telegram refused this message for good (bad request, bot not in chat).

    ``new_chat`` is set when the group became a supergroup: resend there. ``chat_refused`` when
    the chat itself refuses the bot (kicked, chat not found, no right to post): every alert of
    that channel would be refused alike, so the channel is paused and its alerts kept.
    """

    def __init__(
        self,
        channel_id: str,
        message: str = "",
        *,
        new_chat: str | None = None,
        chat_refused: bool = False,
    ):
        super().__init__(channel_id, message)
        self.new_chat = new_chat
        self.chat_refused = chat_refused


class StorageError(WatchpostError):
    """The database could not be reached or written; nothing stored is lost."""
