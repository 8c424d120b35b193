"""The X run-time guard: what was spent, and how long the next request must wait. No I/O.

`Budget` counts against the plan's limits times its margin, over a sliding 15-minute window
(stricter than X's fixed windows) and the server's own word when given; reads as X bills them
(a post once per UTC day on daily-dedup plans); a monthly-cap pause until the billing day. Its
`BudgetState` is a value stored across restarts (`to_json`/`from_json`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from bot.x.plan import Endpoint, XPlan

__all__ = ["Budget", "BudgetState", "EndpointWindow", "used_up_until"]

_WINDOW = 900.0  # seconds in one rate-limit window


def _period_start(now: datetime, reset_day: int) -> datetime:
    start = now.astimezone(UTC).replace(day=reset_day, hour=0, minute=0, second=0, microsecond=0)
    if start > now:
        year, month = (start.year, start.month - 1) if start.month > 1 else (start.year - 1, 12)
        start = start.replace(year=year, month=month)
    return start


def _next_period(start: datetime) -> datetime:
    year, month = (start.year, start.month + 1) if start.month < 12 else (start.year + 1, 1)
    return start.replace(year=year, month=month)


@dataclass(frozen=True, slots=True)
class EndpointWindow:
    """One endpoint's recent requests, and what the server last said about its window."""

    endpoint: Endpoint
    #: (when, how many) for the requests of the last 15 minutes, oldest first
    recent: tuple[tuple[datetime, int], ...] = ()
    #: x-rate-limit-remaining as last observed
    server_remaining: int | None = None
    #: x-rate-limit-reset as last observed
    server_reset_at: datetime | None = None
    #: x-rate-limit-limit as last observed
    server_limit: int | None = None
    #: requests recorded since the server said so
    since_observed: int = 0


