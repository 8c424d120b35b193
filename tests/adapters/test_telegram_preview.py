"""The preview fetcher (real httpx) against the fake t.me on 127.0.0.1, and the fake itself."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest

from bot.errors import FeedParseError, SourceHeld, SourceRejected, SourceUnavailable
from bot.fakes.http import LocalServer
from bot.fakes.telegram_preview import FakePreview
from bot.model import CachingInfo, FetchResult, SourceForPoll, SourceKind
from bot.sources.feeds import HttpLimits
from bot.sources.pacing import HostPacer, Pace
from bot.sources.telegram import PreviewLimits, TelegramPreviewFetcher, make_http_client

UA = "Watchpost-test/1 (+https://example.org/watchpost)"


class FakeTime:
    """A monotonic clock that moves only when the fetcher sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def preview() -> Iterator[tuple[FakePreview, LocalServer]]:
    fake = FakePreview()
    fake.add_channel("MODAzerbaijan", "MOD")
    with LocalServer(fake.handle) as server:
        yield fake, server


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with make_http_client(HttpLimits(user_agent=UA, max_body_bytes=200_000)) as c:
        yield c


def _fetcher(
    client: httpx.AsyncClient,
    server: LocalServer,
    time: FakeTime,
    *,
    interval: float = 0.0,
    max_pages: int = 50,
) -> TelegramPreviewFetcher:
    return TelegramPreviewFetcher(
        client,
        HttpLimits(user_agent=UA, max_body_bytes=200_000),
        PreviewLimits(base_url=server.url, max_pages=max_pages, max_wait=30.0),
        HostPacer(Pace(interval=interval, jitter=0.0)),
        clock=lambda: datetime(2020, 9, 28, tzinfo=UTC),
        monotonic=time.monotonic,
        sleep=time.sleep,
    )


NO_CACHING = CachingInfo()


def _source(cursor: str | None = None, caching: CachingInfo = NO_CACHING) -> SourceForPoll:
    return SourceForPoll(
        key="telegram:modazerbaijan",
        kind=SourceKind.TELEGRAM,
        target="MODAzerbaijan",
        caching=caching,
        cursor=cursor,
        failures=0,
        primed=cursor is not None,
    )


async def test_first_poll_reads_the_newest_page_only(preview, client) -> None:
    fake, server = preview
    for i in range(45):
        fake.post("MODAzerbaijan", f"Post {i}.")
    result = await _fetcher(client, server, FakeTime()).fetch(_source())
    assert [i.external_id for i in result.items] == [f"modazerbaijan/{n}" for n in range(26, 46)]
    assert result.cursor == "45" and result.requests == 1
    assert result.window is not None and (result.window.low, result.window.high) == (26, 45)
    (req,) = fake.requests()
    assert req.user_agent == UA and req.before is None


async def test_later_polls_page_down_to_the_cursor(preview, client) -> None:
    fake, server = preview
    for i in range(70):
        fake.post("MODAzerbaijan", f"Post {i}.")
    result = await _fetcher(client, server, FakeTime()).fetch(_source("12"))
    numbers = sorted(int(i.external_id.split("/")[1]) for i in result.items)
    assert numbers[0] <= 13 and numbers[-1] == 70 and set(range(13, 71)) <= set(numbers)
    assert [r.before for r in fake.requests()] == [None, 51, 31]
    assert result.cursor == "70"


async def test_the_page_limit_leaves_a_gap_in_the_cursor_then_reads_it(preview, client) -> None:
    fake, server = preview
    for i in range(100):
        fake.post("MODAzerbaijan", f"Post {i}.")
    fetcher = _fetcher(client, server, FakeTime(), max_pages=1)
    first = await fetcher.fetch(_source("10"))
    assert first.cursor == "100 gap=11-60"
    assert any("posts 11-60 (up to 50) not read yet" in w for w in first.warnings)
    second = await fetcher.fetch(_source(first.cursor))
    assert second.cursor == "100 gap=11-40"
    third = await fetcher.fetch(_source(second.cursor))
    fourth = await fetcher.fetch(_source(third.cursor))
    assert third.cursor == "100 gap=11-20" and fourth.cursor == "100"
    read = {i.external_id for r in (first, second, third, fourth) for i in r.items}
    assert read == {f"modazerbaijan/{n}" for n in range(11, 101)} | {
        f"modazerbaijan/{n}" for n in range(1, 11)
    }


