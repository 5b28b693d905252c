"""Engines and short-lived sessions.

Sessions are opened per domain operation and closed at once: an IVR flow waits
minutes for a caller's keys, and must never hold a connection or a transaction
while it waits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from ivr.config import get_settings
from ivr.db.models import Base


def _enable_sqlite_foreign_keys(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # With WAL, NORMAL survives a crash of our process; only a power cut can
    # lose the last commits. FULL costs a disk sync per call-record step.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """One engine (and pool) per database URL per process.

    The pool bounds how many calls write at once; a call that cannot get a
    connection within ``db_pool_timeout`` seconds goes to an agent.
    """
    settings = get_settings()
    pool = {"pool_size": settings.db_pool_size, "max_overflow": settings.db_max_overflow,
            "pool_timeout": settings.db_pool_timeout}
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **pool)
        event.listen(engine, "connect", _enable_sqlite_foreign_keys)
        return engine
    return create_engine(url, pool_pre_ping=True, **pool)


def ensure_sqlite_folder(url: str) -> None:
    """Create the folder of a SQLite database file (a fresh machine has no ``var/``)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def get_engine() -> Engine:
    return engine_for(get_settings().database_url)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A transaction: committed when the block ends, rolled back on error."""
    session = sessionmaker(bind=get_engine(), expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def insert_if_absent(session: Session, model: type[Base], **values: object) -> None:
    """INSERT a row unless one with the same unique key exists (ON CONFLICT DO NOTHING).

    Safe when two calls race to create the same row: one inserts, the other
    finds it, and neither fails.
    """
    session.execute(_insert(session)(model).values(**values).on_conflict_do_nothing())


def insert_all_if_absent(session: Session, model: type[Base], rows: Sequence[Mapping[str, object]]) -> None:
    """``insert_if_absent`` for many rows in one executemany: a campaign plans 200,000 first attempts in
    seconds, not one statement per row."""
    if rows:
        session.execute(_insert(session)(model.__table__).on_conflict_do_nothing(), list(rows))


def _insert(session: Session) -> Callable[..., Any]:
    """The dialect's INSERT, which has ON CONFLICT DO NOTHING (PostgreSQL and SQLite)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
