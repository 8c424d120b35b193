"""The feed retriever's HTTP transport (aiohttp since issue 9) against local servers: what it
sends, what it keeps between feeds (nothing), and how transport failures are named."""

from __future__ import annotations

import asyncio
import gzip
import threading
import zlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest

from bot.errors import SourceRejected, SourceUnavailable
from bot.fakes.feed_server import FeedServer
from bot.fakes.feedgen import FeedEntry, rss
from bot.fakes.http import LocalServer, Request, Response
from bot.model import CachingInfo, SourceForPoll, SourceKind
from bot.sources.feeds import FeedFetcher, HttpLimits

RSS = rss(
    "MFA",
    "https://example.org/",
    [
        FeedEntry(
            id="1",
            title="Statement",
            html="<p>Text.</p>",
            link="https://example.org/1",
            published=datetime(2020, 9, 27, tzinfo=UTC),
        )
    ],
)


def _source(url: str, caching: CachingInfo | None = None) -> SourceForPoll:
    return SourceForPoll(
        key=f"feed:{url}",
        kind=SourceKind.FEED,
        target=url,
        caching=caching or CachingInfo(),
        cursor=None,
        failures=0,
        primed=True,
    )


@pytest.fixture
def feeds() -> Iterator[tuple[FeedServer, LocalServer]]:
    state = FeedServer()
    with LocalServer(state.handle) as server:
        yield state, server


@pytest.fixture
async def fetcher() -> AsyncIterator[FeedFetcher]:
    f = FeedFetcher(HttpLimits(total_timeout=5, read_timeout=5, connect_timeout=5))
    yield f
    await f.aclose()


async def test_both_validators_are_sent_back_and_a_304_costs_no_body(
    fetcher: FeedFetcher, feeds: tuple[FeedServer, LocalServer]
) -> None:
    state, server = feeds
    state.set_feed("/am.rss", RSS)
    first = await fetcher.fetch(_source(f"{server.url}/am.rss"))
    assert [i.title for i in first.items] == ["Statement"]
    assert first.caching.etag == state.etag("/am.rss")
    assert first.caching.last_modified
    again = await fetcher.fetch(_source(f"{server.url}/am.rss", first.caching))
    assert again.not_modified and again.items == ()
    sent = state.requests("/am.rss")[-1]
    assert (sent.if_none_match, sent.if_modified_since) == (
        first.caching.etag,
        first.caching.last_modified,
    )
    assert sent.status == 304
    assert sent.user_agent == "Watchpost/0.1"
    assert sent.accept_encoding == "gzip, deflate"  # only what the capped decoder reads


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
async def test_a_compressed_feed_is_decoded_by_the_capped_decoder(
    fetcher: FeedFetcher, feeds: tuple[FeedServer, LocalServer], coding: str
) -> None:
    state, server = feeds
    body = gzip.compress(RSS) if coding == "gzip" else zlib.compress(RSS)
    state.set_raw(
        "/am.rss", body, {"Content-Type": "application/rss+xml", "Content-Encoding": coding}
    )
    result = await fetcher.fetch(_source(f"{server.url}/am.rss"))
    assert [i.title for i in result.items] == ["Statement"]


async def test_a_header_line_of_ten_kilobytes_is_read(
    fetcher: FeedFetcher, feeds: tuple[FeedServer, LocalServer]
) -> None:
    """aiohttp's default refuses header lines over 8 KB; httpx read them, so do we."""
    state, server = feeds
    policy = "default-src 'self'; " + "script-src https://cdn.example.org; " * 280
    assert len(policy) > 10_000
    state.set_raw(
        "/am.rss", RSS, {"Content-Type": "application/rss+xml", "Content-Security-Policy": policy}
    )
    result = await fetcher.fetch(_source(f"{server.url}/am.rss"))
    assert [i.title for i in result.items] == ["Statement"]


async def test_no_cookie_travels_from_one_feed_to_another(fetcher: FeedFetcher) -> None:
    seen: list[str | None] = []
    lock = threading.Lock()

    def handler(request: Request) -> Response:
        with lock:
            seen.append(request.headers.get("Cookie"))
        return Response(
            200,
            [("Content-Type", "application/rss+xml"), ("Set-Cookie", "session=abc; Path=/")],
            RSS,
        )

    with LocalServer(handler) as server:
        await fetcher.fetch(_source(f"{server.url}/a.rss"))
        await fetcher.fetch(_source(f"{server.url}/b.rss"))
        await fetcher.fetch(_source(f"{server.url}/a.rss"))
    assert seen == [None, None, None]


async def test_a_closed_port_is_unavailable_not_rejected(fetcher: FeedFetcher) -> None:
    with LocalServer(lambda r: Response()) as server:
        url = f"{server.url}/am.rss"
    # the server is gone: nothing listens on its port now
    with pytest.raises(SourceUnavailable, match="ClientConnectorError"):
        await fetcher.fetch(_source(url))