async def test_requests_are_paced_per_host(preview, client) -> None:
    fake, server = preview
    fake.post("MODAzerbaijan", "One.")
    time = FakeTime()
    fetcher = _fetcher(client, server, time, interval=1.5)
    await fetcher.fetch(_source("1"))
    await fetcher.fetch(_source("1"))
    await fetcher.fetch(_source("1"))
    assert time.slept == [1.5, 1.5]


async def test_a_429_holds_the_host_and_the_next_poll_is_held(preview, client) -> None:
    fake, server = preview
    fetcher = _fetcher(client, server, FakeTime())
    fake.fail_next(1, 429, retry_after=120)
    with pytest.raises(SourceUnavailable) as exc:
        await fetcher.fetch(_source("1"))
    assert exc.value.retry_after == 120
    with pytest.raises(SourceHeld) as held:
        await fetcher.fetch(_source("1"))
    assert held.value.retry_after is not None and held.value.retry_after > 100
    assert len(fake.requests()) == 1


async def test_conditional_requests_when_the_server_allows_them(preview, client) -> None:
    fake, server = preview
    fake.send_etags()
    fake.post("MODAzerbaijan", "One.")
    fetcher = _fetcher(client, server, FakeTime())
    first = await fetcher.fetch(_source("1"))
    assert first.caching.etag
    again = await fetcher.fetch(_source("1", first.caching))
    assert again.not_modified and again.items == ()
    assert fake.requests()[-1].if_none_match == first.caching.etag
    assert fake.requests()[-1].status == 304


@pytest.mark.parametrize(
    ("target", "preview_off"),
    [("MODAzerbaijan", True), ("NoSuchChannel1", False)],
    ids=["preview-off", "no-such-channel"],
)
async def test_no_preview_is_a_rejection_naming_the_channel(
    preview, client, target: str, preview_off: bool
) -> None:
    fake, server = preview
    if preview_off:
        fake.disable_preview("MODAzerbaijan")
    source = replace(_source(), target=target)
    with pytest.raises(SourceRejected) as exc:
        await _fetcher(client, server, FakeTime()).fetch(source)
    assert "has no public preview" in exc.value.message
    assert f"t.me/s/{target}" in exc.value.message
    assert [r.status for r in fake.requests()] == [302]


async def test_a_renamed_channel_is_read_under_its_configured_identity(preview, client) -> None:
    fake, server = preview
    fake.post("MODAzerbaijan", "Before.")
    fake.rename("MODAzerbaijan", "MOD_AZ")
    fake.post("MOD_AZ", "After.")
    result = await _fetcher(client, server, FakeTime()).fetch(_source("1"))
    assert isinstance(result, FetchResult)
    assert [i.external_id for i in result.items] == ["modazerbaijan/1", "modazerbaijan/2"]
    assert any("renamed" in w and "/s/MOD_AZ" in w for w in result.warnings)


async def test_an_oversized_page_is_refused(preview, client) -> None:
    fake, server = preview
    for i in range(20):
        fake.post("MODAzerbaijan", "Qarabağ " * 1500 + str(i))
    with pytest.raises(FeedParseError, match="cap"):
        await _fetcher(client, server, FakeTime()).fetch(_source())


def test_the_fake_pages_like_the_preview() -> None:
    fake = FakePreview()
    fake.add_channel("chan_one", "One")
    numbers = [fake.post("chan_one", f"p{i}", album=2 if i == 3 else 0) for i in range(30)]
    assert numbers[3:6] == [4, 6, 7]  # an album's items take numbers
    fake.delete("chan_one", 10)
    posts = [p for p in fake.posts("chan_one") if not p.deleted]
    assert len(posts) == 29


async def test_an_unreachable_host_is_a_passing_failure(client) -> None:
    with LocalServer(FakePreview().handle) as server:
        url = server.url  # the port is closed once the server stops
    fetcher = TelegramPreviewFetcher(
        client,
        HttpLimits(user_agent=UA),
        PreviewLimits(base_url=url),
        HostPacer(Pace(interval=0.0, jitter=0.0)),
    )
    with pytest.raises(SourceUnavailable, match="ConnectError"):
        await fetcher.fetch(_source("1"))
