"""Forum topics for an alert (issue 11): `bot.routing.thread_for`."""

from __future__ import annotations

import pytest

from bot.model import Match, Threads
from bot.routing import thread_for

THREADS = Threads(topics=(("ceasefire", 5), ("karabakh", 7)), sides=(("Armenia", 12),), default=1)


@pytest.mark.parametrize(
    ("topics", "side", "thread"),
    [
        (("ceasefire",), "Armenia", 5),  # a topic's thread before the side's
        (("karabakh", "ceasefire"), None, 5),  # the first of `threads`' topics, not of matches
        (("other",), "armenia", 12),  # sides compare without case
        (("other",), "Azerbaijan", 1),  # nothing named: the default
        ((), None, 1),
    ],
)
def test_topic_then_side_then_default(
    topics: tuple[str, ...], side: str | None, thread: int
) -> None:
    assert thread_for(THREADS, [Match(t) for t in topics], side) == thread


def test_no_threads_or_no_default_is_the_general_topic() -> None:
    assert thread_for(None, [Match("ceasefire")], "Armenia") is None
    assert thread_for(Threads(sides=(("Armenia", 12),)), [], "Russia") is None
