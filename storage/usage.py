"""Repository functions for metered API usage (requests and posts read per month)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.db import upsert
from storage.schema import BudgetStateRow, UsageRow

__all__ = ["load_budget_state", "month_usage", "record_usage", "save_budget_state"]


def _month(now: datetime) -> str:
    return f"{now.year:04d}-{now.month:02d}"


def record_usage(session: Session, api: str, now: datetime, *, requests: int, reads: int) -> None:
    """Add to this month's counters of `api`."""
    stmt = upsert(session, UsageRow).values(
        api=api, month=_month(now), requests=requests, reads=reads
    )
    # One statement, so that two workers adding at once both count.
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["api", "month"],
            set_={
                "requests": UsageRow.requests + stmt.excluded.requests,
                "reads": UsageRow.reads + stmt.excluded.reads,
            },
        )
    )


def month_usage(session: Session, api: str, now: datetime) -> tuple[int, int]:
    """(requests, reads) of `api` in the month of `now`."""
    row = session.scalars(
        select(UsageRow).where(UsageRow.api == api, UsageRow.month == _month(now))
    ).first()
    return (row.requests, row.reads) if row else (0, 0)


def save_budget_state(session: Session, api: str, state: str, *, now: datetime) -> None:
    """Store the run-time guard's state of `api` (JSON text), replacing the last one."""
    stmt = upsert(session, BudgetStateRow).values(api=api, state=state, updated_at=now)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["api"],
            set_={"state": stmt.excluded.state, "updated_at": stmt.excluded.updated_at},
        )
    )


def load_budget_state(session: Session, api: str) -> str | None:
    """The guard state of `api` stored last, or None."""
    return session.scalars(select(BudgetStateRow.state).where(BudgetStateRow.api == api)).first()
