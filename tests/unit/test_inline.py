"""Where a feed body is parsed (`bot.sources.inline`): on the loop while small and within the
window's budget, in a thread otherwise."""

from __future__ import annotations

from bot.sources.inline import INLINE_MAX_BYTES, InlineBudget


def test_a_body_over_the_size_bound_always_goes_to_a_thread() -> None:
    budget = InlineBudget()
    assert budget.allows(INLINE_MAX_BYTES, 0.0)
    assert not budget.allows(INLINE_MAX_BYTES + 1, 0.0)


def test_the_loop_parses_until_the_window_budget_is_spent_then_again_in_the_next() -> None:
    budget = InlineBudget(limit=0.010, window=0.100)
    assert budget.allows(100, 1.000)
    budget.spent(0.006)
    assert budget.allows(100, 1.020)  # 6 ms of 10 used
    budget.spent(0.006)
    # 12 ms used: over the budget for the rest of the window, whatever the size
    assert not budget.allows(100, 1.050)
    assert not budget.allows(1, 1.099)
    # a new window begins 100 ms after the last began
    assert budget.allows(100, 1.100)
    budget.spent(0.002)
    assert budget.allows(100, 1.150)


def test_the_loop_is_held_at_most_the_budget_plus_one_parse_per_window() -> None:
    """Parses of 3 ms, asked for back to back: inline ones stop once 10 ms are used."""
    budget = InlineBudget(limit=0.010, window=0.100)
    now, inline = 5.0, 0.0
    for _ in range(50):
        if budget.allows(1000, now):
            budget.spent(0.003)
            inline += 0.003
        now += 0.001
    # 50 asks over 50 ms: one window; 4 parses (12 ms) inline, the rest in threads
    assert abs(inline - 0.012) < 1e-9
