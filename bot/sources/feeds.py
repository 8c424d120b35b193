"""Feed retriever: conditional GET over httpx with timeouts, a body-size cap and bounded redirects.

Retrieval only; parsing is `bot.sources.feedparse` (pure). A 304 answer costs no parsing.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from bot.errors import FeedParseError, SourceGone, SourceRejected, SourceUnavailable
from bot.model import CachingInfo, FetchResult, SourceForPoll
from bot.sources.addresses import IPAddress, is_public, redirect_refusal
from bot.sources.bounds import bound_items
from bot.sources.dates import sane_dates
from bot.sources.decoding import ACCEPT_ENCODING, BodyTooLarge, CappedDecoder
from bot.sources.feedparse import parse_feed

__all__ = ["FeedFetcher", "HttpLimits", "make_http_client", "parse_retry_after"]

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


def make_http_client(limits: HttpLimits) -> httpx.AsyncClient:
    """One shared client: connection reuse across feeds of one host, bounded pool."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            connect=limits.connect_timeout,
            read=limits.read_timeout,
            write=limits.read_timeout,
            pool=limits.total_timeout,
        ),
        limits=httpx.Limits(
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_connections,
        ),
        follow_redirects=True,
        max_redirects=limits.max_redirects,
        headers={
            "User-Agent": limits.user_agent,
            "Accept": ACCEPT,
            # only what CappedDecoder reads: its cap holds while decoding
            "Accept-Encoding": ACCEPT_ENCODING,
        },
        trust_env=False,
    )


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


_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class FeedFetcher:
    """Fetches RSS, Atom and JSON Feed sources; satisfies `bot.ports.Fetcher`."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        limits: HttpLimits,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        public: Callable[[IPAddress], bool] = is_public,
    ) -> None:
        self._client = client
        self._limits = limits
        self._clock = clock
        # which addresses count as public (tests call a loopback address public to stand for
        # a public feed host without any traffic leaving the machine)
        self._is_public = public
        # Sources whose encoding repair was reported: a feed that double-encodes does it on
        # every poll, and one log line per source per process says it (issue 7).
        self._repair_reported: set[str] = set()

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
            raise SourceUnavailable(
                key, f"no complete answer within {self._limits.total_timeout:g}s"
            ) from exc
        except httpx.TooManyRedirects as exc:
            raise SourceRejected(key, f"more than {self._limits.max_redirects} redirects") from exc
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise SourceRejected(key, f"bad URL: {exc}") from exc
        except httpx.TimeoutException as exc:
            raise SourceUnavailable(key, f"timeout: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise SourceUnavailable(key, f"{type(exc).__name__}: {exc}") from exc

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
        # In a thread: feedparser takes a while on a large feed, and the event loop must keep
        # the other polls' timers and sockets going meanwhile (their timeouts run as it parses).
        parsed = await asyncio.to_thread(
            parse_feed,
            body,
            source_key=key,
            url=final_url,
            content_type=resp_headers.get("content-type"),
            fetched_at=now,
        )
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
        )

    async def _get(
        self, source: SourceForPoll, headers: dict[str, str]
    ) -> tuple[int, httpx.Headers, bytes, str]:
        """GET the feed, following redirects one by one through the address guard.

        Raises:
            SourceRejected: too many redirects, or one the guard refuses (issue 11).
        """
        url = source.target
        for _ in range(self._limits.max_redirects + 1):
            got = await self._get_one(source, url, headers)
            if isinstance(got, tuple):
                return got
            refusal = await self._refusal(url, got)
            if refusal is not None:
                raise SourceRejected(source.key, f"{refusal}: {got}")
            url = got
        raise SourceRejected(source.key, f"more than {self._limits.max_redirects} redirects")

    async def _refusal(self, from_url: str, to_url: str) -> str | None:
        """Why the redirect must not be followed (see `bot.sources.addresses`), or None."""
        target = httpx.URL(to_url)
        if target.scheme not in ("http", "https"):
            return f"redirect to a {target.scheme or 'relative'} URL refused"
        from_ips = await self._resolve(httpx.URL(from_url).host)
        to_ips = await self._resolve(target.host)
        return redirect_refusal(from_ips, to_ips, public=self._is_public)

    async def _resolve(self, host: str) -> list[IPAddress]:
        try:
            return [ipaddress.ip_address(host.strip("[]"))]
        except ValueError:
            pass
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None)
        except OSError:
            return []
        out: list[IPAddress] = []
        for info in infos:
            addr = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone
            out.append(ipaddress.ip_address(addr))
        return out

    async def _get_one(
        self, source: SourceForPoll, url: str, headers: dict[str, str]
    ) -> tuple[int, httpx.Headers, bytes, str] | str:
        """One request: the answer, or the URL a redirect points to."""
        cap = self._limits.max_body_bytes
        async with self._client.stream("GET", url, headers=headers, follow_redirects=False) as resp:
            location = resp.headers.get("location")
            if resp.status_code in _REDIRECTS and location:
                return str(resp.url.join(location))
            if resp.status_code != 200:
                return resp.status_code, resp.headers, b"", str(resp.url)
            declared = resp.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > cap:
                raise FeedParseError(
                    source.key, f"response of {declared} bytes is over the {cap}-byte cap"
                )
            chunks: list[bytes] = []
            # Decoded here, not by httpx: the cap is enforced while decoding, so a gzip bomb
            # stops at the cap instead of after a whole chunk's expansion (issue 11).
            decoder = CappedDecoder(resp.headers.get("content-encoding"), cap)
            try:
                async for raw in resp.aiter_raw():
                    chunks.append(decoder.feed(raw))
                chunks.append(decoder.flush())
            except BodyTooLarge as exc:
                raise FeedParseError(source.key, str(exc)) from exc
            except zlib.error as exc:
                raise FeedParseError(source.key, f"badly compressed body: {exc}") from exc
            return resp.status_code, resp.headers, b"".join(chunks), str(resp.url)
