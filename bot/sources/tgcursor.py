"""A Telegram channel's polling position, as stored in the source's cursor. No I/O.

``"512"``: every post up to 512 was read. ``"512 gap=101-380"``: posts 101 to 380 could not be
read yet (the backlog after downtime was longer than one poll may read); the following polls read
it, newest first, and the operator sees the gap in ``watchpost sources`` until it closes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Gap", "PreviewCursor"]

_CURSOR = re.compile(
    r"\s*(?P<high>[0-9]{1,18})(?:\s+gap=(?P<lo>[0-9]{1,18})-(?P<hi>[0-9]{1,18}))?\s*"
)


@dataclass(frozen=True, slots=True)
class Gap:
    """Post numbers not read yet, both ends included."""

    low: int
    high: int

    @property
    def size(self) -> int:
        """How many post numbers it spans (some may never have been posts: album items)."""
        return self.high - self.low + 1


@dataclass(frozen=True, slots=True)
class PreviewCursor:
    """The highest post number read, and the unread gap below it, if any."""

    high: int | None = None
    gap: Gap | None = None

    @classmethod
    def parse(cls, value: str | None) -> PreviewCursor:
        """The stored text back as a value; anything unreadable reads as "never polled"."""
        m = _CURSOR.fullmatch(value or "")
        if m is None:
            return cls()
        gap = None
        if m.group("lo") is not None:
            lo, hi = int(m.group("lo")), int(m.group("hi"))
            gap = Gap(lo, hi) if lo <= hi else None
        return cls(int(m.group("high")), gap)

    def format(self) -> str | None:
        """The text to store (None: nothing read yet)."""
        if self.high is None:
            return None
        if self.gap is None:
            return str(self.high)
        return f"{self.high} gap={self.gap.low}-{self.gap.high}"

    def joined(self, gap: Gap | None) -> PreviewCursor:
        """This cursor with `gap` added to the unread posts (one span covering both)."""
        if gap is None:
            return self
        if self.gap is None:
            return PreviewCursor(self.high, gap)
        return PreviewCursor(
            self.high, Gap(min(self.gap.low, gap.low), max(self.gap.high, gap.high))
        )
