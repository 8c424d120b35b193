"""HTTP clients for the feed poller, side by side: CPU and wall time per conditional GET (issue 9).

Run from the repository root (by hand; never part of the tests)::

    python benchmarks/http_clients.py [--rounds 5] [--feeds 1000] [--in-flight 32]

Starts the poll-cycle feed host (`benchmarks/_feedhost.py`: ``--feeds`` RSS feeds of 20 items,
about 28 KB, 5.7 KB gzipped, every answer delayed by ``--latency``) in its own process, then
each client GETs every feed once, ``--in-flight`` at a time, in two cases:

- **304**: with the feed's ETag as ``If-None-Match`` (the host answers 304, no body);
- **200**: without it, ``Accept-Encoding: gzip, deflate`` (a 5.7 KB gzipped body, decoded).

Every client is used the way the feed retriever uses one: raw body chunks through
`bot.sources.decoding.CappedDecoder` (the cap holds while decoding), redirects not followed,
no cookies kept, the same headers. Clients:

- ``httpx``: one ``httpx.AsyncClient`` (`make_http_client`), ``client.stream`` + ``aiter_raw``,
  as `FeedFetcher` did before issue 9;
- ``httpcore``: the connection pool under httpx, without httpx's models (its floor);
- ``aiohttp``: one ``aiohttp.ClientSession`` (``TCPConnector(limit=N)``,
  ``auto_decompress=False``, ``DummyCookieJar``), ``resp.content.iter_any()``;
- ``aiohttp-fc``: the same with ``force_close=True`` (a new connection per request: what every
  request costs when keep-alive is lost, e.g. behind a host that closes);
- ``watchpost``: `FeedFetcher`'s own request path (`_get`: the redirect loop, the address
  guard's sessions, the error mapping), without parsing;
- ``pycurl``: a ``CurlMulti`` driven from the loop (``M_SOCKETFUNCTION``/``M_TIMERFUNCTION``,
  ``socket_action`` from add_reader/add_writer/call_later), pooled easy handles, no ``ENCODING``
  (raw body), ``WRITEFUNCTION`` chunks into the decoder;
- ``curl_cffi`` / ``curl_cffi-buf``: its ``AsyncSession`` with ``accept_encoding=None`` (raw
  body), streamed (``aiter_content``) / whole body then decoded;
- ``rnet``, ``pyreqwest`` (reqwest under Python): decompression and redirects off, streamed.

The optional clients (pycurl on) are imported when used and skipped with a message if missing.
Every client must give the same decoded length per feed as the first one run (and 0 on a 304).

Each round runs every client on both cases, in a new order each round (the machine is shared:
interleaving spreads the noise). CPU is `time.process_time` of this process (the host is
another process), per request; wall is per batch of ``--feeds`` requests. Medians of the rounds.
A warm-up pass per client opens its connections and is not timed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO))

from bot.model import CachingInfo, SourceForPoll, SourceKind  # noqa: E402
from bot.sources.decoding import ACCEPT_ENCODING, CappedDecoder  # noqa: E402
from bot.sources.feeds import ACCEPT, FeedFetcher, HttpLimits  # noqa: E402
from bot.sources.telegram import make_http_client  # noqa: E402

CAP = 10_000_000
LIMITS = HttpLimits()


async def _decoded_len(coding: str | None, chunks: AsyncIterable[bytes]) -> int:
    """How many bytes a body's raw chunks decode to under the cap, as the retriever decodes."""
    decoder = CappedDecoder(coding, CAP)
    size = 0
    async for raw in chunks:
        size += len(decoder.feed(raw))
    return size + len(decoder.flush())


# One GET: url and extra headers in, (status, decoded body length) out.
Get = Callable[[str, dict[str, str]], Awaitable[tuple[int, int]]]


