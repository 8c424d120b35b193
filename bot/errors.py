"""Watchpost's exception tree.

::

    WatchpostError
    ├─ ConfigError(problems)            one line per problem: "FILE:LINE: field.path: message"
    ├─ StartupError                     the worker cannot start as configured: one line, exit 2
    ├─ SourceError(source_key)          __cause__ is the library's exception
    │  ├─ SourceUnavailable(retry_after)   429, 5xx, timeouts, resets: back off, keep state
    │  │  └─ SourceHeld                    our own budget holds the request: wait, no failure
    │  ├─ SourceRejected(status)           401/403/404, bad URL: back off, tell operator
    │  │  └─ SourceGone                    410: no longer polled, tell operator
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
from enum import StrEnum

from bot.model import NO_COST, Cost

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "DeliveryError",
    "DeliveryRejected",
    "DeliveryRetryLater",
    "FeedParseError",
    "SourceError",
    "SourceGone",
    "SourceHeld",
    "SourceProblem",
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


class SourceProblem(StrEnum):
    """Why a source failed, for code to decide on (never match the message text)."""

    AUTH = "auth"  #: the API refused our credentials (401)
    FORBIDDEN = "forbidden"  #: the API refuses this app or request (403)
    NOT_FOUND = "not_found"  #: the account or resource does not exist (any more)
    SUSPENDED = "suspended"  #: the platform suspended the account
    PROTECTED = "protected"  #: the account's posts are visible to followers only
    BAD_REQUEST = "bad_request"  #: the API refused the request's parameters (400)
    SINCE_ID_TOO_OLD = "since_id_too_old"  #: recent search reaches back 7 days only
    USAGE_CAP = "usage_cap"  #: the plan's monthly cap is used up (X's UsageCapExceeded)
    RATE_LIMITED = "rate_limited"  #: a per-window request limit (429)
    SERVER = "server"  #: 5xx
    UNREACHABLE = "unreachable"  #: network, timeout, reset
    #: the page is there but holds nothing we can read: its layout changed (issue 11: the
    #: operator is told at once, not after hours of failures)
    LAYOUT_CHANGED = "layout_changed"


class SourceError(WatchpostError):
    """Polling one source failed; the others go on."""

    def __init__(
        self,
        source_key: str,
        message: str = "",
        *,
        problem: SourceProblem | None = None,
        cost: Cost = NO_COST,
    ) -> None:
        self.source_key = source_key
        self.message = message
        #: what went wrong, as a value (None: not classified)
        self.problem = problem
        #: what the failed attempt still cost on a metered API (requests made, posts read)
        self.cost = cost
        super().__init__(f"{source_key}: {message}" if message else source_key)

    @property
    def requests(self) -> int:
        return self.cost.requests

    @property
    def reads(self) -> int:
        return self.cost.reads


class SourceUnavailable(SourceError):
    """A passing failure (429, 5xx, timeout, reset): retry later, not before `retry_after`."""

    def __init__(
        self,
        source_key: str,
        message: str = "",
        *,
        retry_after: float | None = None,
        problem: SourceProblem | None = None,
        cost: Cost = NO_COST,
    ):
        super().__init__(source_key, message, problem=problem, cost=cost)
        self.retry_after = retry_after


class SourceHeld(SourceUnavailable):
    """Our own budget holds the request back: not the source's failure, no backoff."""


class SourceRejected(SourceError):
    """The source refuses us or does not exist (401/403/404): the operator must look.

    `status` is the HTTP status when there was one (a 404 backs off like any failure; a 401 or
    403 waits longer: retrying soon will not change the answer).
    """

    def __init__(
        self,
        source_key: str,
        message: str = "",
        *,
        status: int | None = None,
        problem: SourceProblem | None = None,
        cost: Cost = NO_COST,
    ):
        super().__init__(source_key, message, problem=problem, cost=cost)
        self.status = status


class SourceGone(SourceRejected):
    """The source says it is gone for good (HTTP 410): it is no longer polled."""


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
    ``media_refused`` when Telegram could not take a photo (too big, unreachable): the alert goes
    as text with the link instead. ``thread_refused`` when the forum topic is gone.
    """

    def __init__(
        self,
        channel_id: str,
        message: str = "",
        *,
        new_chat: str | None = None,
        chat_refused: bool = False,
        media_refused: bool = False,
        thread_refused: bool = False,
    ):
        super().__init__(channel_id, message)
        self.new_chat = new_chat
        self.chat_refused = chat_refused
        self.media_refused = media_refused
        self.thread_refused = thread_refused


class StorageError(WatchpostError):
    """The database could not be reached or written; nothing stored is lost."""
