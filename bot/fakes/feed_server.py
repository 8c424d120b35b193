"""A fake feed host: serves feeds with real HTTP caching and gzip, and fails on request.

:class:`FeedServer` holds the feeds and the failure modes; its :meth:`FeedServer.handle` is a
handler for :class:`bot.fakes.http.LocalServer`::

    feeds = FeedServer()
    feeds.set_feed("/mfa.xml", rss_bytes)
    with LocalServer(feeds.handle) as server:
        httpx.get(f"{server.url}/mfa.xml")

What a request meets, in order: the per-path delay (:meth:`FeedServer.slow`), an injected failure
(:meth:`FeedServer.fail`), a redirect, a raw body (:meth:`FeedServer.set_raw`), a feed (ETag,
Last-Modified, ``304 Not Modified``, gzip), else 404. Every request is counted and logged.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from bot.fakes.http import Request, Response

__all__ = ["FeedServer", "RequestRecord"]

_REASONS: Mapping[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    410: "Gone",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request the feed server answered, for tests and benchmarks to inspect."""

    method: str
    path: str
    status: int
    #: Monotonic time the request arrived.
    at: float
    if_none_match: str | None
    if_modified_since: str | None
    accept_encoding: str | None
    user_agent: str | None


@dataclass(frozen=True, slots=True)
class _Feed:
    body: bytes
    gzipped: bytes
    content_type: str
    etag: str
    last_modified: datetime


@dataclass(frozen=True, slots=True)
class _Raw:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...]


@dataclass(slots=True)
class _Failure:
    status: int
    remaining: int | None
    retry_after: int | str | None
    body: bytes


def _now() -> datetime:
    return datetime.now(UTC)


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _accepts_gzip(header: str | None) -> bool:
    if not header:
        return False
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "x-gzip", "*"):
            q = params.strip().lower()
            if not q.startswith("q="):
                return True
            try:
                return float(q[2:]) > 0.0
            except ValueError:
                return False
    return False


def _etag_matches(header: str, etag: str) -> bool:
    # If-None-Match uses the weak comparison (RFC 9110 §13.1.2): W/ is ignored.
    if header.strip() == "*":
        return True
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return etag in tags


def _not_modified_since(header: str, last_modified: datetime) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False  # an unreadable date is ignored, as servers do
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return last_modified <= since


