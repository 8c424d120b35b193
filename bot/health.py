"""Whether a worker is healthy, from plain values: the database's answer and its ticks. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["LATE_FACTOR", "MIN_LATE", "STALL_AFTER", "Health", "TickState", "judge"]

#: a tick that has not started for this many of its intervals is late
LATE_FACTOR = 3
#: ... but never sooner than this: jitter and a busy event loop delay short ticks a little
MIN_LATE = timedelta(seconds=30)
#: a tick running longer than this is stalled (a poll tick bounded by its HTTP timeouts ends
#: within a few minutes; one hung on a lock or a dead connection never does)
STALL_AFTER = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class TickState:
    """What the scheduler knows of one tick."""

    name: str
    interval: timedelta
    #: when it last started (None: not yet; `since` is then when the scheduler started)
    last_started: datetime | None
    #: when the current run started (None: not running)
    running_since: datetime | None
    #: when the scheduler began ticking
    since: datetime
    #: when the running tick last got something done (None: it does not say). A poll tick
    #: of a worker that cannot keep up never ends (something is always due): it is busy, not
    #: stalled, and restarting it would only lose the polls in flight (issue 9)
    progressed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Health:
    """The verdict: ok, or the checks that failed, each a short phrase naming what."""

    failing: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Every check passed."""
        return not self.failing


def judge(
    *,
    database_ok: bool,
    ticks: tuple[TickState, ...],
    now: datetime,
    late_factor: int = LATE_FACTOR,
    min_late: timedelta = MIN_LATE,
    stall_after: timedelta = STALL_AFTER,
) -> Health:
    """Healthy when the database answers, every tick started within its late bound, and none
    has been running longer than `stall_after` without getting anything done. A running tick is
    not late: it is on time as long as it is not stalled (ticks never overlap, so a long poll
    delays its next start)."""
    failing: list[str] = []
    if not database_ok:
        failing.append("database not answering")
    for t in ticks:
        if t.running_since is not None:
            busy_since = max(t.running_since, t.progressed_at or t.running_since)
            if now - busy_since > stall_after:
                failing.append(f"tick {t.name} stalled")
            continue
        late = max(t.interval * late_factor, min_late)
        if now - (t.last_started or t.since) > late:
            failing.append(f"tick {t.name} late")
    return Health(tuple(failing))
