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
  guard's sessions, the error mapping), without parsing.

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
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO))

from bot.model import CachingInfo, SourceForPoll, SourceKind  # noqa: E402
from bot.sources.decoding import ACCEPT_ENCODING, CappedDecoder  # noqa: E402
from bot.sources.feeds import ACCEPT, FeedFetcher, HttpLimits  # noqa: E402
from bot.sources.telegram import make_http_client  # noqa: E402

CAP = 10_000_000
LIMITS = HttpLimits()

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
                decoder = CappedDecoder(resp.headers.get("content-encoding"), CAP)
                async for raw in resp.aiter_raw():
                    size += len(decoder.feed(raw))
                size += len(decoder.flush())
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
                decoder = CappedDecoder(coding, CAP)
                async for raw in resp.aiter_stream():
                    size += len(decoder.feed(raw))
                size += len(decoder.flush())
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
                    decoder = CappedDecoder(resp.headers.get("Content-Encoding"), CAP)
                    async for raw in resp.content.iter_any():
                        size += len(decoder.feed(raw))
                    size += len(decoder.flush())
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


CLIENTS: dict[str, Callable[[AsyncExitStack, int], Awaitable[Get]]] = {
    "httpx": _httpx,
    "httpcore": _httpcore,
    "aiohttp": _aiohttp(force_close=False),
    "aiohttp-fc": _aiohttp(force_close=True),
    "watchpost": _watchpost,
}


@dataclass
class Timing:
    wall: float
    cpu: float


async def _batch(
    get: Get, urls: list[str], etags: dict[str, str] | None, n: int
) -> tuple[Timing, dict[int, int]]:
    """Every URL once, `n` in flight (with its ETag when `etags`); the time and status counts."""
    sem = asyncio.Semaphore(n)
    counts: dict[int, int] = {}

    async def one(url: str) -> None:
        headers = {"If-None-Match": etags[url]} if etags else {}
        async with sem:
            status, _ = await get(url, headers)
        counts[status] = counts.get(status, 0) + 1

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(u) for u in urls))
    timing = Timing(time.perf_counter() - wall, time.process_time() - cpu)
    return timing, counts


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
        gets = {name: await CLIENTS[name](stack, n) for name in names}
        for get in gets.values():  # warm-up: connections open, code paths hot
            await _batch(get, urls[: n * 2], etags, n)
        rng = random.Random(1)
        for r in range(rounds):
            order = list(gets)
            rng.shuffle(order)
            for name in order:
                for case, tags in (("304", etags), ("200", None)):
                    timing, counts = await _batch(gets[name], urls, tags, n)
                    if counts != {int(case): feeds}:
                        raise SystemExit(f"{name} {case}: got statuses {counts}")
                    results.setdefault((name, case), []).append(timing)
            print(f"round {r + 1}/{rounds} done", file=sys.stderr)
    print(f"{feeds} GETs per batch, {n} in flight, median of {rounds} rounds\n")
    print(f"{'client':<12} {'case':>4} {'wall s':>8} {'CPU µs/req':>11} {'vs httpx':>9}")
    for case in ("304", "200"):
        ref = statistics.median(t.cpu for t in results[("httpx", case)]) if "httpx" in gets else 0
        for name in gets:
            ts = results[(name, case)]
            wall = statistics.median(t.wall for t in ts)
            cpu = statistics.median(t.cpu for t in ts)
            ratio = f"{cpu / ref:.2f}×" if ref else ""
            print(f"{name:<12} {case:>4} {wall:8.2f} {cpu / feeds * 1e6:11.0f} {ratio:>9}")


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
