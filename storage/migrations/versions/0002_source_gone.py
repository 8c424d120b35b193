"""Sources the publisher removed for good (HTTP 410): when they went, so they are not polled.

Revision ID: 0002_source_gone
Revises: 0001
Create Date: 2026-11-29 03:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.schema

revision = "0002_source_gone"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("gone_at", storage.schema.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("gone_at")