@dataclass(frozen=True, slots=True)
class BudgetState:
    """What has been spent this billing month: a value to persist across restarts."""

    #: the start of the billing month (UTC)
    period_start: datetime
    reads: int = 0
    requests: int = 0
    windows: tuple[EndpointWindow, ...] = ()
    #: X said the monthly cap is used up (UsageCapExceeded): nothing is sent before this
    capped_until: datetime | None = None
    #: the UTC day (ISO) of `billed_today`
    billed_day: str = ""
    #: post ids already billed that day: on a daily-dedup plan a re-read is free
    billed_today: frozenset[str] = frozenset()

    def window(self, endpoint: Endpoint) -> EndpointWindow:
        """The window of `endpoint` (empty if it has seen no request)."""
        for w in self.windows:
            if w.endpoint is endpoint:
                return w
        return EndpointWindow(endpoint)

    def to_json(self) -> str:
        """This state as JSON text, to store (issue 8: a restart must not forget the windows)."""

        def when(moment: datetime | None) -> str | None:
            return None if moment is None else moment.astimezone(UTC).isoformat()

        return json.dumps(
            {
                "period_start": when(self.period_start),
                "reads": self.reads,
                "requests": self.requests,
                "capped_until": when(self.capped_until),
                "billed_day": self.billed_day,
                "billed_today": sorted(self.billed_today),
                "windows": [
                    {
                        "endpoint": w.endpoint.value,
                        "recent": [[when(t), n] for t, n in w.recent],
                        "server_remaining": w.server_remaining,
                        "server_reset_at": when(w.server_reset_at),
                        "server_limit": w.server_limit,
                        "since_observed": w.since_observed,
                    }
                    for w in self.windows
                ],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> BudgetState:
        """A state stored by `to_json`.

        Raises:
            ValueError: the text is not such a state.
        """

        def when(value: object) -> datetime | None:
            return None if value is None else datetime.fromisoformat(str(value))

        try:
            raw = json.loads(text)
            start = when(raw["period_start"])
            if start is None:
                raise ValueError("no period_start")
            return cls(
                period_start=start,
                reads=int(raw["reads"]),
                requests=int(raw["requests"]),
                capped_until=when(raw.get("capped_until")),
                billed_day=str(raw.get("billed_day") or ""),
                billed_today=frozenset(str(i) for i in raw.get("billed_today") or ()),
                windows=tuple(
                    EndpointWindow(
                        endpoint=Endpoint(w["endpoint"]),
                        recent=tuple(
                            (datetime.fromisoformat(str(t)), int(n)) for t, n in w["recent"]
                        ),
                        server_remaining=w.get("server_remaining"),
                        server_reset_at=when(w.get("server_reset_at")),
                        server_limit=w.get("server_limit"),
                        since_observed=int(w.get("since_observed") or 0),
                    )
                    for w in raw.get("windows") or ()
                ),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a stored X budget state: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Budget:
    """The run-time guard: record what happened, ask how long to wait before the next request.

    Immutable: `record` and `observe_limits` return a new budget. Counts against the plan's limits
    times its margin, over a sliding 15-minute window (stricter than X's fixed windows) and the
    server's own word when given. Deletion lookups are paced so that their reads never run ahead of
    an even spread of the monthly cap, which keeps reads for new posts in a storm.
    """

    plan: XPlan
    state: BudgetState

    @classmethod
    def resume(cls, plan: XPlan, state: BudgetState, now: datetime) -> Budget:
        """A budget that goes on from a stored state (a new billing month starts from zero)."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        budget = cls(plan, state)
        return cls(plan, budget._current(now))

    @classmethod
    def start(cls, plan: XPlan, now: datetime, *, reads: int = 0, requests: int = 0) -> Budget:
        """A budget for the billing month around `now`, resuming its reads and requests so far.

        Raises:
            ValueError: `now` is naive.
        """
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        return cls(plan, BudgetState(_period_start(now, plan.reset_day), reads, requests))

    def _current(self, now: datetime) -> BudgetState:
        if now >= _next_period(self.state.period_start):
            return BudgetState(_period_start(now, self.plan.reset_day), 0, 0, self.state.windows)
        return self.state

    def cap_reached(self, now: datetime) -> Budget:
        """X answered UsageCapExceeded: hold every request until the plan's next billing day.

        The cap resets on the plan's billing day (`XPlan.reset_day`), not on the 1st (issue 8).
        """
        state = self._current(now)
        until = _next_period(state.period_start)
        return Budget(self.plan, replace(state, capped_until=until))

    def _with_window(self, state: BudgetState, window: EndpointWindow) -> BudgetState:
        others = tuple(w for w in state.windows if w.endpoint is not window.endpoint)
        return replace(state, windows=(*others, window))

    def record(
        self,
        endpoint: Endpoint,
        requests: int,
        reads: int,
        now: datetime,
        *,
        post_ids: Sequence[str] | None = None,
    ) -> Budget:
        """Count `requests` made to `endpoint` at `now`, which returned `reads` posts.

        Given `post_ids` (the posts returned), a daily-dedup plan counts only those not yet
        billed this UTC day, as X bills them and as `plan_polling` projects deletion re-reads
        (issue 8: counting every re-read, a Pro-like month counted 89,904 reads against 36,300
        planned and stopped polling a day early). Without them every post counts: safe, early.
        """
        if requests < 0 or reads < 0:
            raise ValueError("requests and reads must not be negative")
        state = self._current(now)
        if post_ids is not None and self.plan.daily_dedup:
            day = now.astimezone(UTC).date().isoformat()
            seen = state.billed_today if state.billed_day == day else frozenset()
            new = frozenset(post_ids) - seen
            reads = len(new)
            state = replace(state, billed_day=day, billed_today=seen | new)
        w = state.window(endpoint)
        cutoff = now - timedelta(seconds=_WINDOW)
        recent = tuple(e for e in w.recent if e[0] > cutoff)
        if requests:
            recent = (*recent, (now, requests))
        w = replace(
            w,
            recent=recent,
            since_observed=w.since_observed + requests if w.server_remaining is not None else 0,
        )
        state = replace(state, reads=state.reads + reads, requests=state.requests + requests)
        return Budget(self.plan, self._with_window(state, w))

    def observe_limits(
        self,
        endpoint: Endpoint,
        remaining: int,
        reset_epoch: float,
        now: datetime,
        *,
        limit: int | None = None,
    ) -> Budget:
        """Take the server's x-rate-limit-remaining/-reset (and -limit) for `endpoint`.

        Call it after `record` for the same response.
        """
        state = self._current(now)
        w = replace(
            state.window(endpoint),
            server_remaining=max(remaining, 0),
            server_reset_at=datetime.fromtimestamp(reset_epoch, UTC),
            server_limit=limit,
            since_observed=0,
        )
        return Budget(self.plan, self._with_window(state, w))

    def reads_left(self, now: datetime) -> int | None:
        """Reads still allowed this billing month (cap times margin), or None without a cap."""
        cap = self.plan.usable_reads()
        state = self._current(now)
        return None if cap is None else max(math.floor(cap) - state.reads, 0)

    def may_request(
        self, endpoint: Endpoint, now: datetime, *, max_reads: int | None = None
    ) -> float:
        """Seconds to wait before one request to `endpoint`: 0 means go now.

        Args:
            endpoint: where the request goes.
            now: the current time (UTC-aware).
            max_reads: the most posts the request may return (its max_results or ids);
                default `plan.max_results`; users lookups return no posts.

        Returns:
            0.0, a wait in seconds, or ``math.inf`` when the plan allows no such request.
        """
        plan = self.plan
        state = self._current(now)
        period_end = _next_period(state.period_start)
        to_period_end = (period_end - now).total_seconds()
        wait = 0.0
        if state.capped_until is not None and now < state.capped_until:
            wait = (state.capped_until - now).total_seconds()
        posts = (
            0
            if endpoint is Endpoint.USERS
            else (plan.max_results if max_reads is None else max_reads)
        )

        cap = plan.usable_reads()
        if cap is not None:
            if state.reads + posts > math.floor(cap):
                wait = max(wait, to_period_end)
            elif endpoint is Endpoint.LOOKUP and cap > 0:
                # Never more than one day's share ahead of an even spread of the cap.
                period = (period_end - state.period_start).total_seconds()
                ahead = (now - state.period_start).total_seconds() + 86400.0
                due = (state.reads + posts) * period / cap - ahead
                wait = max(wait, min(due, to_period_end))
        spend = plan.usable_spend()
        if spend is not None:
            spent = state.reads * (plan.price_per_read or 0.0) + state.requests * (
                plan.price_per_request or 0.0
            )
            next_cost = posts * (plan.price_per_read or 0.0) + (plan.price_per_request or 0.0)
            if spent + next_cost > spend:
                wait = max(wait, to_period_end)

        usable = plan.usable_per_15m(endpoint)
        if usable < 1:
            return math.inf
        w = state.window(endpoint)
        cutoff = now - timedelta(seconds=_WINDOW)
        recent = sorted(e for e in w.recent if e[0] > cutoff)
        excess = sum(n for _, n in recent) + 1 - usable
        for when, n in recent:
            if excess <= 0:
                break
            excess -= n
            wait = max(wait, (when - cutoff).total_seconds())

        reset_at = w.server_reset_at
        if w.server_remaining is not None and reset_at is not None and now < reset_at:
            limit = w.server_limit or plan.limit_per_15m(endpoint)
            reserve = limit - math.floor(limit * plan.margin)
            if w.server_remaining - w.since_observed <= reserve:
                # One second past the reset: the server's clock and ours may differ slightly.
                wait = max(wait, (reset_at - now).total_seconds() + 1.0)
        return max(wait, 0.0)


def used_up_until(plan: XPlan, state: BudgetState, now: datetime) -> datetime | None:
    """When polling resumes if this billing month's reads or spend (the plan's caps times its
    margin) are used up, as `Budget.may_request` judges a search: the month's end. None while
    some remain, and once the stored month is over.

    Our own guard holding every X source until the month ends is something the operator must
    hear of (issue 11: "a budget reached"), as much as X's own UsageCapExceeded.
    """
    end = _next_period(state.period_start)
    if now >= end:
        return None
    cap = plan.usable_reads()
    if cap is not None and state.reads + plan.max_results > math.floor(cap):
        return end
    spend = plan.usable_spend()
    if spend is not None:
        spent = state.reads * (plan.price_per_read or 0.0) + state.requests * (
            plan.price_per_request or 0.0
        )
        next_cost = plan.max_results * (plan.price_per_read or 0.0) + (
            plan.price_per_request or 0.0
        )
        if spent + next_cost > spend:
            return end
    return None
