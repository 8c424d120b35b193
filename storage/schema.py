"""SQLAlchemy 2 table models: sources and their polling state, statements, matches, the outbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AlertRow",
    "Base",
    "ChannelRow",
    "MatchRow",
    "SourceRow",
    "StatementRow",
    "UTCDateTime",
    "UsageRow",
    "VersionRow",
]

# Stable constraint names, so that migrations can refer to them on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite has no 64-bit autoincrement type of its own; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    SQLite keeps no zone: values are stored as naive UTC and read back with UTC attached, so the
    code above never sees a naive datetime.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to storage; use UTC-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class SourceRow(Base):
    """One configured source and the state that lets a restart resume where it was."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(600), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(600))
    speaker_id: Mapped[str] = mapped_column(String(200))
    interval_seconds: Mapped[int] = mapped_column(Integer)
    #: False when the source left the watchlist: kept for its statements, never polled
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: False until the first successful poll (its items are stored as seen, not alerted)
    primed: Mapped[bool] = mapped_column(Boolean, default=False)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    cursor: Mapped[str | None] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_poll_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    #: a worker holds the source until then (PostgreSQL: several workers share the table)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    #: the platform's id for the target (an X user id), resolved once
    remote_id: Mapped[str | None] = mapped_column(String(64))
    #: when the publisher said the source is gone for good (HTTP 410): no longer polled
    gone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: why the last poll failed, as a value (`bot.errors.SourceProblem`); None after a success
    last_problem: Mapped[str | None] = mapped_column(String(32))
    #: issue 9: the feed items the last stored poll settled (`bot.unchanged.encode`), written
    #: with the caching that poll received: the next poll does not read them again. Deferred:
    #: only the claim reads them (by column); an ORM load of a source (a failure recorded, the
    #: operator notices' 10,000 sources a minute) has no use for them.
    settled: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)


class StatementRow(Base):
    """One item published by a source. Written once, never rewritten: it is the evidence."""

    __tablename__ = "statements"
    __table_args__ = (
        UniqueConstraint("source_id", "external_id", name="uq_statements_source_external"),
        Index("ix_statements_content_hash", "content_hash"),
        Index("ix_statements_canonical_url", "canonical_url"),
        # issue 9: "also published by" reads the repeats of the statements of a dispatch tick
        Index("ix_statements_duplicate_of", "duplicate_of"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="RESTRICT"))
    speaker_id: Mapped[str] = mapped_column(String(200))
    external_id: Mapped[str] = mapped_column(String(1000))
    url: Mapped[str | None] = mapped_column(Text)
    canonical_url: Mapped[str | None] = mapped_column(String(2000))
    title: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(35))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    published_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)
    content_hash: Mapped[str] = mapped_column(String(64))
    #: the item as fetched
    raw: Mapped[str] = mapped_column(Text)
    #: set when this item repeats an earlier statement (same link or same text): no alert
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("statements.id"))
    #: False for items stored as seen on a source's first poll
    alerted: Mapped[bool] = mapped_column(Boolean, default=True)
    #: post, reply, quote or repost
    kind: Mapped[str] = mapped_column(String(16), default="post")
    author: Mapped[str | None] = mapped_column(String(200))
    thread_id: Mapped[str | None] = mapped_column(String(64))
    #: JSON list of what it answers, quotes or reposts
    references: Mapped[str | None] = mapped_column(Text)
    #: 64-bit SimHash of the normalized text (signed), for near-duplicates across sources
    simhash: Mapped[int | None] = mapped_column(BigInteger, index=True)
    #: when the source was found to have deleted it (the stored text stays)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: last time a deletion check saw it still there
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: issue 11: JSON list of its photos' URLs, in order
    photos: Mapped[str | None] = mapped_column(Text)


class VersionRow(Base):
    """A later version of a statement (an edit); the first version stays in `statements`."""

    __tablename__ = "statement_versions"
    __table_args__ = (
        UniqueConstraint("statement_id", "content_hash", name="uq_versions_statement_hash"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    statement_id: Mapped[int] = mapped_column(
        ForeignKey("statements.id", ondelete="CASCADE"), index=True
    )
    #: the platform's id of this version (an X post id), if it has one
    version_id: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    raw: Mapped[str] = mapped_column(Text)
    #: when the source says this version was made (an X edit's time), else when it was fetched
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MatchRow(Base):
    """Why a statement matters: one topic it matched, with the terms found."""

    __tablename__ = "statement_matches"
    __table_args__ = (
        UniqueConstraint("statement_id", "topic_id", name="uq_matches_statement_topic"),
        # issue 9: "on the other side" reads a topic's statements in a time window
        Index("ix_matches_topic_statement", "topic_id", "statement_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    statement_id: Mapped[int] = mapped_column(
        ForeignKey("statements.id", ondelete="CASCADE"), index=True
    )
    topic_id: Mapped[str] = mapped_column(String(200))
    #: JSON list of {term, found, start, end}
    terms: Mapped[str] = mapped_column(Text)


class AlertRow(Base):
    """The outbox: one statement bound for one channel, pending until Telegram confirms it."""

    __tablename__ = "alerts"
    __table_args__ = (
        # One alert of each kind per statement, channel and subject: never alerted twice.
        UniqueConstraint("statement_id", "channel_id", "kind", "subject_id", name="uq_alerts_once"),
        Index("ix_alerts_due", "status", "next_attempt_at"),
        # issue 9: whether a follow-up's parent message is a digest's (shared)
        Index("ix_alerts_channel_message", "channel_id", "message_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("statements.id", ondelete="CASCADE"))
    channel_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    #: pending → sent, or failed when Telegram refuses it for good
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the worker holding the lease (a restarted worker releases its own at start)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(64))
    #: issue 11: the forum topic (message_thread_id) it was posted in: its follow-ups go there
    thread_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the alert whose message this one answers (edit, deletion) or rewrites (thread, also)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"))
    #: what it is about: the statement itself (new, deleted), the version (edit), the other
    #: statement (also published, thread continuation)
    subject_id: Mapped[int] = mapped_column(BigInteger)


class ChannelRow(Base):
    """A channel's delivery state: where it lives now (a group can migrate to a supergroup)."""

    __tablename__ = "channels"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    chat: Mapped[str] = mapped_column(String(200))
    configured_chat: Mapped[str] = mapped_column(String(200))
    #: set when Telegram refused the chat itself: its alerts wait until the operator resumes it
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_reason: Mapped[str | None] = mapped_column(Text)


class UsageRow(Base):
    """What a metered API cost per month (X bills posts read): survives restarts for the budget."""

    __tablename__ = "api_usage"

    api: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: "YYYY-MM" (UTC)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    reads: Mapped[int] = mapped_column(BigInteger, default=0)


class BudgetStateRow(Base):
    """A metered API's run-time guard state (issue 8): counts, rate windows, a cap pause."""

    __tablename__ = "budget_state"

    api: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: the guard's state as JSON (`bot.x.budget.BudgetState.to_json`)
    state: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class NoticeRow(Base):
    """When the operator was last told about a subject (issue 11): one notice per day at most,
    across restarts."""

    __tablename__ = "operator_notices"

    #: a source key, "channel:ID", "watchlist" or "summary"
    subject: Mapped[str] = mapped_column(String(600), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    text: Mapped[str] = mapped_column(Text)
