"""Settled items are not read again (issue 9, `bot.unchanged`), through the real worker: the
feed server, the feed fetcher, SQLite and the fake Bot API. Skipping must never change what is
stored or alerted: each test says what a whole read would have done, and checks it was done."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import App, run_once
from bot.matching import compile_topics
from bot.model import Watchlist
from bot.sources import feeds
from bot.watchlist import parse_watchlist
from storage.schema import StatementRow, VersionRow
from tests.e2e.conftest import WATCHLIST, World, entry

ONE_SOURCE = WATCHLIST.split("  - id: az-mfa")[0] + "topics:" + WATCHLIST.split("topics:")[1]


class Reads:
    """What each parse of a feed read and skipped."""

    def __init__(self) -> None:
        self.log: list[tuple[int, int]] = []

    @property
    def last(self) -> tuple[int, int]:
        return self.log[-1]


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[Reads]:
    seen = Reads()
    real = feeds.parse_feed

    def counting(*args: Any, **kwargs: Any) -> Any:
        parsed = real(*args, **kwargs)
        seen.log.append((len(parsed.items), len(parsed.skipped)))
        return parsed

    monkeypatch.setattr(feeds, "parse_feed", counting)
    yield seen


def _count(app: App, row: type[Any]) -> int:
    with app.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(row)) or 0)


def _texts(app: App) -> list[str]:
    with app.sessions() as s:
        return sorted(s.scalars(select(StatementRow.text)))


async def test_a_changed_feed_reads_only_its_new_item_and_alerts_it(
    world: World, reads: Reads
) -> None:
    world.publish("/am.rss", *(entry(n, f"Karabakh {n}", f"Old statement {n}.") for n in (1, 2, 3)))
    async with world.app(ONE_SOURCE) as app:
        await run_once(app)
        assert reads.last == (3, 0)
        world.publish("/am.rss", entry(4, "Karabakh talks", "A new statement on the talks."))
        outcomes, _ = await run_once(app)
        assert reads.last == (1, 3)
        assert sum(o.new_statements for o in outcomes) == 1
        assert _count(app, StatementRow) == 4
    texts = [m.text for m in world.telegram.messages("@main_watch")]
    assert sum("A new statement" in t for t in texts) == 1


async def test_an_edited_item_is_read_again_and_its_version_kept(
    world: World, reads: Reads
) -> None:
    world.publish("/am.rss", *(entry(n, f"Karabakh {n}", f"Statement {n}.") for n in (1, 2)))
    async with world.app(ONE_SOURCE) as app:
        await run_once(app)
        world.publish("/am.rss", entry(3, "Karabakh 3", "Statement 3."))
        await run_once(app)
        assert reads.last == (1, 2)
        # the publisher corrects statement 2: same guid, another text
        world.entries["/am.rss"][1] = entry(2, "Karabakh 2", "Statement 2, corrected: 14.")
        world.publish("/am.rss")
        await run_once(app)
        assert reads.last == (1, 2)
        assert _count(app, VersionRow) == 1
        with app.sessions() as s:
            assert s.scalars(select(VersionRow.text)).one() == "Statement 2, corrected: 14."


def _publish_karabakh_and_lachin(world: World) -> None:
    """Two items, the second matching no topic of ONE_SOURCE (until "Lachin" is added)."""
    world.publish(
        "/am.rss",
        entry(1, "Karabakh", "The ministry on Karabakh."),
        entry(2, "Lachin", "The Lachin road is open."),
    )


def _with_lachin(world: World) -> Watchlist:
    """ONE_SOURCE with "Lachin" among its terms, as an operator's edit makes it."""
    text = ONE_SOURCE.replace("Stepanakert]", "Stepanakert, Lachin]")
    return parse_watchlist(text.replace("{feeds}", world.feeds.url), path="test.yaml")


async def test_an_item_that_matched_nothing_is_matched_again_after_a_reload(
    world: World, reads: Reads
) -> None:
    _publish_karabakh_and_lachin(world)
    async with world.app(ONE_SOURCE) as app:
        await run_once(app)
        world.publish("/am.rss", entry(3, "Karabakh talks", "Talks on Karabakh resume."))
        await run_once(app)
        assert reads.last == (1, 2)  # "Lachin" matched nothing, and is settled as such
        assert not any("Lachin" in t for t in _texts(app))
        # an operator adds the term: the next poll reads every item again
        wl = _with_lachin(world)
        app.poller.replace_watchlist(wl, compile_topics(wl.topics))
        app.dispatcher.replace_watchlist(wl)
        world.publish("/am.rss", entry(4, "Karabakh", "One more on Karabakh."))
        await run_once(app)
        assert reads.last == (4, 0)
        assert any("Lachin" in t for t in _texts(app))


