"""Watchpost's storage: SQLAlchemy 2 models, repository functions and Alembic migrations.

Repository functions take a `Session` first and return `bot.model` values, never ORM rows.
"""

from storage.db import make_engine, make_sessions, migrate, session_scope, wrap_errors
from storage.deletions import (
    ToCheck,
    due_for_deletion_check,
    posts_since,
    record_checked,
    record_deleted,
)
from storage.outbox import (
    alert_state,
    claim_alerts,
    mark_alert_failed,
    mark_alert_retry,
    mark_alert_sent,
    outbox_counts,
    release_alert,
    set_channel_chat,
    sync_channels,
)
from storage.queries import (
    also_published,
    recent_on_topics,
    text_before,
    thread_continuations,
    version_text,
)
from storage.sources import (
    claim_sources,
    postpone_source,
    record_not_modified,
    record_poll_failure,
    record_poll_success,
    record_source_gone,
    source_statuses,
    sync_sources,
)
from storage.statements import (
    apply_intents,
    known_hashes,
    load_statement,
    load_statements,
    load_version,
    lookup_known,
    recent_fingerprints,
    source_id_of,
)
from storage.usage import load_budget_state, month_usage, record_usage, save_budget_state

__all__ = [
    "ToCheck",
    "alert_state",
    "also_published",
    "apply_intents",
    "claim_alerts",
    "claim_sources",
    "due_for_deletion_check",
    "known_hashes",
    "load_budget_state",
    "load_statement",
    "load_statements",
    "load_version",
    "lookup_known",
    "make_engine",
    "make_sessions",
    "mark_alert_failed",
    "mark_alert_retry",
    "mark_alert_sent",
    "migrate",
    "month_usage",
    "outbox_counts",
    "postpone_source",
    "posts_since",
    "recent_fingerprints",
    "recent_on_topics",
    "record_checked",
    "record_deleted",
    "record_not_modified",
    "record_poll_failure",
    "record_poll_success",
    "record_source_gone",
    "record_usage",
    "release_alert",
    "save_budget_state",
    "session_scope",
    "set_channel_chat",
    "source_id_of",
    "source_statuses",
    "sync_channels",
    "sync_sources",
    "text_before",
    "thread_continuations",
    "version_text",
    "wrap_errors",
]
