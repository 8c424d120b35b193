"""Feed retriever: conditional GET with timeouts, a body-size cap and bounded redirects.

Retrieval only; parsing is `bot.sources.feedparse` (pure). A 304 answer costs no parsing. The
HTTP transport is aiohttp (`bot.sources.feedhttp`, imported on the first fetch); the httpx
client made here serves the Telegram preview pages.
"""

from __future__ import annotations

import asyncio
import email.utils
import importlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bot.errors import SourceGone, SourceRejected, SourceUnavailable
from bot.model import CachingInfo, FetchResult, SourceForPoll
from bot.sources.addresses import IPAddress, chain_is_public, is_public, redirect_refusal
from bot.sources.bounds import bound_items
from bot.sources.dates import sane_dates
from bot.sources.feedparse import ParsedFeed, parse_feed
from bot.sources.inline import InlineBudget

if TYPE_CHECKING:  # imported on the first fetch: a command without feeds never loads aiohttp
    from aiohttp.abc import AbstractResolver

    from bot.sources.feedhttp import FeedHttp, Redirect

__all__ = ["ACCEPT", "FeedFetcher", "HttpLimits", "parse_retry_after"]

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.1"
)


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """Every limit the retriever enforces, from settings."""

    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 45.0
    max_body_bytes: int = 10_000_000
    max_redirects: int = 5
    max_connections: int = 32
    user_agent: str = "Watchpost/0.1"


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _parse(
    body: bytes,
    key: str,
    url: str,
    content_type: str | None,
    now: datetime,
    seen: Mapping[bytes, str],
) -> ParsedFeed:
    """The feed's items, without the settled ones (`bot.unchanged`) when that is safe."""
    parsed = parse_feed(
        body, source_key=key, url=url, content_type=content_type, fetched_at=now, skip=seen
    )
    if parsed.skipped:
        skipped_ids = {seen[d] for d in parsed.skipped}
        if any(i.external_id in skipped_ids for i in parsed.items):
            # An item read has the id of one skipped: which of them is the statement, or
            # whether both are, is for `distinct_items` and the decider to say, with both.
            parsed = parse_feed(
                body, source_key=key, url=url, content_type=content_type, fetched_at=now
            )
    return parsed


