"""Deleted or only hidden: the decision from the window of posts a poll still saw."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.model import PostWindow
from bot.vanished import post_number, vanished

SINCE = datetime(2020, 9, 27, tzinfo=UTC)


def window(*present: int) -> PostWindow:
    return PostWindow(low=min(present), high=max(present), present=frozenset(present), since=SINCE)


def known(*numbers: int) -> list[tuple[int, str]]:
    return [(1000 + n, f"chan/{n}") for n in numbers]


@pytest.mark.parametrize(
    ("stored", "shown", "gone"),
    [
        ((10, 11, 12), (10, 11, 12), []),  # all still there
        ((10, 11, 12), (10, 12), [1011]),  # gone between two neighbours shown
        ((10, 11, 12), (10, 11), []),  # the newest is never judged: no neighbour above
        ((10, 11, 12), (11, 12), []),  # nor the oldest: it may just have left the page
        ((10, 13), (10, 11, 12, 13), []),  # album items 11-12 count as shown
        ((5, 20), (10, 15), []),  # outside the window
        ((10, 11, 12, 13), (10, 13), [1011, 1012]),
    ],
    ids=["kept", "deleted", "newest", "oldest", "album", "outside", "two"],
)
def test_only_a_post_missing_between_shown_neighbours_is_deleted(
    stored: tuple[int, ...], shown: tuple[int, ...], gone: list[int]
) -> None:
    assert vanished(known(*stored), window(*shown)) == gone


def test_a_hidden_post_is_shown_so_not_deleted() -> None:
    # The placeholder block ("Please open Telegram to view this post") carries its number.
    assert vanished(known(10, 11, 12), window(10, 11, 12)) == []


def test_ids_that_are_not_post_numbers_are_never_judged() -> None:
    assert vanished([(1, "https://example.org/x"), (2, "chan/abc")], window(1, 5)) == []
    assert post_number("chan/42") == 42 and post_number("42x") is None
    assert post_number("chan/\u00b2") is None  # a superscript is a digit to isdigit(), not to int()


@settings(derandomize=True, deadline=None)
@given(st.sets(st.integers(1, 200), min_size=1), st.sets(st.integers(1, 200), min_size=1))
def test_a_shown_post_is_never_found_deleted(stored: set[int], shown: set[int]) -> None:
    gone = {sid - 1000 for sid in vanished(known(*stored), window(*shown))}
    assert not gone & shown
    assert all(min(shown) < n < max(shown) for n in gone)