@contextmanager
def _feed_host(feeds: int, latency: float) -> Iterator[str]:
    cmd = [sys.executable, str(HERE / "_feedhost.py"), "--feeds", str(feeds)]
    proc = subprocess.Popen(
        [*cmd, "--latency", str(latency)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise SystemExit(f"feed host did not start: {url!r}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _headers() -> dict[str, str]:
    return {"User-Agent": LIMITS.user_agent, "Accept": ACCEPT, "Accept-Encoding": ACCEPT_ENCODING}


async def _httpx(stack: AsyncExitStack, n: int) -> Get:
    client = await stack.enter_async_context(make_http_client(HttpLimits(max_connections=n)))

    async def get(url: str, headers: dict[str, str]) -> tuple[int, int]:
        async with client.stream("GET", url, headers=headers, follow_redirects=False) as resp:
            size = 0
            if resp.status_code == 200:
                size = await _decoded_len(resp.headers.get("content-encoding"), resp.aiter_raw())
            return resp.status_code, size

    return get


async def _httpcore(stack: AsyncExitStack, n: int) -> Get:
    import httpcore

    pool = await stack.enter_async_context(
        httpcore.AsyncConnectionPool(max_connections=n, max_keepalive_connections=n)
    )
    base = [(k.encode(), v.encode()) for k, v in _headers().items()]

    async def get(url: str, headers: dict[str, str]) -> tuple[int, int]:
        # httpcore sends only the headers it is given: Host is httpx's to add
        host = [(b"Host", url.split("/", 3)[2].encode())]
        extra = [(k.encode(), v.encode()) for k, v in headers.items()]
        async with pool.stream("GET", url, headers=host + base + extra) as resp:
            size = 0
            if resp.status == 200:
                coding = dict(resp.headers).get(b"Content-Encoding", b"").decode()
                size = await _decoded_len(coding, resp.aiter_stream())
            else:
                await resp.aread()
            return resp.status, size

    return get


def _aiohttp(*, force_close: bool) -> Callable[[AsyncExitStack, int], Awaitable[Get]]:
    async def make(stack: AsyncExitStack, n: int) -> Get:
        import aiohttp

        session = await stack.enter_async_context(
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=n, force_close=force_close),
                headers=_headers(),
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
            )
        )

        async def get(url: str, headers: dict[str, str]) -> tuple[int, int]:
            async with session.get(url, headers=headers, allow_redirects=False) as resp:
                size = 0
                if resp.status == 200:
                    coding = resp.headers.get("Content-Encoding")
                    size = await _decoded_len(coding, resp.content.iter_any())
                return resp.status, size

        return get

    return make


async def _watchpost(stack: AsyncExitStack, n: int) -> Get:
    fetcher = FeedFetcher(HttpLimits(max_connections=n))
    stack.push_async_callback(fetcher.aclose)

    async def get(url: str, headers: dict[str, str]) -> tuple[int, int]:
        source = SourceForPoll(
            key=url,
            kind=SourceKind.FEED,
            target=url,
            caching=CachingInfo(),
            cursor=None,
            failures=0,
            primed=True,
        )
        status, _, body, _ = await fetcher._get(source, headers)
        return status, len(body)

    return get


class _CurlDriver:
    """A `pycurl.CurlMulti` driven by the asyncio loop: libcurl tells which sockets to watch
    (``M_SOCKETFUNCTION``) and when to wake it (``M_TIMERFUNCTION``); the loop's readers,
    writers and timer call ``socket_action``. Easy handles are pooled and reused (the multi
    handle's connection cache keeps the connections alive)."""

    def __init__(self, pycurl: Any, n: int) -> None:
        self._pycurl = pycurl
        self._loop = asyncio.get_running_loop()
        self._multi = pycurl.CurlMulti()
        self._multi.setopt(pycurl.M_SOCKETFUNCTION, self._on_socket)
        self._multi.setopt(pycurl.M_TIMERFUNCTION, self._on_timer)
        self._multi.setopt(pycurl.M_MAXCONNECTS, n)
        self._timer: asyncio.TimerHandle | None = None
        self._watched: dict[int, int] = {}  # fd -> what libcurl asked for
        self._free: list[_CurlTransfer] = []
        self._busy: dict[Any, _CurlTransfer] = {}

    def _on_socket(self, what: int, fd: int, multi: Any, socketp: Any) -> None:
        pc, loop = self._pycurl, self._loop
        old = self._watched.pop(fd, 0)
        if old & pc.POLL_IN:
            loop.remove_reader(fd)
        if old & pc.POLL_OUT:
            loop.remove_writer(fd)
        if what == pc.POLL_REMOVE:
            return
        if what & pc.POLL_IN:
            loop.add_reader(fd, self._act, fd, pc.CSELECT_IN)
        if what & pc.POLL_OUT:
            loop.add_writer(fd, self._act, fd, pc.CSELECT_OUT)
        self._watched[fd] = what

    def _on_timer(self, ms: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if ms >= 0:
            self._timer = self._loop.call_later(
                ms / 1000, self._act, self._pycurl.SOCKET_TIMEOUT, 0
            )

    def _act(self, fd: int, event: int) -> None:
        self._multi.socket_action(fd, event)
        while True:
            queued, ok, failed = self._multi.info_read()
            for curl in ok:
                self._done(curl, None)
            for curl, _errno, message in failed:
                self._done(curl, message)
            if not queued:
                break

    def _done(self, curl: Any, error: str | None) -> None:
        self._multi.remove_handle(curl)
        t = self._busy.pop(curl)
        if t.fut.done():  # cancelled
            return
        if t.error is not None:
            t.fut.set_exception(t.error)
        elif error is not None:
            t.fut.set_exception(OSError(error))
        else:
            t.fut.set_result(curl.getinfo(self._pycurl.RESPONSE_CODE))

    def _transfer(self) -> _CurlTransfer:
        if self._free:
            return self._free.pop()
        pc = self._pycurl
        curl = pc.Curl()
        t = _CurlTransfer(curl)
        curl.setopt(pc.NOSIGNAL, 1)
        curl.setopt(pc.FOLLOWLOCATION, 0)  # redirects are the retriever's to follow
        curl.setopt(pc.PROXY, "")  # as trust_env=False: no proxy from the environment
        curl.setopt(pc.TIMEOUT_MS, int(LIMITS.total_timeout * 1000))
        curl.setopt(pc.CONNECTTIMEOUT_MS, int(LIMITS.connect_timeout * 1000))
        # no ENCODING option: the body stays as sent, for CappedDecoder; no COOKIEFILE: no cookies
        curl.setopt(pc.HEADERFUNCTION, t.header)
        curl.setopt(pc.WRITEFUNCTION, t.write)
        return t

    async def get(self, url: str, headers: dict[str, str]) -> tuple[int, int]:
        t = self._transfer()
        t.reset(self._loop.create_future())
        t.curl.setopt(self._pycurl.URL, url)
        t.curl.setopt(self._pycurl.HTTPHEADER, [f"{k}: {v}" for k, v in headers.items()])
        self._busy[t.curl] = t
        self._multi.add_handle(t.curl)
        try:
            status: int = await t.fut
        finally:
            if self._busy.pop(t.curl, None) is not None:  # cancelled: take it back from curl
                self._multi.remove_handle(t.curl)
            self._free.append(t)
        if t.decoder is not None:
            t.size += len(t.decoder.flush())
        else:
            t.parsed_headers()  # the retriever reads ETag & co. on a 304 too
        return status, t.size

    def close(self) -> None:
        for t in self._free:
            t.curl.close()
        self._multi.close()


class _CurlTransfer:
    """One pooled easy handle and the state of its current request."""

    def __init__(self, curl: Any) -> None:
        self.curl = curl
        self.reset(asyncio.get_running_loop().create_future())

    def reset(self, fut: asyncio.Future[int]) -> None:
        self.fut = fut
        self.lines: list[bytes] = []
        self.decoder: CappedDecoder | None = None
        self.size = 0
        self.error: BaseException | None = None

    def header(self, line: bytes) -> None:
        if line.startswith(b"HTTP/"):
            self.lines.clear()  # a new response (after a 1xx): its own headers
        self.lines.append(line)

    def parsed_headers(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for line in self.lines[1:]:
            name, sep, value = line.decode("latin-1").partition(":")
            if sep:
                out[name.strip().lower()] = value.strip()
        return out

    def write(self, chunk: bytes) -> int | None:
        try:
            if self.decoder is None:
                self.decoder = CappedDecoder(self.parsed_headers().get("content-encoding"), CAP)
            self.size += len(self.decoder.feed(chunk))
        except Exception as e:  # BodyTooLarge, zlib.error: abort the transfer
            self.error = e
            return 0
        return None


async def _pycurl(stack: AsyncExitStack, n: int) -> Get:
    import pycurl

    driver = _CurlDriver(pycurl, n)
    stack.callback(driver.close)
    base = _headers()
    return lambda url, headers: driver.get(url, {**base, **headers})


def _curl_cffi(*, stream: bool) -> Callable[[AsyncExitStack, int], Awaitable[Get]]:
    async def make(stack: AsyncExitStack, n: int) -> Get:
        from curl_cffi.requests import AsyncSession

        session: Any = await stack.enter_async_context(
            AsyncSession(
                max_clients=n,
                headers=_headers(),
                allow_redirects=False,
                trust_env=False,
                timeout=LIMITS.total_timeout,
            )
        )

        # accept_encoding=None: no CURLOPT_ACCEPT_ENCODING, so libcurl leaves the body raw
        async def get_streamed(url: str, headers: dict[str, str]) -> tuple[int, int]:
            async with session.stream("GET", url, headers=headers, accept_encoding=None) as resp:
                size = 0
                if resp.status_code == 200:
                    coding = resp.headers.get("content-encoding")
                    size = await _decoded_len(coding, resp.aiter_content())
                return int(resp.status_code), size

        async def get_buffered(url: str, headers: dict[str, str]) -> tuple[int, int]:
            resp = await session.get(url, headers=headers, accept_encoding=None)
            size = 0
            if resp.status_code == 200:
                decoder = CappedDecoder(resp.headers.get("content-encoding"), CAP)
                size = len(decoder.feed(resp.content)) + len(decoder.flush())
            return int(resp.status_code), size

        return get_streamed if stream else get_buffered

    return make


async def _rnet(stack: AsyncExitStack, n: int) -> Get:
    import rnet

    client: Any = rnet.Client(
        default_headers=_headers(),
        allow_redirects=False,
        cookie_store=False,
        referer=False,
        timeout=int(LIMITS.total_timeout),
        connect_timeout=int(LIMITS.connect_timeout),
        pool_max_idle_per_host=n,
        no_proxy=True,
        gzip=False,
        deflate=False,
        brotli=False,
        zstd=False,
    )

    async def get(url: str, headers: dict[str, str]) -> tuple[int, int]:
        async with await client.get(url, headers=headers) as resp:
            size = 0
            if resp.status == 200:
                coding = resp.headers["content-encoding"]
                async with resp.stream() as chunks:
                    size = await _decoded_len(coding.decode() if coding else None, chunks)
            return int(resp.status), size

    return get


async def _chunks(resp: Any) -> AsyncIterator[bytes]:
    """A pyreqwest body's chunks, as the other clients' iterators give them."""
    reader = resp.body_reader
    while (raw := await reader.read_chunk()) is not None:
        yield raw


async def _pyreqwest(stack: AsyncExitStack, n: int) -> Get:
    from pyreqwest.client import ClientBuilder

    client: Any = await stack.enter_async_context(
        ClientBuilder()
        .default_headers(_headers())
        .follow_redirects(False)
        .default_cookie_store(False)
        .no_proxy()
        .gzip(False)
        .deflate(False)
        .brotli(False)
        .zstd(False)
        .timeout(timedelta(seconds=LIMITS.total_timeout))
        .connect_timeout(timedelta(seconds=LIMITS.connect_timeout))
        .pool_max_idle_per_host(n)
        .build()
    )

    async def get(url: str, headers: dict[str, str]) -> tuple[int, int]:
        async with client.get(url).headers(headers).build_streamed() as resp:
            size = 0
            if resp.status == 200:
                size = await _decoded_len(resp.get_header("content-encoding"), _chunks(resp))
            return int(resp.status), size

    return get


def _lazy(make: Callable[[AsyncExitStack, int], Awaitable[Get]]) -> Callable[..., Any]:
    """`make`, or None with a message when its package is not installed."""

    async def wrapped(stack: AsyncExitStack, n: int) -> Get | None:
        try:
            return await make(stack, n)
        except ImportError as e:
            print(f"skipped: {e} (pip install it to compare)", file=sys.stderr)
            return None

    return wrapped


CLIENTS: dict[str, Callable[[AsyncExitStack, int], Awaitable[Get | None]]] = {
    "httpx": _httpx,
    "httpcore": _httpcore,
    "aiohttp": _aiohttp(force_close=False),
    "aiohttp-fc": _aiohttp(force_close=True),
    "watchpost": _watchpost,
    "pycurl": _lazy(_pycurl),
    "curl_cffi": _lazy(_curl_cffi(stream=True)),
    "curl_cffi-buf": _lazy(_curl_cffi(stream=False)),
    "rnet": _lazy(_rnet),
    "pyreqwest": _lazy(_pyreqwest),
}


@dataclass
class Timing:
    wall: float
    cpu: float


async def _batch(
    get: Get, urls: list[str], etags: dict[str, str] | None, n: int
) -> tuple[Timing, dict[int, int], dict[str, int]]:
    """Every URL once, `n` in flight (with its ETag when `etags`); the time, the status counts
    and the decoded body length of each URL."""
    sem = asyncio.Semaphore(n)
    counts: dict[int, int] = {}
    sizes: dict[str, int] = {}

    async def one(url: str) -> None:
        headers = {"If-None-Match": etags[url]} if etags else {}
        async with sem:
            status, sizes[url] = await get(url, headers)
        counts[status] = counts.get(status, 0) + 1

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(u) for u in urls))
    timing = Timing(time.perf_counter() - wall, time.process_time() - cpu)
    return timing, counts, sizes


async def _etags(urls: list[str]) -> dict[str, str]:
    import httpx

    sem = asyncio.Semaphore(32)
    out: dict[str, str] = {}
    async with httpx.AsyncClient(timeout=30) as client:

        async def one(url: str) -> None:
            async with sem:
                out[url] = (await client.head(url)).headers.get("etag") or ""

        await asyncio.gather(*(one(u) for u in urls))
    return out


async def run(base: str, feeds: int, rounds: int, n: int, names: list[str]) -> None:
    urls = [f"{base}/w/feed-{f:04d}.xml" for f in range(feeds)]
    etags = await _etags(urls)
    if not all(etags.values()):
        raise SystemExit("the host gave no ETag for some feeds")
    results: dict[tuple[str, str], list[Timing]] = {}
    async with AsyncExitStack() as stack:
        made = {name: await CLIENTS[name](stack, n) for name in names}
        gets = {name: get for name, get in made.items() if get is not None}
        for get in gets.values():  # warm-up: connections open, code paths hot
            await _batch(get, urls[: n * 2], etags, n)
        rng = random.Random(1)
        reference: dict[str, dict[str, int]] = {}
        decoded: dict[str, float] = {}
        for r in range(rounds):
            order = list(gets)
            rng.shuffle(order)
            for name in order:
                for case, tags in (("304", etags), ("200", None)):
                    timing, counts, sizes = await _batch(gets[name], urls, tags, n)
                    if counts != {int(case): feeds}:
                        raise SystemExit(f"{name} {case}: got statuses {counts}")
                    # every client must decode the same bodies (none on a 304)
                    ref = reference.setdefault(case, sizes)
                    if sizes != ref:
                        bad = sum(sizes[u] != ref[u] for u in urls)
                        raise SystemExit(f"{name} {case}: {bad} decoded lengths differ")
                    decoded[case] = sum(sizes.values()) / feeds
                    results.setdefault((name, case), []).append(timing)
            print(f"round {r + 1}/{rounds} done", file=sys.stderr)
    print(f"{feeds} GETs per batch, {n} in flight, median of {rounds} rounds")
    print(f"decoded bytes per request, the same for every client: {decoded}\n")
    print(f"{'client':<14} {'case':>4} {'wall s':>8} {'CPU µs/req':>11} {'vs httpx':>9}")
    for case in ("304", "200"):
        ref = statistics.median(t.cpu for t in results[("httpx", case)]) if "httpx" in gets else 0
        for name in gets:
            ts = results[(name, case)]
            wall = statistics.median(t.wall for t in ts)
            cpu = statistics.median(t.cpu for t in ts)
            ratio = f"{cpu / ref:.2f}×" if ref else ""
            print(f"{name:<14} {case:>4} {wall:8.2f} {cpu / feeds * 1e6:11.0f} {ratio:>9}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--feeds", type=int, default=1000)
    p.add_argument("--in-flight", type=int, default=32)
    p.add_argument("--latency", type=float, default=0.02)
    p.add_argument(
        "--clients", default=",".join(CLIENTS), help="comma-separated, of: " + ", ".join(CLIENTS)
    )
    args = p.parse_args()
    names = [c for c in args.clients.split(",") if c]
    with _feed_host(args.feeds, args.latency) as base:
        asyncio.run(run(base, args.feeds, args.rounds, args.in_flight, names))


if __name__ == "__main__":
    main()
