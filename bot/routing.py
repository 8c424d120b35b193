"""Which channels a statement goes to, and how loudly. No I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.model import Channel, Match, MatchMode, Priority, Topic

__all__ = ["is_silent", "route"]


def route(
    matches: Sequence[Match], channels: Sequence[Channel], mode: MatchMode
) -> tuple[str, ...]:
    """The ids of the channels that want a statement with these matches, in watchlist order.

    A channel without a topic filter takes every matching statement; one with a filter takes
    statements that match one of its topics. With ``match: all`` a statement that matched no topic
    still goes to the channels without a filter.
    """
    if not matches and mode is not MatchMode.ALL:
        return ()
    topic_ids = {m.topic_id for m in matches}
    return tuple(ch.id for ch in channels if ch.topics is None or topic_ids.intersection(ch.topics))


def is_silent(matches: Sequence[Match], topics: Mapping[str, Topic]) -> bool:
    """Whether an alert arrives without a notification: only when every matched topic is low."""
    prios = [topics[m.topic_id].priority for m in matches if m.topic_id in topics]
    return bool(prios) and all(p is Priority.LOW for p in prios)
