"""Feed retriever: conditional GET over httpx with timeouts, a body-size cap and bounded redirects.

Retrieval only; parsing is `bot.sources.feedparse` (pure). A 304 answer costs no parsing.
"""

from __future__ import annotations

import asyncio
import email.utils
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from bot.errors import FeedParseError, SourceRejected, SourceUnavailable
from bot.model import CachingInfo, FetchResult, SourceForPoll
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
        headers={"User-Agent": limits.user_agent, "Accept": ACCEPT},
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


class FeedFetcher:
    """Fetches RSS, Atom and JSON Feed sources; satisfies `bot.ports.Fetcher`."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        limits: HttpLimits,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._limits = limits
        self._clock = clock
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
        if status >= 400:
            raise SourceRejected(key, f"HTTP {status}")
        if status != 200:
            raise SourceUnavailable(key, f"unexpected HTTP {status}")
        parsed = parse_feed(
            body,
            source_key=key,
            url=final_url,
            content_type=resp_headers.get("content-type"),
            fetched_at=now,
        )
        warnings = parsed.warnings
        if parsed.repaired and key not in self._repair_reported:
            self._repair_reported.add(key)
            warnings += (
                f"double-encoded UTF-8 repaired in {parsed.repaired} of {len(parsed.items)} "
                "items (the raw payload keeps the text as published; said once per source)",
            )
        return FetchResult(
            items=parsed.items,
            caching=CachingInfo(
                etag=resp_headers.get("etag"), last_modified=resp_headers.get("last-modified")
            ),
            fetched_at=now,
            warnings=warnings,
        )

    async def _get(
        self, source: SourceForPoll, headers: dict[str, str]
    ) -> tuple[int, httpx.Headers, bytes, str]:
        cap = self._limits.max_body_bytes
        async with self._client.stream("GET", source.target, headers=headers) as resp:
            if resp.status_code != 200:
                return resp.status_code, resp.headers, b"", str(resp.url)
            declared = resp.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > cap:
                raise FeedParseError(
                    source.key, f"response of {declared} bytes is over the {cap}-byte cap"
                )
            chunks: list[bytes] = []
            size = 0
            # Decoded bytes are counted, so a small gzip bomb is stopped as early as a large body.
            async for chunk in resp.aiter_bytes():
                size += len(chunk)
                if size > cap:
                    raise FeedParseError(source.key, f"response over the {cap}-byte cap")
                chunks.append(chunk)
            return resp.status_code, resp.headers, b"".join(chunks), str(resp.url)
