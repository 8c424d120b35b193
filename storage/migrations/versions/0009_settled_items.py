"""The feed items a source's last stored poll settled: the next poll, of any worker or of the
next `watchpost once`, does not read them again (issue 9).

Revision ID: 0009_settled_items
Revises: 0008_context_indexes
Create Date: 2026-11-29 11:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_settled_items"
down_revision = "0008_context_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("settled", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("settled")
