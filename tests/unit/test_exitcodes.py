"""`once`'s exit status from what it did (issue 7)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.exitcodes import ExitStatus, once_status


@pytest.mark.parametrize(
    ("sources", "failed", "delivered", "undelivered", "expected"),
    [
        (3, 0, 0, 0, ExitStatus.OK),  # nothing new: all polled, nothing to deliver
        (3, 0, 2, 0, ExitStatus.OK),
        (0, 0, 0, 0, ExitStatus.OK),  # an empty watchlist did all there was to do
        (3, 1, 2, 0, ExitStatus.PARTIAL),  # one source failed
        (3, 0, 2, 1, ExitStatus.PARTIAL),  # one alert waits for a retry
        (3, 3, 0, 0, ExitStatus.FAILED),  # every source failed
        (3, 3, 1, 0, ExitStatus.FAILED),  # ... even if older alerts went out
        (3, 0, 0, 2, ExitStatus.FAILED),  # alerts, none delivered
        (3, 1, 0, 2, ExitStatus.FAILED),
    ],
)
def test_once_status_table(
    sources: int, failed: int, delivered: int, undelivered: int, expected: ExitStatus
) -> None:
    got = once_status(
        sources=sources, failed_sources=failed, delivered=delivered, undelivered=undelivered
    )
    assert got is expected


@given(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50), st.integers(0, 50))
def test_only_a_clean_run_exits_zero(
    sources: int, failed: int, delivered: int, undelivered: int
) -> None:
    failed = min(failed, sources)
    got = once_status(
        sources=sources, failed_sources=failed, delivered=delivered, undelivered=undelivered
    )
    assert (got is ExitStatus.OK) == (failed == 0 and undelivered == 0)
    assert got in (ExitStatus.OK, ExitStatus.PARTIAL, ExitStatus.FAILED)


def test_statuses_are_distinct_and_documented_values() -> None:
    assert [int(s) for s in ExitStatus] == [0, 1, 2, 3, 4]
