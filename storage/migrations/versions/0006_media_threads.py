"""Photos of a statement and the forum topic of a sent alert (issue 11).

Revision ID: 0006_media_threads
Revises: 0005_operator_notices
Create Date: 2026-11-29 06:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_media_threads"
down_revision = "0005_operator_notices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("statements") as batch:
        batch.add_column(sa.Column("photos", sa.Text(), nullable=True))
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("thread_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("thread_id")
    with op.batch_alter_table("statements") as batch:
        batch.drop_column("photos")
