"""The feed fetcher against the local feed server: an encoding repair is said once per source."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest

from bot.fakes.feed_server import FeedServer
from bot.fakes.http import LocalServer
from bot.model import CachingInfo, SourceForPoll, SourceKind
from bot.sources.feeds import FeedFetcher, HttpLimits

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def mojibake(text: str) -> str:
    """`text` as a feed that read its UTF-8 bytes as windows-1252 publishes it."""
    return text.encode("utf-8").decode("sloppy-windows-1252")


def rss(*titles: str) -> bytes:
    items = "".join(
        f"<item><guid>{n}</guid><title>{t}</title></item>" for n, t in enumerate(titles)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>MFA</title>'
        f"{items}</channel></rss>"
    ).encode()


def source(url: str) -> SourceForPoll:
    return SourceForPoll(
        key=f"feed:{url}",
        kind=SourceKind.FEED,
        target=url,
        caching=CachingInfo(),
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
    fetcher = FeedFetcher(HttpLimits(), clock=lambda: NOW)
    yield fetcher
    await fetcher.aclose()


def repair_lines(warnings: tuple[str, ...]) -> list[str]:
    return [w for w in warnings if "double-encoded UTF-8 repaired" in w]


async def test_repair_is_reported_once_per_source_and_every_poll_is_repaired(
    feeds: tuple[FeedServer, LocalServer], fetcher: FeedFetcher
) -> None:
    state, server = feeds
    # Served without validators, so every poll is a 200 with the body to parse again.
    state.set_raw("/am.rss", rss(mojibake("It’s Karabakh"), "Plain"), {"Content-Type": "text/xml"})
    state.set_raw(
        "/az.rss", rss(mojibake("Qarabağda atəşkəs pozulub")), {"Content-Type": "text/xml"}
    )
    am, az = source(f"{server.url}/am.rss"), source(f"{server.url}/az.rss")

    first = await fetcher.fetch(am)
    assert [i.title for i in first.items] == ["It’s Karabakh", "Plain"]
    assert repair_lines(first.warnings) == [
        "double-encoded UTF-8 repaired in 1 of 2 items (the raw payload keeps the text as "
        "published; said once per source)"
    ]
    again = await fetcher.fetch(am)
    assert again.items == first.items  # still repaired, the same text: the same hash
    assert repair_lines(again.warnings) == []

    other = await fetcher.fetch(az)
    assert other.items[0].title == "Qarabağda atəşkəs pozulub"
    assert len(repair_lines(other.warnings)) == 1


async def test_correct_feed_says_nothing(
    feeds: tuple[FeedServer, LocalServer], fetcher: FeedFetcher
) -> None:
    state, server = feeds
    state.set_raw("/ru.rss", rss("Заявление по Карабаху"), {"Content-Type": "text/xml"})
    result = await fetcher.fetch(source(f"{server.url}/ru.rss"))
    assert result.items[0].title == "Заявление по Карабаху"
    assert repair_lines(result.warnings) == []
