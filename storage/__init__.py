"""Watchpost's storage: SQLAlchemy 2 models, repository functions and Alembic migrations.

Repository functions take a `Session` first and return `bot.model` values, never ORM rows.
"""

from storage.db import (
    lock_for_setup,
    make_engine,
    make_sessions,
    migrate,
    rollback_scope,
    session_scope,
    wrap_errors,
)
from storage.deletions import ToCheck, due_for_deletion_check, record_checked, record_deleted
from storage.outbox import (
    alert_state,
    claim_alerts,
    mark_alert_failed,
    mark_alert_retry,
    mark_alert_sent,
    mark_alert_shown,
    outbox_counts,
    release_alert,
    release_alerts,
    resend_shown,
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
    release_sources,
    source_statuses,
    sync_sources,
    sync_watchlist,
)
from storage.statements import (
    known_hashes,
    load_statement,
    load_statements,
    load_version,
    recent_fingerprints,
    store_statements,
)
from storage.usage import month_usage, record_usage

__all__ = [
    "ToCheck",
    "alert_state",
    "also_published",
    "claim_alerts",
    "claim_sources",
    "due_for_deletion_check",
    "known_hashes",
    "load_statement",
    "load_statements",
    "load_version",
    "lock_for_setup",
    "make_engine",
    "make_sessions",
    "mark_alert_failed",
    "mark_alert_retry",
    "mark_alert_sent",
    "mark_alert_shown",
    "migrate",
    "month_usage",
    "outbox_counts",
    "postpone_source",
    "recent_fingerprints",
    "recent_on_topics",
    "record_checked",
    "record_deleted",
    "record_not_modified",
    "record_poll_failure",
    "record_poll_success",
    "record_usage",
    "release_alert",
    "release_alerts",
    "release_sources",
    "resend_shown",
    "rollback_scope",
    "session_scope",
    "set_channel_chat",
    "source_statuses",
    "store_statements",
    "sync_channels",
    "sync_sources",
    "sync_watchlist",
    "text_before",
    "thread_continuations",
    "version_text",
    "wrap_errors",
]