@pytest.mark.parametrize("url", ["http://[::1/feed.rss", "ftp://example.org/feed.rss"])
async def test_a_bad_url_is_rejected(fetcher: FeedFetcher, url: str) -> None:
    with pytest.raises(SourceRejected, match="bad URL"):
        await fetcher.fetch(_source(url))


async def test_a_silent_server_is_a_socket_timeout_within_the_total(
    feeds: tuple[FeedServer, LocalServer],
) -> None:
    state, server = feeds
    state.set_feed("/am.rss", RSS)
    state.slow("/am.rss", 3)
    f = FeedFetcher(HttpLimits(total_timeout=5, read_timeout=0.2, connect_timeout=5))
    try:
        with pytest.raises(SourceUnavailable, match="timeout: SocketTimeoutError"):
            await f.fetch(_source(f"{server.url}/am.rss"))
    finally:
        await f.aclose()


async def test_the_total_bound_holds_over_a_slow_answer(
    feeds: tuple[FeedServer, LocalServer],
) -> None:
    state, server = feeds
    state.set_feed("/am.rss", RSS)
    state.slow("/am.rss", 3)
    f = FeedFetcher(HttpLimits(total_timeout=0.2, read_timeout=5, connect_timeout=5))
    try:
        with pytest.raises(SourceUnavailable, match=r"no complete answer within 0\.2s"):
            await f.fetch(_source(f"{server.url}/am.rss"))
    finally:
        await f.aclose()


async def test_a_304_keeps_its_connection_for_the_next_poll(
    fetcher: FeedFetcher, feeds: tuple[FeedServer, LocalServer]
) -> None:
    """Issue 9: the httpx retriever left a 304's empty body unread, so every 304 closed its
    connection and the next poll paid a new one."""
    state, server = feeds
    state.set_feed("/am.rss", RSS)
    first = await fetcher.fetch(_source(f"{server.url}/am.rss"))
    for _ in range(4):
        again = await fetcher.fetch(_source(f"{server.url}/am.rss", first.caching))
        assert again.not_modified
    assert server.connections_accepted == 1


HALF_BODY = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 1000\r\n\r\n<rss>"
)


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (b"", "ServerDisconnectedError"),  # hangs up without a word
        (HALF_BODY, "ClientPayloadError"),  # hangs up in the middle of the body
        (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "ClientResponseError"),
    ],
    ids=["disconnected", "truncated", "garbled"],
)
async def test_a_broken_answer_is_unavailable(
    fetcher: FeedFetcher, answer: bytes, error: str
) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(SourceUnavailable, match=error):
            await fetcher.fetch(_source(f"http://127.0.0.1:{port}/am.rss"))
    finally:
        server.close()
        await server.wait_closed()


async def test_a_small_feed_is_parsed_on_the_loop_and_a_large_one_in_a_thread(
    fetcher: FeedFetcher, feeds: tuple[FeedServer, LocalServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thread costs a small feed more CPU than its parse (`bot.sources.inline`); a large
    body still leaves the loop free while it is read."""
    from bot.sources import feeds as feeds_module
    from bot.sources.inline import INLINE_MAX_BYTES

    parsed_in: list[str] = []
    real = feeds_module._parse

    def recording(*args: object) -> object:
        parsed_in.append(threading.current_thread().name)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(feeds_module, "_parse", recording)
    state, server = feeds
    entries = [
        FeedEntry(
            id=str(n),
            title=f"Statement {n}",
            html="<p>" + "Text of the statement. " * 40 + "</p>",
            link=f"https://example.org/{n}",
            published=datetime(2020, 9, 27, tzinfo=UTC),
        )
        for n in range(60)
    ]
    large = rss("MFA", "https://example.org/", entries)
    assert len(large) > INLINE_MAX_BYTES
    state.set_feed("/small.rss", RSS)
    state.set_feed("/large.rss", large)
    small = await fetcher.fetch(_source(f"{server.url}/small.rss"))
    big = await fetcher.fetch(_source(f"{server.url}/large.rss"))
    assert [i.title for i in small.items] == ["Statement"]
    assert len(big.items) == 60
    loop_thread = threading.current_thread().name
    assert parsed_in[0] == loop_thread
    assert parsed_in[1] != loop_thread


async def test_a_small_body_that_is_no_feed_is_charged_to_the_loops_budget(
    fetcher: FeedFetcher, feeds: tuple[FeedServer, LocalServer]
) -> None:
    """Parsed on the loop and refused: the time it took counts, or a source answering an HTML
    page at every poll would hold the loop past the budget."""
    from bot.errors import FeedParseError

    state, server = feeds
    state.set_raw("/page", b"<html><body>" + b"<p>not a feed</p>" * 200 + b"</body></html>",
                  {"Content-Type": "text/html"})  # fmt: skip
    with pytest.raises(FeedParseError):
        await fetcher.fetch(_source(f"{server.url}/page"))
    assert fetcher._inline._used > 0