class FeedServer:
    """The state of a fake feed host and its request handler; every method is thread-safe.

    Args:
        clock: the time used for Last-Modified when :meth:`set_feed` is not given one.
        sleep: how :meth:`slow` waits (tests may pass a fake).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = _now,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._feeds: dict[str, _Feed] = {}
        self._raw: dict[str, _Raw] = {}
        self._failures: dict[str, _Failure] = {}
        self._delays: dict[str, float] = {}
        self._redirects: dict[str, tuple[str, int]] = {}
        self._hits: Counter[str] = Counter()
        self._statuses: dict[str, Counter[int]] = {}
        self._log: list[RequestRecord] = []

    # --- content -------------------------------------------------------------------------

    def set_feed(
        self,
        path: str,
        body: bytes,
        *,
        content_type: str = "application/rss+xml; charset=utf-8",
        last_modified: datetime | None = None,
    ) -> str:
        """Serve `body` at `path` with a strong ETag and a Last-Modified; returns the ETag.

        Setting the same body again keeps the old validators (a real server's file did not
        change), unless `last_modified` is given.
        """
        etag = _etag(body)
        with self._lock:
            old = self._feeds.get(path)
            if last_modified is None:
                unchanged = old is not None and old.etag == etag
                last_modified = old.last_modified if old and unchanged else self._clock()
            # HTTP dates have whole seconds; comparing finer times would never say "not modified".
            last_modified = last_modified.astimezone(UTC).replace(microsecond=0)
            self._feeds[path] = _Feed(
                body=body,
                gzipped=gzip.compress(body, mtime=0),
                content_type=content_type,
                etag=etag,
                last_modified=last_modified,
            )
            self._raw.pop(path, None)
        return etag

    def set_raw(
        self,
        path: str,
        body: bytes,
        headers: Mapping[str, str] | Sequence[tuple[str, str]] = (),
        *,
        status: int = 200,
    ) -> None:
        """Serve `body` and `headers` at `path` exactly as given: no caching, no encoding.

        For hostile bodies: huge, HTML instead of a feed, a gzip bomb (pass the compressed
        bytes and ``Content-Encoding: gzip``), wrong charset headers.
        """
        pairs = tuple(headers.items()) if isinstance(headers, Mapping) else tuple(headers)
        with self._lock:
            self._raw[path] = _Raw(status, body, pairs)
            self._feeds.pop(path, None)

    def remove(self, path: str) -> None:
        """Stop serving `path` (it answers 404 from now on)."""
        with self._lock:
            self._feeds.pop(path, None)
            self._raw.pop(path, None)
            self._redirects.pop(path, None)

    def etag(self, path: str) -> str:
        """The ETag currently served at `path`."""
        with self._lock:
            return self._feeds[path].etag

    def last_modified(self, path: str) -> datetime:
        """The Last-Modified time currently served at `path`."""
        with self._lock:
            return self._feeds[path].last_modified

    def paths(self) -> list[str]:
        """Every path that serves a feed or a raw body."""
        with self._lock:
            return sorted({*self._feeds, *self._raw})

    # --- failure modes --------------------------------------------------------------------

    def fail(
        self,
        path: str,
        status: int,
        *,
        times: int | None = None,
        retry_after: int | str | None = None,
        body: bytes | None = None,
    ) -> None:
        """Answer `status` at `path`, `times` times (None: until :meth:`heal`).

        `retry_after` (seconds, or an HTTP date) is sent as a ``Retry-After`` header.
        """
        if body is None:
            reason = _REASONS.get(status, "Error")
            body = f"<html><body><h1>{status} {reason}</h1></body></html>".encode()
        with self._lock:
            self._failures[path] = _Failure(status, times, retry_after, body)

    def slow(self, path: str, seconds: float) -> None:
        """Wait `seconds` before answering any request for `path` (0 removes the delay)."""
        with self._lock:
            if seconds > 0:
                self._delays[path] = seconds
            else:
                self._delays.pop(path, None)

    def redirect(self, path: str, to: str, status: int = 301) -> None:
        """Redirect `path` to `to` (a path or an absolute URL) with `status`."""
        with self._lock:
            self._redirects[path] = (to, status)

    def heal(self, path: str | None = None) -> None:
        """Remove failures, delays and redirects of `path`, or of every path."""
        with self._lock:
            if path is None:
                self._failures.clear()
                self._delays.clear()
                self._redirects.clear()
            else:
                self._failures.pop(path, None)
                self._delays.pop(path, None)
                self._redirects.pop(path, None)

    # --- inspection -----------------------------------------------------------------------

    def hits(self, path: str) -> int:
        """How many requests `path` received."""
        with self._lock:
            return self._hits[path]

    def status_counts(self, path: str | None = None) -> dict[int, int]:
        """How many responses of each status `path` (or the whole server) gave."""
        with self._lock:
            if path is not None:
                return dict(self._statuses.get(path, Counter()))
            total: Counter[int] = Counter()
            for counts in self._statuses.values():
                total.update(counts)
            return dict(total)

    def requests(self, path: str | None = None) -> list[RequestRecord]:
        """The request log, oldest first, for `path` or for all paths."""
        with self._lock:
            return [r for r in self._log if path is None or r.path == path]

    def reset_counters(self) -> None:
        """Forget hits, status counts and the request log (content and failures stay)."""
        with self._lock:
            self._hits.clear()
            self._statuses.clear()
            self._log.clear()

    # --- the handler ----------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer one request; use with :class:`bot.fakes.http.LocalServer`."""
        path = request.path
        with self._lock:
            delay = self._delays.get(path, 0.0)
        if delay > 0:
            self._sleep(delay)
        with self._lock:
            response = self._respond(request)
            self._record(request, response.status)
        return response

    def _respond(self, request: Request) -> Response:
        path = request.path
        failure = self._failures.get(path)
        if failure is not None:
            if failure.remaining is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    del self._failures[path]
            headers = [("Content-Type", "text/html; charset=utf-8")]
            if failure.retry_after is not None:
                headers.append(("Retry-After", str(failure.retry_after)))
            return Response(failure.status, headers, failure.body)
        redirect = self._redirects.get(path)
        if redirect is not None:
            return Response.empty(redirect[1], [("Location", redirect[0])])
        raw = self._raw.get(path)
        if raw is not None:
            return Response(raw.status, list(raw.headers), raw.body)
        feed = self._feeds.get(path)
        if feed is None:
            return Response.text("not found", 404)
        return self._serve_feed(request, feed)

    @staticmethod
    def _serve_feed(request: Request, feed: _Feed) -> Response:
        validators = [
            ("ETag", feed.etag),
            ("Last-Modified", format_datetime(feed.last_modified, usegmt=True)),
        ]
        if_none_match = request.headers.get("If-None-Match")
        if_modified_since = request.headers.get("If-Modified-Since")
        # RFC 9110 §13.2.2: If-None-Match, when present, decides alone.
        if if_none_match is not None:
            not_modified = _etag_matches(if_none_match, feed.etag)
        elif if_modified_since is not None:
            not_modified = _not_modified_since(if_modified_since, feed.last_modified)
        else:
            not_modified = False
        if not_modified:
            return Response.empty(304, validators)
        headers = [("Content-Type", feed.content_type), *validators, ("Vary", "Accept-Encoding")]
        if _accepts_gzip(request.headers.get("Accept-Encoding")):
            headers.append(("Content-Encoding", "gzip"))
            return Response(200, headers, feed.gzipped)
        return Response(200, headers, feed.body)

    def _record(self, request: Request, status: int) -> None:
        path = request.path
        self._hits[path] += 1
        self._statuses.setdefault(path, Counter())[status] += 1
        self._log.append(
            RequestRecord(
                method=request.method,
                path=path,
                status=status,
                at=time.monotonic(),
                if_none_match=request.headers.get("If-None-Match"),
                if_modified_since=request.headers.get("If-Modified-Since"),
                accept_encoding=request.headers.get("Accept-Encoding"),
                user_agent=request.headers.get("User-Agent"),
            )
        )
