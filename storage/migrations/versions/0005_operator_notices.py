"""Operator notices: when the operator was last told about a source, a channel, the watchlist
or everything (the daily summary), so that a restart does not tell it again the same day.

Revision ID: 0005_operator_notices
Revises: 0004_ops_channel_pause
Create Date: 2026-11-29 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.schema

revision = "0005_operator_notices"
down_revision = "0004_ops_channel_pause"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "operator_notices",
        sa.Column("subject", sa.String(length=600), primary_key=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("sent_at", storage.schema.UTCDateTime(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("operator_notices")
