"""`statements_to_store`: which fetched items matter, where they go, and the first-poll rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.matching import compile_topics
from bot.model import CachingInfo, Channel, MatchMode, SourceForPoll, SourceKind
from bot.pipeline import statements_to_store
from tests.builders import T0, item, spec, watchlist


def _source(primed: bool) -> SourceForPoll:
    return SourceForPoll(
        key=spec().key,
        kind=SourceKind.FEED,
        target="https://example.org/rss",
        caching=CachingInfo(),
        cursor=None,
        failures=0,
        primed=primed,
    )


WL = watchlist(spec(), channels=(Channel("main", "@main"), Channel("cf", "@cf", ("ceasefire",))))
MATCHER = compile_topics(WL.topics)


def test_irrelevant_items_are_dropped_and_relevant_ones_routed() -> None:
    items = [
        item(1, title="Weather report", text="Sunny in Yerevan."),
        item(2, title="On Karabakh", text="A statement."),
        item(3, title="Ceasefire", text="We call for a ceasefire in Karabakh."),
    ]
    out = statements_to_store(spec(), _source(True), items, WL, MATCHER, now=T0)
    assert [(s.item.external_id, s.channels) for s in out] == [
        ("id-2", ("main",)),
        ("id-3", ("main", "cf")),
    ]


def test_match_all_keeps_every_item_for_unfiltered_channels() -> None:
    every = replace(spec(), match=MatchMode.ALL)
    out = statements_to_store(
        every, _source(True), [item(1, title="Weather", text="Sunny.")], WL, MATCHER, now=T0
    )
    assert [(s.item.external_id, s.matches, s.channels) for s in out] == [("id-1", (), ("main",))]


def test_oldest_first_whatever_the_feed_order() -> None:
    items = [item(3), item(1), item(2)]
    out = statements_to_store(spec(), _source(True), items, WL, MATCHER, now=T0)
    assert [s.item.external_id for s in out] == ["id-1", "id-2", "id-3"]


def test_front_page_links_do_not_identify_a_statement() -> None:
    out = statements_to_store(
        spec(),
        _source(True),
        [
            item(1, url="https://www.Example.org/"),
            item(2, url="https://example.org/a/?utm_source=x"),
        ],
        WL,
        MATCHER,
        now=T0,
    )
    assert [s.canonical_url for s in out] == [None, "https://example.org/a"]


@given(n=st.integers(0, 12), backfill=st.integers(0, 15))
def test_first_poll_alerts_only_the_newest_backfill_items(n: int, backfill: int) -> None:
    items = [item(i, published=T0 + timedelta(minutes=i)) for i in range(n)]
    out = statements_to_store(spec(backfill=backfill), _source(False), items, WL, MATCHER, now=T0)
    alerting = [s.item.external_id for s in out if s.channels]
    assert len(out) == n  # everything relevant is stored
    assert alerting == [f"id-{i}" for i in range(max(0, n - backfill), n)]


def test_once_primed_everything_relevant_alerts() -> None:
    out = statements_to_store(spec(), _source(True), [item(1), item(2)], WL, MATCHER, now=T0)
    assert all(s.channels == ("main",) for s in out)


def test_short_texts_are_not_checked_for_repeats() -> None:
    out = statements_to_store(
        spec(),
        _source(True),
        [item(1, text="Karabakh."), item(2, text="Karabakh " + "and the line of contact " * 5)],
        WL,
        MATCHER,
        now=T0,
    )
    assert [s.check_repeat for s in out] == [False, True]
