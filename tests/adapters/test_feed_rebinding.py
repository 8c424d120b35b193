"""DNS rebinding after a redirect (issue 11): the address the connection uses is judged, not
only the one the redirect check saw. Real HTTP client, fake servers on loopback only:
127.0.0.2 plays a public feed host (the test's `public` says so), 127.0.0.1 an internal
service, and a hostile DNS answers the public address to the check, loopback to the connection."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from bot.errors import SourceRejected
from bot.fakes.feed_server import FeedServer
from bot.fakes.feedgen import FeedEntry, rss
from bot.fakes.http import LocalServer
from bot.model import CachingInfo, SourceForPoll, SourceKind
from bot.sources.addresses import IPAddress, is_public
from bot.sources.feeds import FeedFetcher, HttpLimits

PRETEND_PUBLIC = "127.0.0.2"
INTERNAL = "127.0.0.1"
LIMITS = HttpLimits(total_timeout=5, read_timeout=5, connect_timeout=5)
FEED = rss(
    "internal",
    "https://example.org/",
    [
        FeedEntry(
            id="1",
            title="secret",
            html="<p>internal</p>",
            link="https://example.org/1",
            published=datetime(2020, 9, 27, tzinfo=UTC),
        )
    ],
)


def _public_in_this_test(ip: IPAddress) -> bool:
    return ip == ipaddress.ip_address(PRETEND_PUBLIC) or is_public(ip)


class ScriptedDNS(AbstractResolver):
    """Answers `host` with the next address of `answers` on each call (the last one repeats);
    every other name is unknown."""

    def __init__(self, host: str, *answers: str) -> None:
        self.host = host
        self.answers = list(answers)
        self.calls = 0

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host != self.host:
            raise OSError(f"unknown host {host}")
        ip = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        return [
            ResolveResult(
                hostname=host,
                host=ip,
                port=port,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        pass


@pytest.fixture
def internal() -> Iterator[tuple[FeedServer, LocalServer]]:
    state = FeedServer()
    state.set_feed("/secret.rss", FEED)
    with LocalServer(state.handle, host=INTERNAL) as srv:
        yield state, srv


@pytest.fixture
def public() -> Iterator[tuple[FeedServer, LocalServer]]:
    state = FeedServer()
    with LocalServer(state.handle, host=PRETEND_PUBLIC) as srv:
        yield state, srv


def _source(url: str) -> SourceForPoll:
    return SourceForPoll(
        key=f"feed:{url}",
        kind=SourceKind.FEED,
        target=url,
        caching=CachingInfo(),
        cursor=None,
        failures=0,
        primed=True,
    )


MakeFetcher = Callable[..., FeedFetcher]


@pytest.fixture
async def fetcher_with() -> AsyncIterator[MakeFetcher]:
    """Fetchers with a given resolver (none: the system's), closed after the test."""
    made: list[FeedFetcher] = []

    def make(resolver: AbstractResolver | None = None) -> FeedFetcher:
        made.append(FeedFetcher(LIMITS, public=_public_in_this_test, resolver=resolver))
        return made[-1]

    yield make
    for f in made:
        await f.aclose()


async def test_a_rebinding_answer_at_connection_time_is_refused(
    fetcher_with: MakeFetcher,
    public: tuple[FeedServer, LocalServer],
    internal: tuple[FeedServer, LocalServer],
) -> None:
    pub_state, pub = public
    int_state, srv = internal
    dns = ScriptedDNS("rebind.test", PRETEND_PUBLIC, INTERNAL)  # the check, then the connection
    pub_state.redirect("/feed.rss", f"http://rebind.test:{srv.port}/secret.rss", 302)
    fetcher = fetcher_with(dns)
    with pytest.raises(SourceRejected) as caught:
        await fetcher.fetch(_source(f"{pub.url}/feed.rss"))
    assert "DNS answer for rebind.test at connection time is an internal address" in str(
        caught.value
    )
    assert "(127.0.0.1)" in str(caught.value) and "rebinding" in str(caught.value)
    assert dns.calls == 2  # the check's answer, then the connection's
    assert int_state.requests() == []  # the internal service was never asked


async def test_a_connection_the_operator_opened_to_a_local_host_is_not_reused_after_a_redirect(
    fetcher_with: MakeFetcher,
    public: tuple[FeedServer, LocalServer],
    internal: tuple[FeedServer, LocalServer],
) -> None:
    """The watchlist names bridge.test (a local RSS-Bridge, allowed); its keep-alive connection
    and cached DNS answer must not serve a public feed's redirect to the same host."""
    pub_state, pub = public
    int_state, srv = internal
    # the operator's poll, then the redirect check (hostile: public), then the connection
    dns = ScriptedDNS("bridge.test", INTERNAL, PRETEND_PUBLIC, INTERNAL)
    fetcher = fetcher_with(dns)
    local = await fetcher.fetch(_source(f"http://bridge.test:{srv.port}/secret.rss"))
    assert [i.title for i in local.items] == ["secret"]
    pub_state.redirect("/feed.rss", f"http://bridge.test:{srv.port}/secret.rss", 302)
    with pytest.raises(SourceRejected, match="DNS rebinding"):
        await fetcher.fetch(_source(f"{pub.url}/feed.rss"))
    assert len(int_state.requests()) == 1  # the operator's poll only


async def test_public_answers_at_connection_time_are_followed(
    fetcher_with: MakeFetcher, public: tuple[FeedServer, LocalServer]
) -> None:
    pub_state, pub = public
    pub_state.set_feed("/ok.rss", FEED)
    dns = ScriptedDNS("cdn.test", PRETEND_PUBLIC)
    pub_state.redirect("/feed.rss", f"http://cdn.test:{pub.port}/ok.rss", 301)
    result = await fetcher_with(dns).fetch(_source(f"{pub.url}/feed.rss"))
    assert [i.title for i in result.items] == ["secret"]


async def test_the_system_resolver_is_guarded_too(
    fetcher_with: MakeFetcher,
    public: tuple[FeedServer, LocalServer],
    internal: tuple[FeedServer, LocalServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No resolver injected: the event loop's getaddrinfo answers public to the check and
    loopback to the connection (this test failed on the httpx retriever: the internal service
    served its feed)."""
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo
    calls = 0

    async def hostile(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        name = host.decode() if isinstance(host, bytes) else host  # anyio passes IDNA bytes
        if name != "rebind.test":
            return await real(host, port, *args, **kwargs)
        calls += 1
        ip = PRETEND_PUBLIC if calls == 1 else INTERNAL
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, int(port or 0)))]

    monkeypatch.setattr(loop, "getaddrinfo", hostile)
    pub_state, pub = public
    int_state, srv = internal
    pub_state.redirect("/feed.rss", f"http://rebind.test:{srv.port}/secret.rss", 302)
    with pytest.raises(SourceRejected, match="DNS rebinding"):
        await fetcher_with().fetch(_source(f"{pub.url}/feed.rss"))
    assert int_state.requests() == []
