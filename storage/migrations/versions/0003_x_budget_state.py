"""X budget guard state: counts, rate windows and a cap pause survive a restart (issue 8).

Revision ID: 0003_x_budget_state
Revises: 0002_source_gone
Create Date: 2026-11-29 03:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.schema

revision = "0003_x_budget_state"
down_revision = "0002_source_gone"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "budget_state",
        sa.Column("api", sa.String(length=32), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("updated_at", storage.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("api", name=op.f("pk_budget_state")),
    )


def downgrade() -> None:
    op.drop_table("budget_state")