async def test_what_was_settled_is_used_by_the_next_process(world: World, reads: Reads) -> None:
    # `watchpost once` from cron, or a restarted worker: the settled items are in storage
    world.publish("/am.rss", *(entry(n, f"Karabakh {n}", f"Statement {n}.") for n in (1, 2, 3)))
    async with world.app(ONE_SOURCE) as app:
        await run_once(app)
        assert reads.last == (3, 0)
    world.publish("/am.rss", entry(4, "Karabakh 4", "Statement 4."))
    async with world.app(ONE_SOURCE) as app:
        outcomes, _ = await run_once(app)
        assert reads.last == (1, 3)
        assert sum(o.new_statements for o in outcomes) == 1
    # the next process's watchlist has another term: every item is read, and matched, again
    world.publish("/am.rss", entry(5, "Lachin", "The Lachin road is open."))
    world.publish("/am.rss", entry(6, "Karabakh 6", "Statement 6."))
    async with world.app(ONE_SOURCE.replace("Stepanakert]", "Stepanakert, Lachin]")) as app:
        await run_once(app)
        assert reads.last == (6, 0)
        assert any("Lachin" in t for t in _texts(app))


async def test_a_poll_begun_before_a_reload_settles_nothing(
    world: World, reads: Reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    _publish_karabakh_and_lachin(world)
    async with world.app(ONE_SOURCE) as app:
        await run_once(app)
        wl = _with_lachin(world)
        fetcher = app.poller._fetchers[wl.sources()[0].kind]
        real = fetcher.fetch

        async def reloaded_meanwhile(source: Any) -> Any:
            # the operator's edit lands while this poll's answer is on its way
            result = await real(source)
            app.poller.replace_watchlist(wl, compile_topics(wl.topics))
            return result

        monkeypatch.setattr(fetcher, "fetch", reloaded_meanwhile)
        world.publish("/am.rss", entry(3, "Karabakh talks", "Talks on Karabakh resume."))
        await run_once(app)
        assert reads.last == (1, 2)  # read under the old topics: "Lachin" skipped as settled
        monkeypatch.setattr(fetcher, "fetch", real)
        world.publish("/am.rss", entry(4, "Karabakh", "One more on Karabakh."))
        await run_once(app)
        assert reads.last == (4, 0)
        assert any("Lachin" in t for t in _texts(app))


def _without_caching(world: World) -> None:
    """The feed server answers without ETag and Last-Modified (so never 304)."""
    real = world.feed_state.handle

    def no_caching(request: Any) -> Any:
        answer = real(request)
        dropped = ("etag", "last-modified")
        headers = [(k, v) for k, v in answer.header_pairs() if k.lower() not in dropped]
        return replace(answer, headers=headers)

    world.feeds.handler = no_caching


async def test_a_feed_without_caching_headers_reads_only_what_changed(
    world: World, reads: Reads
) -> None:
    # Most official sites send neither ETag nor Last-Modified: every poll is a 200. What the
    # row holds is what the last stored poll settled, whatever the headers.
    world.publish("/am.rss", *(entry(n, f"Karabakh {n}", f"Statement {n}.") for n in (1, 2)))
    _without_caching(world)
    async with world.app(ONE_SOURCE) as app:
        await run_once(app)
        world.publish("/am.rss", entry(3, "Karabakh 3", "Statement 3."))
        await run_once(app)
        assert reads.last == (1, 2)
        assert _count(app, StatementRow) == 3
        # the publisher corrects statement 1 in place: read, and kept as a version
        world.entries["/am.rss"][0] = entry(1, "Karabakh 1", "Statement 1, corrected.")
        world.publish("/am.rss")
        await run_once(app)
        assert reads.last == (1, 2)
        assert _count(app, VersionRow) == 1
        # nothing changed: nothing read, nothing stored
        await run_once(app)
        assert reads.last == (0, 3)
        assert (_count(app, StatementRow), _count(app, VersionRow)) == (3, 1)


async def test_a_poll_not_stored_leaves_its_items_to_be_read_again(
    world: World, reads: Reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.publish("/am.rss", *(entry(n, f"Karabakh {n}", f"Statement {n}.") for n in (1, 2)))
    async with world.app(ONE_SOURCE) as app:
        await run_once(app)
        world.publish("/am.rss", entry(3, "Karabakh 3", "Statement 3."))
        from bot import pipeline
        from bot.errors import StorageError

        real = pipeline._store_decided

        def failing(*args: Any, **kwargs: Any) -> Any:
            raise StorageError("disk full")

        monkeypatch.setattr(pipeline, "_store_decided", failing)
        await run_once(app)
        assert _count(app, StatementRow) == 2
        monkeypatch.setattr(pipeline, "_store_decided", real)
        world.publish("/am.rss", entry(4, "Karabakh 4", "Statement 4."))
        outcomes, _ = await run_once(app)
        # the failed poll settled nothing: 3 and 4 are both read and stored
        assert reads.last == (2, 2)
        assert sum(o.new_statements for o in outcomes) == 2
        assert _count(app, StatementRow) == 4


def _snapshot(app: App) -> list[tuple[Any, ...]]:
    with app.sessions() as s:
        rows = s.execute(
            select(StatementRow.external_id, StatementRow.text, StatementRow.duplicate_of)
        ).all()
        versions = s.execute(select(VersionRow.statement_id, VersionRow.text)).all()
    return sorted(tuple(r) for r in rows) + sorted(tuple(v) for v in versions)


async def _scenario(world: World) -> tuple[list[tuple[Any, ...]], list[str]]:
    """Feeds that do what feeds do between polls; what was stored and sent."""
    from bot.fakes.feedgen import FeedEntry

    undated = FeedEntry("urn:undated", "Karabakh", "<p>Undated, unlinked.</p>", None, None)
    world.publish(
        "/am.rss",
        entry(1, "Karabakh 1", "Statement 1 on Karabakh."),
        entry(2, "Weather", "Sunny in Yerevan."),
        undated,
    )
    states = [
        lambda: world.publish("/am.rss", entry(3, "Karabakh 3", "Statement 3 on Karabakh.")),
        # an edit of a known statement, then back to its first text
        lambda: world.entries["/am.rss"].__setitem__(
            0, entry(1, "Karabakh 1", "Statement 1 on Karabakh, corrected.")
        ),
        lambda: world.entries["/am.rss"].__setitem__(
            0, entry(1, "Karabakh 1", "Statement 1 on Karabakh.")
        ),
        # a second item under the guid of a settled one
        lambda: world.publish("/am.rss", entry(3, "Karabakh 3", "Another text on Karabakh.")),
        # an item leaves the feed, a new one comes
        lambda: world.entries["/am.rss"].pop(1),
        lambda: world.publish("/am.rss", entry(5, "Karabakh 5", "Statement 5 on Karabakh.")),
        # the same statement again under another guid: a repeat
        lambda: world.publish("/am.rss", entry(6, "Karabakh 5", "Statement 5 on Karabakh.")),
        lambda: world.publish("/am.rss", entry(7, "Karabakh 7", "Statement 7 on Karabakh.")),
    ]
    async with world.app(ONE_SOURCE.replace('am.rss"', 'am.rss"\n        edits: alert')) as app:
        await run_once(app)
        for change in states:
            change()
            world.publish("/am.rss")
            await run_once(app)
        snapshot = _snapshot(app)
    return snapshot, [m.text for m in world.telegram.messages("@main_watch")]


@pytest.mark.parametrize("caching", [True, False], ids=["validators", "no-validators"])
async def test_skipping_stores_and_sends_what_reading_everything_does(
    world: World, reads: Reads, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, caching: bool
) -> None:
    from bot import pipeline
    from bot.fakes.feed_server import FeedServer
    from bot.fakes.http import LocalServer
    from bot.fakes.telegram_api import FakeTelegram
    from tests.e2e.conftest import CHATS, TOKEN

    if not caching:
        _without_caching(world)
    skipping = await _scenario(world)
    assert any(skipped for _, skipped in reads.log), "the scenario skipped nothing"
    monkeypatch.setattr(pipeline, "SettledItems", lambda stored, scope: {})
    whole_dir = tmp_path / "whole"
    whole_dir.mkdir()
    state, telegram = FeedServer(), FakeTelegram(tokens={TOKEN}, chats=CHATS)
    with LocalServer(state.handle) as feeds_server, LocalServer(telegram.handle) as tg:
        whole_world = World(whole_dir, feeds_server, state, telegram, tg)
        if not caching:
            _without_caching(whole_world)
        whole = await _scenario(whole_world)
        other_url = feeds_server.url
    assert skipping[0] == whole[0]

    # the messages name the feed's URL, which differs between the two servers, and the
    # undated item's time is when each run fetched it
    def same(texts: list[str], url: str) -> list[str]:
        return [re.sub(r"\d\d:\d\d|\d{4}-\d\d-\d\d", "", t.replace(url, "")) for t in texts]

    assert same(skipping[1], world.feeds.url) == same(whole[1], other_url)
    assert len(whole[1]) >= 5
