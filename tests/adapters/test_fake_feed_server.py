"""The local HTTP server and the fake feed host, driven by the real httpx client."""

from __future__ import annotations

import asyncio
import gzip
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.fakes.feed_server import FeedServer
from bot.fakes.http import LocalServer, Request, Response

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>MFA</title><link>http://127.0.0.1/</link>
<item><title>Statement on the ceasefire</title><guid>1</guid></item></channel></rss>
"""


@pytest.fixture
def feeds() -> FeedServer:
    return FeedServer()


@pytest.fixture
def server(feeds: FeedServer) -> Iterator[LocalServer]:
    with LocalServer(feeds.handle) as running:
        yield running


@pytest.fixture
def client(server: LocalServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=5) as c:
        yield c


# --- LocalServer ----------------------------------------------------------------------------


def echo(request: Request) -> Response:
    return Response.json(
        {
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "body": request.body.decode(),
            "x_test": request.headers.get("x-TEST"),
        }
    )


def test_request_reaches_the_handler_whole() -> None:
    with LocalServer(echo) as server:
        response = httpx.post(
            f"{server.url}/a/b?x=1&x=2&empty=",
            content=b"payload",
            headers={"X-Test": "yes"},
        )
    assert response.status_code == 200
    assert response.json() == {
        "method": "POST",
        "path": "/a/b",
        "query": {"x": ["1", "2"], "empty": [""]},
        "body": "payload",
        "x_test": "yes",
    }


def test_chunked_request_body_is_read() -> None:
    def chunks() -> Iterator[bytes]:
        yield b"first,"
        yield b"second"

    with LocalServer(echo) as server:
        response = httpx.post(f"{server.url}/", content=chunks())
    assert response.json()["body"] == "first,second"


def test_handler_exception_is_a_500_and_the_server_lives_on() -> None:
    calls = 0

    def flaky(request: Request) -> Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return Response.text("fine")

    with LocalServer(flaky) as server, httpx.Client(base_url=server.url) as client:
        first = client.get("/")
        second = client.get("/")
    assert first.status_code == 500
    assert b"RuntimeError" in first.content
    assert (second.status_code, second.text) == (200, "fine")


def test_keep_alive_reuses_one_connection() -> None:
    with LocalServer(echo) as server, httpx.Client(base_url=server.url) as client:
        for _ in range(5):
            assert client.get("/").status_code == 200
        assert server.connections_accepted == 1


def test_head_sends_length_but_no_body() -> None:
    with LocalServer(lambda r: Response.text("hello")) as server:
        response = httpx.head(server.url)
    assert response.headers["content-length"] == "5"
    assert response.content == b""


def test_binds_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        LocalServer(echo, host="0.0.0.0")
    with LocalServer(echo) as server:
        assert server.url.startswith("http://127.0.0.1:")


def test_stop_closes_open_keep_alive_connections() -> None:
    server = LocalServer(echo).start()
    with httpx.Client(base_url=server.url, timeout=2) as client:
        assert client.get("/").status_code == 200
        server.stop()
        with pytest.raises(httpx.TransportError):
            client.get("/")


def test_latency_delays_each_response() -> None:
    with LocalServer(echo, latency=0.1) as server, httpx.Client(base_url=server.url) as client:
        client.get("/")
        started = time.perf_counter()
        client.get("/")
        elapsed = time.perf_counter() - started
    assert 0.1 <= elapsed < 1.0


async def test_many_concurrent_keep_alive_clients() -> None:
    feeds = FeedServer()
    paths = [f"/feed/{i}.xml" for i in range(100)]
    for path in paths:
        feeds.set_feed(path, RSS)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    with LocalServer(feeds.handle) as server:
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=10) as client:
            gate = asyncio.Semaphore(64)

            async def poll(path: str) -> int:
                async with gate:
                    return (await client.get(path)).status_code

            for _ in range(2):
                statuses = await asyncio.gather(*(poll(p) for p in paths))
                assert set(statuses) == {200}
        # Connections are reused across rounds rather than opened per request.
        assert server.connections_accepted < len(paths)
    assert feeds.status_counts() == {200: 200}
    assert all(feeds.hits(p) == 2 for p in paths)


def test_serve_forever_runs_in_the_calling_thread_until_stopped() -> None:
    server = LocalServer(echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while True:
        try:
            url = server.url
            break
        except RuntimeError:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    assert httpx.get(url).status_code == 200
    server.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()


SERVE_SCRIPT = """
from bot.fakes.feed_server import FeedServer
from bot.fakes.http import serve
feeds = FeedServer()
feeds.set_feed("/a.xml", b"<rss/>")
serve(feeds.handle, latency=0.001)
"""


def test_serve_in_a_separate_process_announces_its_url_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE_SCRIPT],
        cwd=Path(__file__).resolve().parents[2],  # the repo root, so `bot` imports
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=url) as client:
            assert [client.get("/a.xml").status_code for _ in range(3)] == [200] * 3
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert stderr == ""  # no per-request log lines


# --- FeedServer: caching --------------------------------------------------------------------


def test_conditional_get_flow(feeds: FeedServer, client: httpx.Client) -> None:
    etag = feeds.set_feed("/mfa.xml", RSS)

    first = client.get("/mfa.xml")
    assert first.status_code == 200
    assert first.content == RSS
    assert first.headers["etag"] == etag
    assert first.headers["content-type"] == "application/rss+xml; charset=utf-8"
    last_modified = first.headers["last-modified"]

    by_etag = client.get("/mfa.xml", headers={"If-None-Match": etag})
    assert (by_etag.status_code, by_etag.content) == (304, b"")
    assert by_etag.headers["etag"] == etag

    by_date = client.get("/mfa.xml", headers={"If-Modified-Since": last_modified})
    assert by_date.status_code == 304

    changed = RSS.replace(b"ceasefire", b"corridor")
    new_etag = feeds.set_feed("/mfa.xml", changed, last_modified=datetime.now(UTC) + timedelta(1))
    again = client.get("/mfa.xml", headers={"If-None-Match": etag})
    assert again.status_code == 200
    assert again.content == changed
    assert again.headers["etag"] == new_etag != etag

    assert feeds.hits("/mfa.xml") == 4
    assert feeds.status_counts("/mfa.xml") == {200: 2, 304: 2}
    assert [r.if_none_match for r in feeds.requests("/mfa.xml")] == [None, etag, None, etag]


def test_if_none_match_wins_over_if_modified_since(feeds: FeedServer, client: httpx.Client) -> None:
    feeds.set_feed("/a.xml", RSS)
    last_modified = client.get("/a.xml").headers["last-modified"]
    response = client.get(
        "/a.xml", headers={"If-None-Match": '"stale"', "If-Modified-Since": last_modified}
    )
    assert response.status_code == 200


def test_older_if_modified_since_gets_the_body(feeds: FeedServer, client: httpx.Client) -> None:
    feeds.set_feed("/a.xml", RSS, last_modified=datetime(2020, 10, 1, 12, tzinfo=UTC))
    response = client.get("/a.xml", headers={"If-Modified-Since": "Wed, 30 Sep 2020 12:00:00 GMT"})
    assert response.status_code == 200
    assert response.headers["last-modified"] == "Thu, 01 Oct 2020 12:00:00 GMT"


def test_same_body_keeps_its_validators(feeds: FeedServer) -> None:
    ticks = iter([datetime(2020, 10, 1, tzinfo=UTC), datetime(2020, 10, 2, tzinfo=UTC)])
    clocked = FeedServer(clock=lambda: next(ticks))
    first = clocked.set_feed("/a.xml", RSS)
    second = clocked.set_feed("/a.xml", RSS)
    assert first == second
    assert clocked.last_modified("/a.xml") == datetime(2020, 10, 1, tzinfo=UTC)


def test_gzip_when_asked_and_only_then(feeds: FeedServer, client: httpx.Client) -> None:
    feeds.set_feed("/a.xml", RSS)
    zipped = client.get("/a.xml", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == RSS  # httpx decodes
    assert int(zipped.headers["content-length"]) == len(gzip.compress(RSS, mtime=0))

    plain = client.get("/a.xml", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == RSS

    refused = client.get("/a.xml", headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers


def test_unknown_path_is_404(client: httpx.Client) -> None:
    assert client.get("/nothing.xml").status_code == 404


# --- FeedServer: failures -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retry_after"),
    [
        (500, None),  # server bug
        (503, 120),  # maintenance, with a delay in seconds
        (429, "Wed, 21 Oct 2026 07:28:00 GMT"),  # rate limited, with an HTTP date
        (404, None),  # feed moved away
        (403, None),  # blocked
    ],
)
def test_fail_then_recover(
    feeds: FeedServer, client: httpx.Client, status: int, retry_after: int | str | None
) -> None:
    feeds.set_feed("/a.xml", RSS)
    feeds.fail("/a.xml", status, times=2, retry_after=retry_after)
    for _ in range(2):
        response = client.get("/a.xml")
        assert response.status_code == status
        assert response.headers.get("retry-after") == (
            None if retry_after is None else str(retry_after)
        )
    assert client.get("/a.xml").status_code == 200
    assert feeds.status_counts("/a.xml") == {status: 2, 200: 1}


def test_fail_forever_until_healed(feeds: FeedServer, client: httpx.Client) -> None:
    feeds.set_feed("/a.xml", RSS)
    feeds.fail("/a.xml", 502)
    assert [client.get("/a.xml").status_code for _ in range(3)] == [502] * 3
    feeds.heal("/a.xml")
    assert client.get("/a.xml").status_code == 200


def test_slow_path_times_out_the_client_and_others_stay_fast(
    feeds: FeedServer, server: LocalServer
) -> None:
    feeds.set_feed("/slow.xml", RSS)
    feeds.set_feed("/fast.xml", RSS)
    feeds.slow("/slow.xml", 0.5)
    with httpx.Client(base_url=server.url, timeout=0.1) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.get("/slow.xml")
        started = time.perf_counter()
        assert client.get("/fast.xml").status_code == 200
        assert time.perf_counter() - started < 0.3


def test_redirect_is_followed(feeds: FeedServer, client: httpx.Client) -> None:
    feeds.set_feed("/new.xml", RSS)
    feeds.redirect("/old.xml", "/new.xml", status=301)
    direct = client.get("/old.xml")
    assert (direct.status_code, direct.headers["location"]) == (301, "/new.xml")
    followed = client.get("/old.xml", follow_redirects=True)
    assert followed.content == RSS
    assert [r.status_code for r in followed.history] == [301]


def test_raw_body_is_sent_as_given(feeds: FeedServer, client: httpx.Client) -> None:
    bomb = gzip.compress(b"\0" * 5_000_000)
    feeds.set_raw(
        "/bomb.xml", bomb, {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"}
    )
    with client.stream("GET", "/bomb.xml") as response:
        raw = b"".join(response.iter_raw())
    assert response.headers["content-encoding"] == "gzip"
    assert raw == bomb
    assert len(raw) < 10_000


def test_raw_html_page(feeds: FeedServer, client: httpx.Client) -> None:
    page = b"<!doctype html><html><body>Not a feed</body></html>"
    feeds.set_raw("/page", page, [("Content-Type", "text/html")])
    response = client.get("/page")
    assert (response.headers["content-type"], response.content) == ("text/html", page)


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[FeedServer, httpx.Client]]:
    feeds = FeedServer()
    with LocalServer(feeds.handle) as server, httpx.Client(base_url=server.url) as client:
        yield feeds, client


@settings(max_examples=50, deadline=None)
@given(body=st.binary(max_size=3000), gzip_ok=st.booleans())
def test_any_body_arrives_intact(
    shared: tuple[FeedServer, httpx.Client], body: bytes, gzip_ok: bool
) -> None:
    feeds, client = shared
    feeds.set_feed("/x", body)
    encoding = "gzip" if gzip_ok else "identity"
    response = client.get("/x", headers={"Accept-Encoding": encoding})
    assert response.content == body
    assert response.headers["etag"] == feeds.etag("/x")
