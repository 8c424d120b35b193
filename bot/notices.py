"""Operator notices: what the operator should hear about, and when. No I/O.

From plain values (source states, statement times, paused channels, refused reloads) it decides
the notices due now: one per subject (a source, a channel, the watchlist) per day at most, and
a daily summary of what is still wrong. What was sent, and when, is kept by storage so that a
restart does not repeat it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.errors import SourceProblem

__all__ = [
    "Notice",
    "NoticeKind",
    "NoticePolicy",
    "SourceHealth",
    "decide_notices",
    "failing_notice",
    "layout_notice",
    "quiet_notice",
    "usual_gap",
]


class NoticeKind(StrEnum):
    """Why the operator is told."""

    SOURCE_FAILING = "source_failing"
    SOURCE_QUIET = "source_quiet"
    LAYOUT_CHANGED = "layout_changed"
    CHANNEL_PAUSED = "channel_paused"
    BUDGET_PAUSED = "budget_paused"
    BUDGET_USED_UP = "budget_used_up"
    RELOAD_REFUSED = "reload_refused"
    SUMMARY = "summary"


#: the subject of the daily summary in the notices table
SUMMARY_SUBJECT = "summary"


@dataclass(frozen=True, slots=True)
class NoticePolicy:
    """The operator's thresholds."""

    #: a source failing for longer than this is noticed
    failing_after: timedelta = timedelta(hours=6)
    #: a source is quiet after `quiet_factor` times its usual gap between statements ...
    quiet_factor: float = 3.0
    #: ... and never sooner than this
    quiet_floor: timedelta = timedelta(hours=12)
    #: gaps looked at: those between a source's last `history` statements
    history: int = 30
    #: fewer gaps than this: no rhythm learned yet, no quiet notice
    min_gaps: int = 5
    #: one notice per subject per this long, and one summary
    every: timedelta = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """A source's state, from storage."""

    key: str
    failures: int
    last_success_at: datetime | None
    last_error: str | None
    #: its statements' publication times, any order (the last `history` of them suffice)
    statement_times: tuple[datetime, ...] = ()
    #: why its last poll failed, as a `SourceProblem` value (None: not classified)
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    """One message to the operator."""

    kind: NoticeKind
    #: what it is about: a source key, "channel:ID", "watchlist", or "summary"
    subject: str
    text: str


def usual_gap(times: Sequence[datetime], policy: NoticePolicy) -> timedelta | None:
    """How long this source usually stays silent at most: the 95th percentile of the gaps
    between its last statements (a robust bound: one holiday does not set it), or None with too
    few statements to tell."""
    recent = sorted(times)[-policy.history :]
    gaps = sorted(b - a for a, b in itertools.pairwise(recent))
    if len(gaps) < policy.min_gaps:
        return None
    # nearest-rank percentile: always one of the observed gaps
    rank = max(1, math.ceil(0.95 * len(gaps)))
    return gaps[rank - 1]


def quiet_notice(source: SourceHealth, now: datetime, policy: NoticePolicy) -> Notice | None:
    """A notice when the source said nothing for longer than its rhythm allows."""
    gap = usual_gap(source.statement_times, policy)
    if gap is None or source.failures:  # a failing source is noticed as failing
        return None
    allowed = max(gap * policy.quiet_factor, policy.quiet_floor)
    silent = now - max(source.statement_times)
    if silent <= allowed:
        return None
    return Notice(
        NoticeKind.SOURCE_QUIET,
        source.key,
        f"{source.key} quiet for {_hours(silent)} (it usually speaks within {_hours(gap)}; "
        f"noticed after {_hours(allowed)})",
    )


def layout_notice(source: SourceHealth) -> Notice | None:
    """A notice at the first failure that says the page's layout changed: nothing will be read
    from it until the code follows, so waiting `failing_after` would only lose statements."""
    if not source.failures or source.problem != SourceProblem.LAYOUT_CHANGED.value:
        return None
    return Notice(
        NoticeKind.LAYOUT_CHANGED,
        source.key,
        f"{source.key}: the page's layout changed, no post can be read from it "
        f"({source.failures} poll(s) so far); last error: {source.last_error or 'unknown'}",
    )


