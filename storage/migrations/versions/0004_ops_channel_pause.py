"""Channels can be paused: Telegram refused the chat itself (bot kicked, chat not found), and
its alerts wait for the operator (`watchpost channels resume ID`) instead of failing. Alerts
record which worker leased them, so that a restarted worker takes back its own at once.

Revision ID: 0004_ops_channel_pause
Revises: 0003_x_budget_state
Create Date: 2026-11-29 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.schema

revision = "0004_ops_channel_pause"
down_revision = "0003_x_budget_state"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("channels") as batch:
        batch.add_column(sa.Column("paused_at", storage.schema.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("paused_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("lease_owner")
    with op.batch_alter_table("channels") as batch:
        batch.drop_column("paused_reason")
        batch.drop_column("paused_at")
