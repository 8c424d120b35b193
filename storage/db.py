"""Engine and sessions from a database URL; SQLite WAL pragmas; migrations applied on start."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql import Insert as PgInsert
    from sqlalchemy.dialects.sqlite import Insert as SqliteInsert

from bot.errors import StorageError

__all__ = [
    "lock_for_setup",
    "make_engine",
    "make_sessions",
    "migrate",
    "rollback_scope",
    "session_scope",
    "upsert",
    "wrap_errors",
]

_HERE = Path(__file__).resolve().parent


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for `url`: SQLite in WAL mode with foreign keys on, or PostgreSQL (psycopg 3).

    ``postgresql://`` URLs are read as psycopg 3 so that operators need not name the driver.
    """
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    else:
        kwargs.update(pool_pre_ping=True, pool_size=5, max_overflow=5)
    engine = create_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL: readers (the `sources` command) never block the worker's writes.
    cur.execute("PRAGMA journal_mode=WAL")
    # NORMAL is durable across application crashes in WAL mode; only power loss can cost the
    # last transactions, which the next poll fetches again.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_sessions(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def wrap_errors() -> Iterator[None]:
    """Map database failures that are not bugs (connection lost, locked) to `StorageError`."""
    try:
        yield
    except (OperationalError, DBAPIError) as exc:
        if isinstance(exc, OperationalError) or exc.connection_invalidated:
            raise StorageError(f"database unavailable: {exc.orig!r}") from exc
        raise


@contextmanager
def session_scope(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back on any error."""
    with wrap_errors(), sessions() as session, session.begin():
        yield session


@contextmanager
def rollback_scope(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction that is always rolled back: its writes are seen inside it, then undone
    (a dry run, issue 7)."""
    with wrap_errors(), sessions() as session:
        session.begin()
        try:
            yield session
        finally:
            session.rollback()


#: issue 9: rows a long read takes at a time (`yield_per`). SQLAlchemy turns a whole result into
#: rows in one C loop that keeps the GIL: 30,000 rows read in a thread held the event loop for
#: over 100 ms.
READ_CHUNK = 500


def upsert(session: Session, table: Any) -> PgInsert | SqliteInsert:
    """INSERT with ON CONFLICT for the session's database. The dialect is imported when first
    asked for: PostgreSQL's module costs 45 ms, at every start of a worker that runs on SQLite
    (and the reverse)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


#: PostgreSQL advisory lock keys (any constant 64-bit numbers, the same in every worker)
MIGRATION_LOCK = 0x77617463_68706F01  # "watchpo" + 1
SYNC_LOCK = 0x77617463_68706F02


def lock_for_setup(session_or_conn: Session | Connection, key: int) -> None:
    """Hold PostgreSQL advisory lock `key` until the transaction ends; no-op on SQLite (whose
    writers are serialized by the file lock already).

    Issue 11: two workers started together on a fresh PostgreSQL both created the schema
    (`UniqueViolation pg_type_typname_nsp_index`) and both inserted the new sources
    (`uq_sources_key`); with the lock the second waits and then finds the work done.
    """
    if isinstance(session_or_conn, Connection):
        dialect = session_or_conn.dialect
    else:
        dialect = session_or_conn.get_bind().dialect
    if dialect.name == "postgresql":
        session_or_conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


#: the newest migration (a test checks it is Alembic's head): a database already there is
#: told by one query, without importing Alembic and reading every migration script (0.1 s of
#: CPU at each start, issue 9)
HEAD_REVISION = "0009_settled_items"


def _at_head(engine: Engine) -> bool:
    with wrap_errors(), engine.connect() as conn:
        try:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except DBAPIError:  # no such table yet: a new database
            return False
    return version == HEAD_REVISION


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (a no-op when it is there); concurrent
    workers take turns."""
    if _at_head(engine):
        return
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE / "migrations"))
    with wrap_errors(), engine.begin() as conn:
        lock_for_setup(conn, MIGRATION_LOCK)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
