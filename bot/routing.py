"""Which channels a statement goes to, and how loudly: now, silently, or in the digest. No I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.model import Channel, Match, MatchMode, Priority, Threads, Topic

__all__ = [
    "goes_to_digest",
    "in_quiet_hours",
    "is_silent",
    "is_urgent",
    "next_digest",
    "route",
    "thread_for",
]


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


def is_urgent(matches: Sequence[Match], topics: Mapping[str, Topic]) -> bool:
    """Whether any matched topic is urgent (it notifies even in quiet hours)."""
    return any(
        topics[m.topic_id].priority is Priority.URGENT for m in matches if m.topic_id in topics
    )


def _local(channel: Channel, now: datetime) -> datetime:
    return now.astimezone(ZoneInfo(channel.timezone) if channel.timezone != "UTC" else UTC)


def in_quiet_hours(channel: Channel, now: datetime) -> bool:
    """Whether `now` falls in the channel's quiet hours (which may wrap midnight)."""
    if channel.quiet_hours is None:
        return False
    start, end = channel.quiet_hours
    t = _local(channel, now).time().replace(tzinfo=None)
    if start <= end:
        return start <= t < end
    return t >= start or t < end


def goes_to_digest(channel: Channel, matches: Sequence[Match], topics: Mapping[str, Topic]) -> bool:
    """Whether the channel gathers this statement in its daily digest (every topic is low)."""
    return channel.digest_at is not None and is_silent(matches, topics)


def next_digest(channel: Channel, now: datetime) -> datetime:
    """The UTC time of the channel's next digest after `now` (its local digest time)."""
    at: time = channel.digest_at or time(0, 0)
    local = _local(channel, now)
    when = local.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    if when <= local:
        when = (local + timedelta(days=1)).replace(
            hour=at.hour, minute=at.minute, second=0, microsecond=0
        )
    return when.astimezone(UTC)


def thread_for(threads: Threads | None, matches: Sequence[Match], side: str | None) -> int | None:
    """The forum topic (``message_thread_id``) an alert goes to in its chat (issue 11).

    A matched topic that names a thread wins (the first in the watchlist's order of `threads`),
    then the speaker's side, then the default; None is the chat's general topic.
    """
    if threads is None:
        return None
    matched = {m.topic_id for m in matches}
    for topic_id, thread in threads.topics:
        if topic_id in matched:
            return thread
    if side is not None:
        wanted = side.casefold()
        for name, thread in threads.sides:
            if name.casefold() == wanted:
                return thread
    return threads.default