class FeedFetcher:
    """Fetches RSS, Atom and JSON Feed sources; satisfies `bot.ports.Fetcher`.

    Owns its HTTP transport, made on the first fetch (inside the running loop) and closed by
    `aclose`."""

    def __init__(
        self,
        limits: HttpLimits,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        public: Callable[[IPAddress], bool] = is_public,
        resolver: AbstractResolver | None = None,
    ) -> None:
        self._limits = limits
        self._clock = clock
        # which addresses count as public (tests call a loopback address public to stand for
        # a public feed host without any traffic leaving the machine)
        self._is_public = public
        # DNS answers for the address guard and the connections (tests inject a fake one)
        self._resolver = resolver
        self._http: FeedHttp | None = None
        self._importing: asyncio.Task[ModuleType] | None = None
        # Sources whose encoding repair was reported: a feed that double-encodes does it on
        # every poll, and one log line per source per process says it (issue 7).
        self._repair_reported: set[str] = set()
        # How much parsing the loop does itself (`bot.sources.inline`).
        self._inline = InlineBudget()

    async def _transport(self) -> FeedHttp:
        if self._http is None:
            # Imported in a thread: aiohttp's import makes its TLS contexts (the system's
            # CA certificates) and took 0.1-0.3 s, on the event loop, at the first fetch of
            # a running worker (issue 9: the loop is never held for more than 100 ms). Every
            # first fetch awaits the one import: one that imported itself meanwhile would
            # wait for the import lock on the loop.
            importing = self._importing
            if importing is None:
                importing = self._importing = asyncio.create_task(
                    asyncio.to_thread(importlib.import_module, "bot.sources.feedhttp")
                )
            await asyncio.shield(importing)
        if self._http is None:
            from bot.sources.feedhttp import FeedHttp

            lim = self._limits
            self._http = FeedHttp(
                connect_timeout=lim.connect_timeout,
                read_timeout=lim.read_timeout,
                max_body_bytes=lim.max_body_bytes,
                max_connections=lim.max_connections,
                user_agent=lim.user_agent,
                accept=ACCEPT,
                resolver=self._resolver,
                public=self._is_public,
            )
        return self._http

    async def aclose(self) -> None:
        """Close the transport's connections (a no-op when nothing was fetched)."""
        if self._http is not None:
            http, self._http = self._http, None
            await http.close()

    async def fetch(self, source: SourceForPoll) -> FetchResult:
        """GET the feed (conditionally) and parse it.

        Raises:
            SourceUnavailable: timeouts, connection errors, 429 and 5xx (with Retry-After).
            SourceRejected: 4xx other than 429, too many redirects, a bad URL.
            FeedParseError: a body over the size cap, or one that is not a feed.
        """
        key = source.key
        headers = {}
        if source.caching.etag:
            headers["If-None-Match"] = source.caching.etag
        if source.caching.last_modified:
            headers["If-Modified-Since"] = source.caching.last_modified
        try:
            async with asyncio.timeout(self._limits.total_timeout):
                status, resp_headers, body, final_url = await self._get(source, headers)
        except TimeoutError as exc:
            # the transport turns its own socket timeouts into SourceUnavailable, so this is
            # the whole fetch's bound
            raise SourceUnavailable(
                key, f"no complete answer within {self._limits.total_timeout:g}s"
            ) from exc

        now = self._clock()
        if status == 304:
            return FetchResult(items=(), not_modified=True, fetched_at=now)
        if status == 429 or status >= 500:
            raise SourceUnavailable(
                key,
                f"HTTP {status}",
                retry_after=parse_retry_after(resp_headers.get("retry-after"), now),
            )
        if status == 410:
            raise SourceGone(key, "HTTP 410 Gone: the publisher removed this feed for good")
        if status >= 400:
            raise SourceRejected(key, f"HTTP {status}", status=status)
        if status != 200:
            raise SourceUnavailable(key, f"unexpected HTTP {status}")
        args = (body, key, final_url, resp_headers.get("content-type"), now, source.seen_items)
        started = time.perf_counter()
        if self._inline.allows(len(body), started):
            # A small body, within the loop's budget: cheaper here than handed to a thread.
            try:
                parsed = _parse(*args)
            finally:  # a body that is no feed took the loop's time too
                self._inline.spent(time.perf_counter() - started)
        else:
            # In a thread: feedparser takes a while on a large feed, and the event loop must
            # keep the other polls' timers and sockets going meanwhile (their timeouts run as
            # it parses).
            parsed = await asyncio.to_thread(_parse, *args)
        unchanged = {d: source.seen_items[d] for d in parsed.skipped}
        items, date_warnings = sane_dates(parsed.items, now)
        items, size_warnings = bound_items(items)
        warnings = parsed.warnings
        if parsed.repaired and key not in self._repair_reported:
            self._repair_reported.add(key)
            warnings += (
                f"double-encoded UTF-8 repaired in {parsed.repaired} of {len(parsed.items)} "
                "items (the raw payload keeps the text as published; said once per source)",
            )
        return FetchResult(
            items=items,
            caching=CachingInfo(
                etag=resp_headers.get("etag"), last_modified=resp_headers.get("last-modified")
            ),
            fetched_at=now,
            warnings=(*warnings, *date_warnings, *size_warnings),
            unchanged=unchanged,
        )

    async def _get(
        self, source: SourceForPoll, headers: dict[str, str]
    ) -> tuple[int, Mapping[str, str], bytes, str]:
        """GET the feed, following redirects one by one through the address guard.

        Raises:
            SourceRejected: too many redirects, or one the guard refuses (issue 11).
        """
        http = await self._transport()
        from bot.sources.feedhttp import Answer  # loaded by now: `_transport` imported it

        url = source.target
        public_only = False  # once a hop came from a public address, the rest must stay public
        for _ in range(self._limits.max_redirects + 1):
            got = await http.get(source.key, url, headers, public_only=public_only)
            if isinstance(got, Answer):
                return got.status, got.headers, got.body, got.url
            refusal, public_only = await self._refusal(http, url, got, public_only)
            if refusal is not None:
                raise SourceRejected(source.key, f"{refusal}: {got.location}")
            url = got.location
        raise SourceRejected(source.key, f"more than {self._limits.max_redirects} redirects")

    async def _refusal(
        self, http: FeedHttp, from_url: str, redirect: Redirect, public_chain: bool
    ) -> tuple[str | None, bool]:
        """Why the redirect must not be followed (see `bot.sources.addresses`), or None; and
        whether the next hop must stay public."""
        target = urlsplit(redirect.location)
        if target.scheme not in ("http", "https"):
            return f"redirect to a {target.scheme or 'relative'} URL refused", public_chain
        # where the redirect came from: the address it was read from, not a second lookup
        if redirect.peer is not None:
            from_ips = [redirect.peer]
        else:
            from_ips = await http.resolve(urlsplit(from_url).hostname or "")
        to_ips = await http.resolve(target.hostname or "")
        refusal = redirect_refusal(
            from_ips, to_ips, public=self._is_public, public_chain=public_chain
        )
        return refusal, chain_is_public(public_chain, from_ips, public=self._is_public)
