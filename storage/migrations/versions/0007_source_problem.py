"""Why a source's last poll failed, as a value: a changed layout is told to the operator at once.

Revision ID: 0007_source_problem
Revises: 0006_media_threads
Create Date: 2026-11-29 06:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_source_problem"
down_revision = "0006_media_threads"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("last_problem", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("last_problem")