def failing_notice(source: SourceHealth, now: datetime, policy: NoticePolicy) -> Notice | None:
    """A notice when the source has failed for longer than `failing_after`.

    One that never succeeded is measured from nothing: it is noticed once it has failed at
    least three times in a row, not at its first failure after a start.
    """
    if source.failures == 0:
        return None
    if source.last_success_at is None:
        if source.failures < 3:
            return None
        since = "never polled successfully"
    else:
        failing = now - source.last_success_at
        if failing <= policy.failing_after:
            return None
        since = f"no success for {_hours(failing)}"
    return Notice(
        NoticeKind.SOURCE_FAILING,
        source.key,
        f"{source.key} failing: {since}, {source.failures} failure(s) in a row; "
        f"last error: {source.last_error or 'unknown'}",
    )


def decide_notices(
    *,
    sources: Sequence[SourceHealth],
    paused_channels: Sequence[tuple[str, str]],
    refused_reloads: Sequence[str],
    paused_budgets: Sequence[tuple[str, datetime]] = (),
    used_up_budgets: Sequence[tuple[str, datetime]] = (),
    sent: Mapping[str, datetime],
    now: datetime,
    policy: NoticePolicy,
) -> list[Notice]:
    """The notices due now.

    Args:
        sources: active sources.
        paused_channels: (channel id, why) of each paused channel.
        refused_reloads: the problems of watchlist edits refused since the last decision.
        paused_budgets: (API, paused until) of each metered API whose cap was reached.
        used_up_budgets: (API, held until) of each metered API whose month our own budget
            guard has used up (told unless the API's own cap already is).
        sent: when a notice was last sent, per subject (from storage).
    """
    problems: list[Notice] = []
    for source in sources:
        notice = (
            layout_notice(source)
            or failing_notice(source, now, policy)
            or quiet_notice(source, now, policy)
        )
        if notice is not None:
            problems.append(notice)
    for channel_id, why in paused_channels:
        problems.append(
            Notice(
                NoticeKind.CHANNEL_PAUSED,
                f"channel:{channel_id}",
                f"channel {channel_id} paused: {why}; its alerts wait for "
                f"`watchpost channels resume {channel_id}`",
            )
        )
    for api, until in paused_budgets:
        if until > now:
            problems.append(
                Notice(
                    NoticeKind.BUDGET_PAUSED,
                    f"budget:{api}",
                    f"{api} budget: the monthly cap is reached; its sources are not polled "
                    f"until {until:%Y-%m-%d %H:%M} UTC",
                )
            )
    told_paused = {api for api, until in paused_budgets if until > now}
    for api, until in used_up_budgets:
        if until > now and api not in told_paused:
            problems.append(
                Notice(
                    NoticeKind.BUDGET_USED_UP,
                    f"budget:{api}",
                    f"{api} budget: this month's reads or spend (the plan's cap times its "
                    f"margin) are used up; its sources are not polled until "
                    f"{until:%Y-%m-%d %H:%M} UTC",
                )
            )
    if refused_reloads:
        problems.append(
            Notice(
                NoticeKind.RELOAD_REFUSED,
                "watchlist",
                "watchlist edit refused, the running watchlist stays:\n"
                + "\n".join(refused_reloads),
            )
        )

    def due(subject: str) -> bool:
        last = sent.get(subject)
        return last is None or now - last >= policy.every

    out = [n for n in problems if due(n.subject)]
    held = [n for n in problems if not due(n.subject)]
    # The first summary comes a day after the first notice, not at the next tick.
    last_summary = sent.get(SUMMARY_SUBJECT) or min(sent.values(), default=None)
    if held and last_summary is not None and now - last_summary >= policy.every:
        # What was noticed before and is still wrong, once a day in one message.
        lines = "\n".join(f"• {n.text}" for n in held)
        out.append(
            Notice(
                NoticeKind.SUMMARY,
                SUMMARY_SUBJECT,
                f"still wrong ({len(held)}):\n{lines}",
            )
        )
    return out


def _hours(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"
