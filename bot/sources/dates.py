"""Publication dates a feed may claim, and the ones Watchpost believes. No I/O.

Issue 11: one item dated in year 1 made rendering raise `OverflowError` at every try (its
local time, "the other side" window six hours before it). A date before any official feed
existed, or days in the future, is a publisher's bug: it is treated as missing — the fetch time,
marked estimated, as undated items are — rather than trusted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.model import FetchedItem

__all__ = ["EARLIEST", "FUTURE_SLACK", "sane_dates"]

#: earlier than any web feed (RSS is from 1999): epoch-0 and year-1 dates land here
EARLIEST = datetime(1995, 1, 1, tzinfo=UTC)
#: clocks and time zones disagree a little; days ahead is a wrong date, not a scheduled post
FUTURE_SLACK = timedelta(days=2)


def sane_dates(
    items: Sequence[FetchedItem], now: datetime
) -> tuple[tuple[FetchedItem, ...], tuple[str, ...]]:
    """The items with every date outside [EARLIEST, now + FUTURE_SLACK] replaced by `now`
    (marked estimated), and one warning per replaced date."""
    out: list[FetchedItem] = []
    warnings: list[str] = []
    latest = now + FUTURE_SLACK
    for item in items:
        when = item.published_at
        if item.published_estimated or EARLIEST <= when <= latest:
            out.append(item)
            continue
        warnings.append(
            f"item {item.external_id[:200]!r}: date {when.isoformat()} out of range, "
            "treated as missing"
        )
        out.append(replace(item, published_at=now, published_estimated=True))
    return tuple(out), tuple(warnings)
