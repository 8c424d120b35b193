"""Operator notices: which are due, and at most one per subject per day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.notices import (
    NoticeKind,
    NoticePolicy,
    SourceHealth,
    decide_notices,
    failing_notice,
    quiet_notice,
    usual_gap,
)

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
P = NoticePolicy(failing_after=timedelta(hours=6), quiet_floor=timedelta(hours=12))
H = timedelta(hours=1)


def _source(
    key: str = "feed:a",
    *,
    failures: int = 0,
    last_success: datetime | None = NOW,
    times: tuple[datetime, ...] = (),
) -> SourceHealth:
    return SourceHealth(key, failures, last_success, "HTTP 503" if failures else None, times)


def _every(gap: timedelta, n: int, last: datetime) -> tuple[datetime, ...]:
    return tuple(last - gap * i for i in range(n))


def test_failing_is_noticed_only_after_the_threshold() -> None:
    assert failing_notice(_source(failures=3, last_success=NOW - 5 * H), NOW, P) is None
    notice = failing_notice(_source(failures=9, last_success=NOW - 7 * H), NOW, P)
    assert notice is not None and notice.kind is NoticeKind.SOURCE_FAILING
    assert "7.0 h" in notice.text and "HTTP 503" in notice.text
    assert failing_notice(_source(failures=0, last_success=NOW - 70 * H), NOW, P) is None


def test_a_source_that_never_worked_is_noticed_after_three_failures_not_at_the_first() -> None:
    assert failing_notice(_source(failures=2, last_success=None), NOW, P) is None
    assert failing_notice(_source(failures=3, last_success=None), NOW, P) is not None


def test_the_usual_gap_is_robust_to_one_long_silence() -> None:
    times = [*_every(2 * H, 20, NOW), NOW - 40 * H - 30 * 24 * H]  # a month-long holiday once
    assert usual_gap(times, P) == 2 * H
    assert usual_gap(_every(H, 5, NOW), P) is None  # four gaps: no rhythm yet


def test_quiet_is_measured_against_the_sources_own_rhythm_with_a_floor() -> None:
    hourly = _every(H, 20, NOW - 13 * H)  # speaks hourly, silent 13 h: past 3 h and the floor
    notice = quiet_notice(_source(times=hourly), NOW, P)
    assert notice is not None and notice.kind is NoticeKind.SOURCE_QUIET
    # silent 11 h: past 3 × its gap, but within the 12 h floor
    assert quiet_notice(_source(times=_every(H, 20, NOW - 11 * H)), NOW, P) is None
    daily = _every(24 * H, 20, NOW - 50 * H)  # speaks daily, silent 50 h: within 72 h
    assert quiet_notice(_source(times=daily), NOW, P) is None
    # a failing source is told as failing, not as quiet
    assert quiet_notice(_source(failures=1, times=hourly), NOW, P) is None


def _decide(sent: dict[str, datetime], **kw: object) -> list[tuple[NoticeKind, str]]:
    args: dict[str, object] = {"sources": [], "paused_channels": [], "refused_reloads": []}
    args.update(kw)
    return [
        (n.kind, n.subject)
        for n in decide_notices(sent=sent, now=NOW, policy=P, **args)  # type: ignore[arg-type]
    ]


def test_one_notice_per_subject_per_day_then_a_daily_summary() -> None:
    failing = [_source(failures=9, last_success=NOW - 7 * H)]
    paused = [("main", "Forbidden: bot was kicked")]
    first = _decide({}, sources=failing, paused_channels=paused)
    assert first == [
        (NoticeKind.SOURCE_FAILING, "feed:a"),
        (NoticeKind.CHANNEL_PAUSED, "channel:main"),
    ]
    told = {"feed:a": NOW - H, "channel:main": NOW - H}
    # an hour later: nothing, not even a summary repeating them
    assert _decide(told, sources=failing, paused_channels=paused) == []
    # a new problem is told at once, the old ones wait
    assert _decide(told, sources=failing, refused_reloads=["w.yaml:3: x: bad"]) == [
        (NoticeKind.RELOAD_REFUSED, "watchlist"),
    ]
    # a day after the first notices, what is still wrong is told again
    day = {"feed:a": NOW - 25 * H, "channel:main": NOW - H}
    assert _decide(day, sources=failing, paused_channels=paused) == [
        (NoticeKind.SOURCE_FAILING, "feed:a"),
        (NoticeKind.SUMMARY, "summary"),
    ]
    # and the summary once a day
    day["summary"] = NOW - 2 * H
    assert _decide(day, paused_channels=paused) == []


def test_nothing_wrong_says_nothing() -> None:
    fine = [_source(times=_every(H, 20, NOW))]
    assert _decide({"feed:a": NOW - 30 * H}, sources=fine) == []


def test_a_capped_budget_is_told_while_the_cap_holds() -> None:
    capped = [("x", NOW + 72 * H)]
    assert _decide({}, paused_budgets=capped) == [(NoticeKind.BUDGET_PAUSED, "budget:x")]
    assert _decide({}, paused_budgets=[("x", NOW - H)]) == []  # the cap has reset


def test_a_changed_layout_is_told_at_the_first_failure_once_a_day() -> None:
    broken = SourceHealth(
        "telegram:MODAzerbaijan",
        1,
        NOW - timedelta(minutes=5),
        "t.me/s/MODAzerbaijan: no post found (has the preview's layout changed?)",
        problem="layout_changed",
    )
    (notice,) = decide_notices(
        sources=[broken], paused_channels=[], refused_reloads=[], sent={}, now=NOW, policy=P
    )
    # not after `failing_after` (6 h): nothing is read from the page until the code follows
    assert notice.kind is NoticeKind.LAYOUT_CHANGED
    assert notice.subject == "telegram:MODAzerbaijan" and "layout changed" in notice.text
    told = {"telegram:MODAzerbaijan": NOW - timedelta(hours=2)}
    again = decide_notices(
        sources=[broken], paused_channels=[], refused_reloads=[], sent=told, now=NOW, policy=P
    )
    assert again == []
    # an unclassified failure of five minutes is not worth a notice yet
    plain = SourceHealth("feed:a", 1, NOW - timedelta(minutes=5), "HTTP 503")
    assert (
        decide_notices(
            sources=[plain], paused_channels=[], refused_reloads=[], sent={}, now=NOW, policy=P
        )
        == []
    )


def test_a_used_up_budget_is_told_unless_the_apis_own_cap_is() -> None:
    until = NOW + timedelta(days=2)
    (notice,) = decide_notices(
        sources=[],
        paused_channels=[],
        refused_reloads=[],
        used_up_budgets=[("x", until)],
        sent={},
        now=NOW,
        policy=P,
    )
    assert notice.kind is NoticeKind.BUDGET_USED_UP and notice.subject == "budget:x"
    both = decide_notices(
        sources=[],
        paused_channels=[],
        refused_reloads=[],
        paused_budgets=[("x", until)],
        used_up_budgets=[("x", until)],
        sent={},
        now=NOW,
        policy=P,
    )
    assert [n.kind for n in both] == [NoticeKind.BUDGET_PAUSED]
