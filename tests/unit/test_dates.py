"""Which publication dates are believed (issue 11)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import example, given
from hypothesis import strategies as st

from bot.model import FetchedItem
from bot.sources.dates import EARLIEST, FUTURE_SLACK, sane_dates

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _item(when: datetime, *, estimated: bool = False) -> FetchedItem:
    return FetchedItem(
        external_id="x",
        title="t",
        text="",
        url=None,
        published_at=when,
        published_estimated=estimated,
    )


@given(st.datetimes(timezones=st.just(UTC)))
@example(datetime(1, 1, 1, tzinfo=UTC))
@example(datetime(9999, 12, 31, 23, 59, tzinfo=UTC))
@example(EARLIEST)
@example(NOW + FUTURE_SLACK)
def test_dates_out_of_range_become_the_fetch_time_marked_estimated(when: datetime) -> None:
    (item,), warnings = sane_dates([_item(when)], NOW)
    sane = EARLIEST <= when <= NOW + FUTURE_SLACK
    if sane:
        assert item.published_at == when and not item.published_estimated and warnings == ()
    else:
        assert item.published_at == NOW and item.published_estimated
        assert len(warnings) == 1 and "out of range" in warnings[0]


def test_estimated_dates_are_left_alone() -> None:
    items = [_item(NOW - timedelta(days=1), estimated=True)]
    assert sane_dates(items, NOW) == (tuple(items), ())
