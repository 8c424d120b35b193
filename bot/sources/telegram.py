"""Public Telegram channels as sources, read from their web preview (``{base}/s/CHANNEL``).

No credentials: the preview is a public page. One poll reads the newest page (20 posts: the new
ones, and the recent ones again, so edits and deletions show), then, after downtime, older pages
with ``?before=N`` down to the cursor, up to a page limit; what could not be read stays in the
cursor as a gap that the next polls read. Requests to the preview's host are paced (one slot at a
time, jittered), carry our User-Agent and, when the server gave validators, are conditional.

Parsing is ``bot.sources.tgpreview`` (pure); the cursor is ``bot.sources.tgcursor`` (pure); the
pacing decision is ``bot.sources.pacing`` (pure). This module only does the requests and maps
what t.me answers to our errors:

- 302 from ``/s/NAME`` to ``/NAME``: the channel does not exist, is private, or turned its
  preview off (t.me does not say which) → ``SourceRejected``;
- 302 from ``/s/OLD`` to ``/s/NEW``: renamed → read ``NEW``, with a warning every poll;
- 429 (Retry-After), 5xx, timeouts, resets → ``SourceUnavailable``, and the whole host waits;
- a 200 page with no readable post that is not an empty channel's → ``FeedParseError`` naming
  the channel ("has the preview's layout changed?"), never "no new posts".
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import httpx

from bot.errors import (
    FeedParseError,
    SourceHeld,
    SourceProblem,
    SourceRejected,
    SourceUnavailable,
)
from bot.model import CachingInfo, Cost, FetchedItem, FetchResult, PostWindow, SourceForPoll
from bot.sources.decoding import ACCEPT_ENCODING
from bot.sources.feeds import ACCEPT as FEED_ACCEPT
from bot.sources.feeds import HttpLimits, parse_retry_after
from bot.sources.pacing import HostPacer
from bot.sources.tgcursor import Gap, PreviewCursor
from bot.sources.tgpreview import (
    PreviewPage,
    PreviewPost,
    layout_problem,
    parse_preview_page,
    post_to_item,
)

__all__ = ["PreviewLimits", "TelegramPreviewFetcher", "make_http_client"]

log = logging.getLogger("watchpost.telegram")

ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"


def make_http_client(limits: HttpLimits) -> httpx.AsyncClient:
    """The httpx client of the preview pages: connection reuse, bounded pool. (Feeds have their
    own aiohttp sessions, `bot.sources.feedhttp`.)"""
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
            "Accept": FEED_ACCEPT,
            # only what CappedDecoder reads: its cap holds while decoding
            "Accept-Encoding": ACCEPT_ENCODING,
        },
        trust_env=False,
    )
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class PreviewLimits:
    """How the preview is read: from settings."""

    base_url: str = "https://t.me"
    #: older pages one poll may read
    max_pages: int = 50
    #: the longest a poll waits for its turn at the host before it is put off
    max_wait: float = 30.0


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    headers: httpx.Headers
    body: bytes
    url: str


class TelegramPreviewFetcher:
    """Reads public channel previews; satisfies `bot.ports.Fetcher`."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        http: HttpLimits,
        limits: PreviewLimits,
        pacer: HostPacer,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._client = client
        self._http = http
        self._limits = limits
        self._pacer = pacer
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self._host = urlsplit(limits.base_url).netloc

    async def fetch(self, source: SourceForPoll) -> FetchResult:
        """New posts of one channel since its cursor, and the last page again.

        Raises:
            SourceRejected: no public preview (no such channel, private, preview off), 4xx.
            SourceUnavailable: 429 (with Retry-After), 5xx, timeouts, connection errors.
            SourceHeld: the host is paced (after a 429) for longer than we wait in one poll.
            FeedParseError: the page has no post we can read (a changed layout), or is too big.
        """
        channel = source.target
        cursor = PreviewCursor.parse(source.cursor)
        warnings: list[str] = []
        url = f"{self._limits.base_url}/s/{channel}"
        conditional = {}
        if cursor.gap is None and source.caching.etag:
            conditional["If-None-Match"] = source.caching.etag
        if cursor.gap is None and source.caching.last_modified:
            conditional["If-Modified-Since"] = source.caching.last_modified
        answer = await self._get(source, url, conditional)
        if answer.status in _REDIRECTS:
            url = self._renamed(source, answer)
            warnings.append(
                f"t.me/s/{channel} redirects to {urlsplit(url).path}: the channel was renamed; "
                "change the watchlist to the new name"
            )
            answer = await self._get(source, url, conditional)
            if answer.status in _REDIRECTS:
                self._renamed(source, answer)  # raises: one rename is followed, no chain
                raise SourceRejected(source.key, f"t.me/s/{channel}: redirect loop")
        now = self._clock()
        if answer.status == 304:
            return FetchResult(items=(), not_modified=True, fetched_at=now)
        first = await self._page(source, answer)
        caching = CachingInfo(
            etag=answer.headers.get("etag"), last_modified=answer.headers.get("last-modified")
        )
        pages = [first]
        if cursor.high is None:
            # The first poll: the newest page tells where "now" is; the past is not read.
            return self._result(source, channel, pages, pages, PreviewCursor(), caching, warnings)
        # Down from the newest page to the cursor: the posts published while we were away.
        budget = self._limits.max_pages
        contiguous, budget, missed = await self._walk(
            source, url, first, stop_at=cursor.high, budget=budget, warnings=warnings
        )
        pages = list(contiguous)
        unread = cursor.joined(missed)
        if unread.gap is not None and budget > 0 and missed is None:
            # An older gap left by a previous poll: go on reading it, newest first.
            gap = unread.gap
            start = await self._page_before(source, url, gap.high + 1, warnings)
            if start is not None:
                budget -= 1
                filled, budget, rest = await self._walk(
                    source, url, start, stop_at=gap.low - 1, budget=budget, warnings=warnings
                )
                pages.extend(filled)
                # Read down to the gap's low end or to the channel's first post: closed.
                unread = PreviewCursor(cursor.high, rest)
        return self._result(source, channel, pages, contiguous, unread, caching, warnings)

    # --- reading pages ----------------------------------------------------------------------

    async def _walk(
        self,
        source: SourceForPoll,
        url: str,
        page: PreviewPage,
        *,
        stop_at: int,
        budget: int,
        warnings: list[str],
    ) -> tuple[list[PreviewPage], int, Gap | None]:
        """Follow ``?before=`` from `page` until a page reaches `stop_at` (a post number read
        before), the channel's first post, or the page budget; returns the pages, the budget
        left, and the gap that could not be read."""
        pages = [page]
        while True:
            numbers = page.numbers()
            low = min(numbers) if numbers else None
            if low is None or low <= stop_at + 1 or page.before is None:
                return pages, budget, None
            gap = Gap(stop_at + 1, low - 1)
            if budget <= 0:
                warnings.append(
                    f"backlog: posts {gap.low}-{gap.high} (up to {gap.size}) not read yet: "
                    f"the page limit ({self._limits.max_pages}) was reached; the next polls go on"
                )
                return pages, budget, gap
            older = await self._page_before(source, url, page.before, warnings)
            if older is None:
                return pages, budget, gap
            budget -= 1
            pages.append(older)
            page = older

    async def _page_before(
        self, source: SourceForPoll, url: str, before: int, warnings: list[str]
    ) -> PreviewPage | None:
        """An older page, or None (with a warning) when it cannot be read now."""
        try:
            answer = await self._get(source, f"{url}?before={before}", {}, paging=True)
            if answer.status != 200:
                raise SourceUnavailable(source.key, f"HTTP {answer.status} for ?before={before}")
            return await self._page(source, answer)
        except (SourceUnavailable, SourceRejected, FeedParseError) as exc:
            warnings.append(f"older posts before {before} not read now: {exc.message}")
            return None

    async def _page(self, source: SourceForPoll, answer: _Answer) -> PreviewPage:
        # About 10 ms of CPU a page: off the event loop, so that sending alerts never waits.
        page = await asyncio.to_thread(parse_preview_page, answer.body)
        problem = layout_problem(page, len(answer.body))
        if problem is not None:
            raise FeedParseError(
                source.key,
                f"t.me/s/{source.target}: {problem}",
                problem=SourceProblem.LAYOUT_CHANGED,
            )
        if source.remote_id and page.chat_id and page.chat_id != source.remote_id:
            # The username now names another channel: its posts are not this speaker's.
            raise SourceRejected(
                source.key,
                f"t.me/s/{source.target} is now another channel (id {page.chat_id}, was "
                f"{source.remote_id}): the username changed hands; check the watchlist",
            )
        return page

    def _renamed(self, source: SourceForPoll, answer: _Answer) -> str:
        """The new page of a renamed channel, or the error for a preview that is not there."""
        location = urljoin(answer.url, answer.headers.get("location", ""))
        parts = [p for p in urlsplit(location).path.split("/") if p]
        if len(parts) == 2 and parts[0] == "s" and parts[1].lower() != source.target.lower():
            return f"{self._limits.base_url}/s/{parts[1]}"
        raise SourceRejected(
            source.key,
            f"t.me/s/{source.target} has no public preview (t.me redirects to "
            f"{urlsplit(location).path or '/'}): the channel does not exist, is private, or "
            "has turned its preview off",
        )

    # --- one request --------------------------------------------------------------------------

    async def _get(
        self, source: SourceForPoll, url: str, headers: dict[str, str], *, paging: bool = False
    ) -> _Answer:
        key = source.key
        wait = self._pacer.wait_for(self._host, self._monotonic())
        if wait > self._limits.max_wait:
            # Held after a 429: not this channel's failure, and no request is sent.
            raise SourceHeld(key, f"t.me asked us to wait {wait:.0f}s", retry_after=wait)
        wait = self._pacer.reserve(self._host, self._monotonic())
        if wait > 0:
            await self._sleep(wait)
        try:
            async with asyncio.timeout(self._http.total_timeout):
                answer = await self._stream(key, url, headers)
        except TimeoutError as exc:
            raise SourceUnavailable(
                key, f"no complete answer within {self._http.total_timeout:g}s"
            ) from exc
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise SourceRejected(key, f"bad URL: {exc}") from exc
        except httpx.TimeoutException as exc:
            raise SourceUnavailable(key, f"timeout: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise SourceUnavailable(key, f"{type(exc).__name__}: {exc}") from exc
        status = answer.status
        if status == 429:
            retry_after = parse_retry_after(answer.headers.get("retry-after"), self._clock())
            self._pacer.hold(self._host, self._monotonic() + (retry_after or 60.0))
            raise SourceUnavailable(key, "t.me: HTTP 429 (rate limited)", retry_after=retry_after)
        if status >= 500:
            raise SourceUnavailable(
                key,
                f"t.me: HTTP {status}",
                retry_after=parse_retry_after(answer.headers.get("retry-after"), self._clock()),
            )
        if status in (200, 304) or status in _REDIRECTS:
            return answer
        if status >= 400:
            raise SourceRejected(key, f"t.me/s/{source.target}: HTTP {status}")
        raise SourceUnavailable(key, f"t.me: unexpected HTTP {status}")

    async def _stream(self, key: str, url: str, headers: dict[str, str]) -> _Answer:
        cap = self._http.max_body_bytes
        async with self._client.stream(
            "GET", url, headers={"Accept": ACCEPT, **headers}, follow_redirects=False
        ) as resp:
            if resp.status_code != 200:
                return _Answer(resp.status_code, resp.headers, b"", str(resp.url))
            declared = resp.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > cap:
                raise FeedParseError(key, f"page of {declared} bytes is over the {cap}-byte cap")
            chunks: list[bytes] = []
            size = 0
            async for chunk in resp.aiter_bytes():
                size += len(chunk)
                if size > cap:
                    raise FeedParseError(key, f"page over the {cap}-byte cap")
                chunks.append(chunk)
            return _Answer(200, resp.headers, b"".join(chunks), str(resp.url))

    # --- the result -----------------------------------------------------------------------------

    def _result(
        self,
        source: SourceForPoll,
        channel: str,
        pages: list[PreviewPage],
        contiguous: list[PreviewPage],
        cursor: PreviewCursor,
        caching: CachingInfo,
        warnings: list[str],
    ) -> FetchResult:
        now = self._clock()
        items: dict[str, FetchedItem] = {}
        high = cursor.high
        for page in pages:
            for problem in page.problems:
                warnings.append(f"t.me/s/{channel}: {problem}")
            for post in page.posts:
                high = max(high or 0, max(post.numbers))
                item = _item(post, channel, now, warnings)
                if item is not None:
                    items[item.external_id] = item
        # An empty channel is read from its first post on: everything after 0 is new.
        new_cursor = PreviewCursor(high if high is not None else 0, cursor.gap)
        return FetchResult(
            items=tuple(items.values()),
            caching=caching,
            cursor=new_cursor.format(),
            fetched_at=now,
            warnings=tuple(warnings),
            cost=Cost(requests=len(pages)),
            # A page with a block we could not read says nothing about what was deleted.
            window=None if any(p.problems for p in contiguous) else _window(contiguous),
            remote_id=next((p.chat_id for p in pages if p.chat_id), None),
        )


def _item(
    post: PreviewPost, channel: str, now: datetime, warnings: list[str]
) -> FetchedItem | None:
    """The statement of a post, or None for what is no statement (or cannot be read now)."""
    if post.service:
        return None
    if post.hidden:
        # Shown as "Please open Telegram to view this post": present, but not readable here.
        # Left out, so that its stored text is neither rewritten as empty nor found deleted.
        return None
    if not post.readable:
        warnings.append(f"t.me/s/{channel}: post {post.number} has no text or media we can read")
        return None
    return post_to_item(post, channel, now)


def _window(pages: list[PreviewPage]) -> PostWindow | None:
    """The contiguous run of posts the newest pages showed."""
    numbers = frozenset(n for p in pages for n in p.numbers())
    dated = [post.published_at for p in pages for post in p.posts if post.published_at]
    if not numbers or not dated:
        return None
    return PostWindow(low=min(numbers), high=max(numbers), present=numbers, since=min(dated))
