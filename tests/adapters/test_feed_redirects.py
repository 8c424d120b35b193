"""The feed retriever's redirect guard (issue 11), with the real HTTP client against fake
servers on loopback only: 127.0.0.2 plays a public feed host (the test's `public` says so) and
127.0.0.1 an internal service that a public feed must not make the worker read."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest

from bot.errors import SourceRejected
from bot.fakes.feed_server import FeedServer
from bot.fakes.feedgen import FeedEntry, rss
from bot.fakes.http import LocalServer
from bot.model import CachingInfo, SourceForPoll, SourceKind
from bot.sources.addresses import (
    IPAddress,
    answer_refusal,
    chain_is_public,
    is_public,
    redirect_refusal,
)
from bot.sources.feeds import FeedFetcher, HttpLimits

PRETEND_PUBLIC = ipaddress.ip_address("127.0.0.2")
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
    return ip == PRETEND_PUBLIC or is_public(ip)


@pytest.fixture
def internal() -> Iterator[tuple[FeedServer, LocalServer]]:
    state = FeedServer()
    state.set_feed("/secret.rss", FEED)
    with LocalServer(state.handle, host="127.0.0.1") as srv:
        yield state, srv


@pytest.fixture
def public() -> Iterator[tuple[FeedServer, LocalServer]]:
    state = FeedServer()
    state.set_feed("/ok.rss", FEED)
    with LocalServer(state.handle, host="127.0.0.2") as srv:
        yield state, srv


@pytest.fixture
async def fetcher() -> AsyncIterator[FeedFetcher]:
    limits = HttpLimits(total_timeout=5, read_timeout=5, connect_timeout=5)
    fetcher = FeedFetcher(limits, public=_public_in_this_test)
    yield fetcher
    await fetcher.aclose()


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


async def test_public_feed_redirecting_to_an_internal_address_is_refused(
    fetcher: FeedFetcher,
    public: tuple[FeedServer, LocalServer],
    internal: tuple[FeedServer, LocalServer],
) -> None:
    pub_state, pub = public
    int_state, srv = internal
    pub_state.redirect("/feed.rss", f"{srv.url}/secret.rss", 302)
    with pytest.raises(SourceRejected, match="public address to an internal one"):
        await fetcher.fetch(_source(f"{pub.url}/feed.rss"))
    assert int_state.requests() == []  # the internal service was never asked


async def test_an_internal_address_the_operator_wrote_is_allowed(
    fetcher: FeedFetcher, internal: tuple[FeedServer, LocalServer]
) -> None:
    int_state, srv = internal
    int_state.redirect("/old.rss", "/secret.rss", 301)  # a local RSSHub's own redirect
    result = await fetcher.fetch(_source(f"{srv.url}/old.rss"))
    assert [i.title for i in result.items] == ["secret"]


async def test_public_to_public_redirects_are_followed(
    fetcher: FeedFetcher, public: tuple[FeedServer, LocalServer]
) -> None:
    state, pub = public
    state.redirect("/moved.rss", f"{pub.url}/ok.rss", 308)
    result = await fetcher.fetch(_source(f"{pub.url}/moved.rss"))
    assert [i.title for i in result.items] == ["secret"]


async def test_a_redirect_to_another_scheme_is_refused(
    fetcher: FeedFetcher, public: tuple[FeedServer, LocalServer]
) -> None:
    state, pub = public
    state.redirect("/f.rss", "file:///etc/passwd", 302)
    with pytest.raises(SourceRejected, match="file URL refused"):
        await fetcher.fetch(_source(f"{pub.url}/f.rss"))


V = ipaddress.ip_address


@pytest.mark.parametrize(
    ("from_ips", "to_ips", "refused"),
    [
        (["93.184.216.34"], ["169.254.169.254"], True),  # cloud metadata
        (["93.184.216.34"], ["10.1.2.3"], True),
        (["93.184.216.34"], ["::1"], True),
        (["93.184.216.34"], ["::ffff:127.0.0.1"], True),  # IPv4-mapped loopback
        (["93.184.216.34"], ["100.64.0.1"], True),  # carrier-grade NAT
        (["93.184.216.34"], ["93.184.216.35", "127.0.0.1"], True),  # one bad answer is enough
        (["93.184.216.34"], ["151.101.1.1"], False),
        (["127.0.0.1"], ["10.0.0.5"], False),  # a local bridge's own redirects
        (["93.184.216.34"], [], True),  # no address at all
    ],
)
def test_redirect_refusal_table(from_ips: list[str], to_ips: list[str], refused: bool) -> None:
    got = redirect_refusal([V(i) for i in from_ips], [V(i) for i in to_ips])
    assert (got is not None) == refused


def test_a_chain_that_came_from_a_public_address_stays_public() -> None:
    # a hostile hop cannot shed the rule by looking internal itself
    assert chain_is_public(True, [V("127.0.0.1")])
    assert chain_is_public(False, [V("93.184.216.34")])
    assert not chain_is_public(False, [V("127.0.0.1")])  # a local bridge's own redirects
    assert redirect_refusal([V("10.0.0.1")], [V("127.0.0.1")], public_chain=True) is not None
    assert redirect_refusal([V("10.0.0.1")], [V("127.0.0.1")]) is None


@pytest.mark.parametrize(
    ("ips", "refused"),
    [
        (["93.184.216.34"], False),
        (["127.0.0.1"], True),
        (["169.254.169.254"], True),
        (["93.184.216.34", "::1"], True),  # the connection may use any of them
        (["::ffff:10.0.0.1"], True),
    ],
)
def test_answer_refusal_table(ips: list[str], refused: bool) -> None:
    got = answer_refusal("feed.example", [V(i) for i in ips])
    assert (got is not None) == refused
    if got is not None:
        assert "feed.example" in got and "DNS rebinding" in got
