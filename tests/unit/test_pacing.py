"""Per-host pacing and the Telegram cursor: pure decisions."""

from __future__ import annotations

import itertools
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.sources.pacing import HostPacer, Pace, next_slot
from bot.sources.tgcursor import Gap, PreviewCursor


def test_next_slot_waits_for_the_later_of_free_and_held() -> None:
    assert next_slot(None, 10.0, None) == 10.0
    assert next_slot(12.0, 10.0, None) == 12.0
    assert next_slot(12.0, 10.0, 40.0) == 40.0
    assert next_slot(5.0, 10.0, 8.0) == 10.0


def test_two_hundred_channels_a_minute_stay_a_few_requests_a_second() -> None:
    pacer = HostPacer(Pace(interval=0.2, jitter=0.5), random.Random(7))
    starts = [0.0 + pacer.reserve("t.me", 0.0) for _ in range(200)]  # all due at once
    assert starts[0] == 0.0  # the first goes at once
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.2 and max(gaps) <= 0.3
    rate = len(starts) / (starts[-1] - starts[0])
    assert 3.0 <= rate <= 5.0  # a few a second
    assert starts[-1] < 60.0  # and all within the minute


def test_hosts_are_paced_apart() -> None:
    pacer = HostPacer(Pace(interval=1.0, jitter=0.0))
    assert pacer.reserve("t.me", 0.0) == 0.0
    assert pacer.reserve("mirror.example", 0.0) == 0.0
    assert pacer.reserve("t.me", 0.0) == 1.0


def test_a_hold_stops_the_host_until_then() -> None:
    pacer = HostPacer(Pace(interval=0.2, jitter=0.0))
    pacer.hold("t.me", 130.0)
    assert pacer.wait_for("t.me", 10.0) == 120.0
    assert pacer.reserve("t.me", 10.0) == 120.0
    pacer.hold("t.me", 50.0)  # a shorter hold never shortens a longer one
    assert pacer.wait_for("t.me", 10.0) >= 120.0


@settings(derandomize=True, deadline=None)
@given(st.lists(st.floats(0, 1000, allow_nan=False), min_size=1, max_size=50))
def test_booked_slots_never_come_closer_than_the_interval(asks: list[float]) -> None:
    pacer = HostPacer(Pace(interval=0.5, jitter=0.3), random.Random(1))
    slots = []
    for now in sorted(asks):
        slots.append(now + pacer.reserve("h", now))
    assert all(b - a >= 0.5 - 1e-9 for a, b in itertools.pairwise(slots))


@settings(derandomize=True, deadline=None)
@given(
    st.integers(0, 10**12),
    st.none() | st.tuples(st.integers(0, 10**12), st.integers(0, 10**12)),
)
def test_cursor_round_trips(high: int, gap: tuple[int, int] | None) -> None:
    g = Gap(min(gap), max(gap)) if gap else None
    cursor = PreviewCursor(high, g)
    assert PreviewCursor.parse(cursor.format()) == cursor


def test_cursor_reads_old_and_bad_values_safely() -> None:
    assert PreviewCursor.parse(None) == PreviewCursor()
    assert PreviewCursor.parse("garbage") == PreviewCursor()
    assert PreviewCursor.parse("512 gap=101-380") == PreviewCursor(512, Gap(101, 380))
    assert PreviewCursor(512).joined(Gap(1, 5)).joined(Gap(300, 400)).gap == Gap(1, 400)
    assert Gap(101, 380).size == 280
