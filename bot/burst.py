"""Decides how a channel's backlog goes out: one by one, or gathered into digests. No I/O.

Issue 11 ("Bursts"): a chat takes about 20 messages a minute. When a channel's pending alerts
cannot all go out within a set time at that pace, its non-urgent new statements are gathered
into digest messages (a line each), so the newest is never much more than that time late.
Urgent statements still go one by one, and first. Follow-ups (an edit or a deletion answered
under the first alert, "also published by" and thread continuations that rewrite it) and
alerts a timed-out try may already have posted go one by one too, after the digests: they
answer or rewrite one particular message, which a line in a digest cannot do, and they come
after the statement they answer, which may be in one of the digests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

__all__ = ["MAX_DIGEST_LINES", "Pending", "Send", "SendAs", "is_late", "plan_burst"]

#: Telegram keeps at most 100 entities (links, bold...) of a message; a line has one link.
MAX_DIGEST_LINES = 50


class SendAs(StrEnum):
    """How a step of the plan goes out."""

    SINGLE = "single"  #: one alert, one message (or one edit)
    DIGEST = "digest"  #: several alerts, one message with a line each


@dataclass(frozen=True, slots=True)
class Pending:
    """A pending alert of one channel, as the planner sees it: from the dispatcher."""

    id: int
    created_at: datetime
    #: a matched topic is urgent
    urgent: bool
    #: must go in a message of its own (a follow-up, or a try may have posted it already)
    alone: bool
    #: how many UTF-16 units its digest line takes, as the reader sees it
    line_units: int


@dataclass(frozen=True, slots=True)
class Send:
    """One message of the plan: the alerts it carries, in outbox order; to the dispatcher."""

    kind: SendAs
    ids: tuple[int, ...]


def is_late(
    pending: Sequence[Pending], *, now: datetime, interval: float, max_delay: float
) -> bool:
    """Whether sending `pending` one by one, in order, at one message per `interval` seconds
    from `now`, would deliver one of them more than `max_delay` seconds after it was stored."""
    for i, p in enumerate(pending):
        delivered_after = (now - p.created_at).total_seconds() + i * interval
        if delivered_after > max_delay:
            return True
    return False


def plan_burst(
    pending: Sequence[Pending],
    *,
    now: datetime,
    interval: float,
    max_delay: float,
    max_units: int = 4096,
    head_units: int = 0,
    max_lines: int = MAX_DIGEST_LINES,
) -> tuple[Send, ...]:
    """The messages a channel's pending alerts (in outbox order) go out as, in sending order.

    One message per alert, urgent ones first, then the others in outbox order, unless that would
    deliver one later than `max_delay` seconds (0: never gather, and outbox order throughout).
    Then: urgent alerts one by one, first; the others that may be gathered, in digests of at
    most `max_lines` lines whose `head_units` plus lines (and a newline each) fit `max_units`;
    then the alerts that must go alone, in outbox order. A digest of one line would say less
    than the alert itself: that alert goes alone instead.
    Every alert is in exactly one message.
    """
    if max_delay <= 0 or len(pending) < 2:
        return tuple(Send(SendAs.SINGLE, (p.id,)) for p in pending)
    first = [p for p in pending if p.urgent and not p.alone]
    # An urgent statement does not wait behind a backlog, even one sent in time; follow-ups
    # keep their place after the statements they answer.
    ordered = [*first, *(p for p in pending if not p.urgent or p.alone)]
    if not is_late(ordered, now=now, interval=interval, max_delay=max_delay):
        return tuple(Send(SendAs.SINGLE, (p.id,)) for p in ordered)
    gather = [p for p in pending if not p.urgent and not p.alone]
    last = [p for p in pending if p.alone]
    groups: list[list[int]] = []
    used = max_units  # forces a first group
    for p in gather:
        cost = p.line_units + 1
        if used + cost > max_units or len(groups[-1]) >= max_lines:
            groups.append([])
            used = head_units
        groups[-1].append(p.id)
        used += cost
    middle = [
        Send(SendAs.DIGEST, tuple(g)) if len(g) > 1 else Send(SendAs.SINGLE, tuple(g))
        for g in groups
    ]
    return (
        *(Send(SendAs.SINGLE, (p.id,)) for p in first),
        *middle,
        *(Send(SendAs.SINGLE, (p.id,)) for p in last),
    )
