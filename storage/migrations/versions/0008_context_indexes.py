"""Indexes for the alert context read in bulk per dispatch tick (issue 9): the repeats of a
statement (`duplicate_of`: "also published by"), the statements of a topic ("on the other
side": the match table was only indexed by statement), and the alerts sharing a Telegram
message (a digest's message is not rewritten by a follow-up).

Revision ID: 0008_context_indexes
Revises: 0007_source_problem
Create Date: 2026-11-29 06:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0008_context_indexes"
down_revision = "0007_source_problem"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_statements_duplicate_of", "statements", ["duplicate_of"])
    op.create_index("ix_matches_topic_statement", "statement_matches", ["topic_id", "statement_id"])
    op.create_index("ix_alerts_channel_message", "alerts", ["channel_id", "message_id"])


def downgrade() -> None:
    op.drop_index("ix_alerts_channel_message", table_name="alerts")
    op.drop_index("ix_matches_topic_statement", table_name="statement_matches")
    op.drop_index("ix_statements_duplicate_of", table_name="statements")
