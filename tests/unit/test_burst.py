"""The burst plan: which pending alerts of a channel go one by one, which are gathered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.burst import MAX_DIGEST_LINES, Pending, Send, SendAs, is_late, plan_burst

NOW = datetime(2020, 9, 27, 4, 0, tzinfo=UTC)


def pending(
    i: int, *, age: float = 0.0, urgent: bool = False, alone: bool = False, units: int = 100
) -> Pending:
    return Pending(
        id=i,
        created_at=NOW - timedelta(seconds=age),
        urgent=urgent,
        alone=alone,
        line_units=units,
    )


def ids(plan: tuple[Send, ...]) -> list[int]:
    return [i for step in plan for i in step.ids]


def test_a_backlog_sent_in_time_goes_one_by_one_in_outbox_order() -> None:
    backlog = [pending(i) for i in range(20)]  # the 20th goes 57 s from now at 3 s
    plan = plan_burst(backlog, now=NOW, interval=3.0, max_delay=60)
    assert plan == tuple(Send(SendAs.SINGLE, (i,)) for i in range(20))


def test_a_backlog_too_long_for_its_pace_is_gathered_into_few_digests() -> None:
    backlog = [pending(i) for i in range(30)]  # the 30th would go 87 s from now
    plan = plan_burst(backlog, now=NOW, interval=3.0, max_delay=60)
    assert [s.kind for s in plan] == [SendAs.DIGEST]
    assert ids(plan) == list(range(30))


def test_alerts_that_already_waited_make_a_short_backlog_late() -> None:
    backlog = [pending(0, age=59), pending(1, age=58)]
    assert is_late(backlog, now=NOW, interval=3.0, max_delay=60)
    plan = plan_burst(backlog, now=NOW, interval=3.0, max_delay=60)
    assert plan == (Send(SendAs.DIGEST, (0, 1)),)


def test_an_urgent_statement_goes_first_even_when_the_backlog_is_in_time() -> None:
    backlog = [pending(1), pending(2, alone=True), pending(3, urgent=True)]
    plan = plan_burst(backlog, now=NOW, interval=3.0, max_delay=60)
    assert ids(plan) == [3, 1, 2] and all(s.kind is SendAs.SINGLE for s in plan)


def test_zero_max_delay_never_gathers() -> None:
    backlog = [pending(i, age=3600) for i in range(100)]
    plan = plan_burst(backlog, now=NOW, interval=3.0, max_delay=0)
    assert all(s.kind is SendAs.SINGLE for s in plan) and ids(plan) == list(range(100))


def test_urgent_go_alone_and_first_follow_ups_alone_and_last() -> None:
    backlog = [
        pending(1),
        pending(2, alone=True),  # an edit answering an earlier alert
        pending(3, urgent=True),
        *(pending(i) for i in range(4, 40)),
        pending(40, urgent=True),
    ]
    plan = plan_burst(backlog, now=NOW, interval=3.0, max_delay=60)
    assert plan[0] == Send(SendAs.SINGLE, (3,))
    assert plan[1] == Send(SendAs.SINGLE, (40,))
    assert plan[-1] == Send(SendAs.SINGLE, (2,))
    assert [s.kind for s in plan[2:-1]] == [SendAs.DIGEST]
    assert plan[2].ids == (1, *range(4, 40))


def test_digests_split_at_the_message_limit_counting_the_head() -> None:
    backlog = [pending(i, units=999) for i in range(9)]  # 4 lines of 1000 fit 4096 with no head
    plan = plan_burst(backlog, now=NOW, interval=30.0, max_delay=60, head_units=100)
    assert [len(s.ids) for s in plan] == [3, 3, 3]


def test_a_digest_of_one_line_is_that_alert_alone() -> None:
    backlog = [pending(i, units=3000) for i in range(3)]
    plan = plan_burst(backlog, now=NOW, interval=30.0, max_delay=60)
    assert plan == tuple(Send(SendAs.SINGLE, (i,)) for i in range(3))


backlogs = st.lists(
    st.builds(
        Pending,
        id=st.integers(0, 10**6),
        created_at=st.integers(0, 600).map(lambda s: NOW - timedelta(seconds=s)),
        urgent=st.booleans(),
        alone=st.booleans(),
        line_units=st.integers(1, 5000),
    ),
    max_size=120,
    unique_by=lambda p: p.id,
)


@given(
    backlog=backlogs,
    interval=st.sampled_from([0.0, 1.0, 3.0, 60.0]),
    max_delay=st.sampled_from([0.0, 10.0, 60.0, 600.0]),
    head=st.integers(0, 200),
)
def test_every_alert_is_in_exactly_one_message_and_the_rules_hold(
    backlog: list[Pending], interval: float, max_delay: float, head: int
) -> None:
    plan = plan_burst(backlog, now=NOW, interval=interval, max_delay=max_delay, head_units=head)
    assert sorted(ids(plan)) == sorted(p.id for p in backlog)
    by_id = {p.id: p for p in backlog}
    kinds = [s.kind for s in plan]
    for step in plan:
        assert step.ids
        if step.kind is SendAs.DIGEST:
            members = [by_id[i] for i in step.ids]
            assert len(members) >= 2
            assert not any(p.urgent or p.alone for p in members)  # never gathered
            assert head + sum(p.line_units + 1 for p in members) <= 4096
            assert len(members) <= MAX_DIGEST_LINES
        else:
            assert len(step.ids) == 1
    if SendAs.DIGEST in kinds:
        first_digest = kinds.index(SendAs.DIGEST)
        heads = [by_id[s.ids[0]] for s in plan]
        urgent_at = [n for n, p in enumerate(heads) if p.urgent and not p.alone]
        alone_at = [n for n, p in enumerate(heads) if p.alone]
        assert all(n < first_digest for n in urgent_at)  # urgent first
        assert all(n > first_digest for n in alone_at)  # follow-ups after what they answer
    if max_delay == 0:
        assert set(kinds) <= {SendAs.SINGLE} and ids(plan) == [p.id for p in backlog]
    urgent_first = [
        *(p for p in backlog if p.urgent and not p.alone),
        *(p for p in backlog if not p.urgent or p.alone),
    ]
    if max_delay > 0 and not is_late(urgent_first, now=NOW, interval=interval, max_delay=max_delay):
        assert set(kinds) <= {SendAs.SINGLE} and ids(plan) == [p.id for p in urgent_first]
    # Whatever the plan, each kind keeps its outbox order.
    order = {p.id: n for n, p in enumerate(backlog)}
    for group in (
        [i for i in ids(plan) if by_id[i].alone],
        [i for i in ids(plan) if by_id[i].urgent and not by_id[i].alone],
        [i for i in ids(plan) if not by_id[i].urgent and not by_id[i].alone],
    ):
        assert group == sorted(group, key=order.__getitem__)
