"""Engines and short-lived sessions.

Sessions are opened per domain operation and closed at once: an IVR flow waits
minutes for a caller's keys, and must never hold a connection or a transaction
while it waits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Dialect, Engine, Executable, Select, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.types import TypeEngine
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
    connection within ``db_pool_timeout`` seconds goes to an agent. Every
    checkout is pinged first, so a database restart costs no call a failed
    statement.
    """
    return _create_engine(url, pre_ping=True)


@lru_cache(maxsize=8)
def direct_engine_for(url: str) -> Engine:
    """The pool of :func:`fetch_one` and :func:`write_direct`: autocommit, and no ping on checkout.

    The ping is a round trip as dear as the single indexed read or write it
    would guard (recognising the caller, writing a step of the call record, on
    every call); a connection that died with the database is found by the
    statement itself, and the work is retried once on a fresh connection.
    """
    return _create_engine(url, pre_ping=False, isolation_level="AUTOCOMMIT", pool_reset_on_return=None)


def _create_engine(url: str, pre_ping: bool, **options: Any) -> Engine:
    settings = get_settings()
    pool = {"pool_size": settings.db_pool_size, "max_overflow": settings.db_max_overflow,
            "pool_timeout": settings.db_pool_timeout}
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **pool, **options)
        event.listen(engine, "connect", _enable_sqlite_foreign_keys)
        return engine
    # libpq's connect_timeout: without it a database host that does not answer holds a call for
    # the kernel's TCP timeout (minutes) at each step.
    return create_engine(url, pool_pre_ping=pre_ping, connect_args={"connect_timeout": settings.db_connect_timeout},
                         **pool, **options)


def dispose_engines(url: str) -> None:
    """Close every pooled connection to ``url`` (a test database about to be dropped)."""
    engine_for(url).dispose()
    direct_engine_for(url).dispose()


def ensure_sqlite_folder(url: str) -> None:
    """Create the folder of a SQLite database file (a fresh machine has no ``var/``)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def get_engine() -> Engine:
    return engine_for(get_settings().database_url)


@lru_cache(maxsize=8)
def _session_factory(engine: Engine) -> sessionmaker[Session]:
    """One ``sessionmaker`` per engine: each call of ``sessionmaker()`` makes a Session subclass and
    sets up its event dispatch, about 0.3 ms of CPU, on every step of every call."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A transaction: committed when the block ends, rolled back on error."""
    session = _session_factory(get_engine())()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def fetch_one(statement: Select[Any], params: Mapping[str, object]) -> tuple[Any, ...] | None:
    """The first row of one read-only statement, outside any transaction, on the direct pool.

    For the hot reads of a call (who is calling, their date of birth) that need
    no consistency with anything else. The statement is compiled once per
    dialect and run on the pooled DBAPI connection: SQLAlchemy's per-execution
    work (cache key, result object) cost as much as PostgreSQL's answer. Values
    still go through their columns' type processing, both ways.
    """
    rows = fetch_all(statement, params)
    return rows[0] if rows else None


def fetch_all(statement: Select[Any], params: Mapping[str, object]) -> list[tuple[Any, ...]]:
    """Every row of one read-only statement, as :func:`fetch_one` reads (a customer's policies)."""
    return _direct([(statement, params)], transaction=False)[0]


Write = tuple[Executable, Mapping[str, object]]


def write_direct(steps: Sequence[Write]) -> list[tuple[Any, ...] | None]:
    """Run ``steps`` (statement, parameters) in one transaction on the direct pool; the first
    row each returned (``RETURNING``), or None.

    For the writes every call makes at every wait for the caller (its record and
    steps): a few statements compiled once per dialect, without ORM, session or
    ping. Parameters go through their columns' bind processing (dates, enums),
    and every parameter must be given: a column default is not applied here.
    One statement is its own transaction; several are wrapped in BEGIN/COMMIT.
    A connection found dead (the database restarted since it was pooled) is
    dropped with the rest of the pool and the whole transaction run again on a
    fresh one, so ``steps`` must be safe to repeat after a commit whose answer
    was lost (a repeated insert fails on its unique key rather than duplicate).
    """
    return [rows[0] if rows else None for rows in _direct(steps, transaction=len(steps) > 1)]


def _direct(steps: Sequence[Write], transaction: bool) -> list[list[tuple[Any, ...]]]:
    """Every row each of ``steps`` returned."""
    engine = direct_engine_for(get_settings().database_url)
    compiled = [_compiled(statement, engine.dialect) for statement, _ in steps]
    prepared = [(each.sql, each.arguments(params)) for each, (_, params) in zip(compiled, steps)]
    for retry in (False, True):
        try:
            results = _run(engine, prepared, transaction)
            return [each.rows(result) for each, result in zip(compiled, results)]
        except _DeadConnection as dead:
            if retry:
                raise dead.error from dead
    raise AssertionError("unreachable")


class _DeadConnection(Exception):
    """A pooled connection turned out dead (and was invalidated) during a statement."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


#: A statement's rows as the DBAPI gave them, and the type code of each column (DBAPI ``description``).
Result = tuple[list[Sequence[Any]], tuple[object, ...]]


@dataclass(frozen=True)
class _Compiled:
    """A statement as its dialect runs it, with what turns parameters into DBAPI arguments."""

    sql: str
    order: tuple[str, ...]  # positional parameter names in order; empty for named styles
    fixed: dict[str, object]  # parameters the statement carries itself (literal values)
    processors: dict[str, Callable[[Any], Any]]  # per parameter: the column type's bind processing
    columns: tuple[TypeEngine[Any], ...]  # the result columns' types
    dialect: Dialect
    results: dict[tuple[object, ...], tuple[Callable[[Any], Any] | None, ...]] = field(default_factory=dict)

    def rows(self, result: Result) -> list[tuple[Any, ...]]:
        """The rows, each value through its column type's result processing (which depends on the
        type the database said it sent: PostgreSQL's numeric or float, say)."""
        rows, type_codes = result
        if type_codes not in self.results:
            self.results[type_codes] = tuple(column.dialect_impl(self.dialect).result_processor(self.dialect, code)
                                             for column, code in zip(self.columns, type_codes))
        processors = self.results[type_codes]
        return [tuple(value if process is None else process(value) for process, value in zip(processors, row))
                for row in rows]

    def arguments(self, params: Mapping[str, object]) -> Sequence[object] | Mapping[str, object]:
        values = {**self.fixed, **params}
        for name, process in self.processors.items():
            if name in values:
                values[name] = process(values[name])
        return [values[name] for name in self.order] if self.order else values


_COMPILED: dict[tuple[Executable, str], _Compiled] = {}


def _compiled(statement: Executable, dialect: Dialect) -> _Compiled:
    """Compiled once per statement object and dialect: module-level constants, or statements
    cached by their builder, since each is kept for the life of the process."""
    key = (statement, dialect.name)
    if key not in _COMPILED:
        compiled = statement.compile(dialect=dialect)
        processors = {name: process for name, bind in compiled.binds.items()
                      if (process := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None}
        columns = tuple(column.type for column in getattr(statement, "exported_columns", ()))
        order = tuple(compiled.positiontup or ()) if dialect.positional else ()
        fixed = {k: v for k, v in compiled.params.items() if v is not None}
        _COMPILED[key] = _Compiled(str(compiled), order, fixed, processors, columns, dialect)
    return _COMPILED[key]


def _run(engine: Engine, prepared: Sequence[tuple[str, Any]], transaction: bool) -> list[Result]:
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            rows = _execute_all(cursor, prepared, transaction)
        finally:
            cursor.close()
    except engine.dialect.loaded_dbapi.Error as exc:
        if engine.dialect.is_disconnect(exc, connection.dbapi_connection, None):
            connection.invalidate(exc)
            engine.dispose()  # a restart killed the idle ones too: the retry gets a new connection
            raise _DeadConnection(exc) from exc
        if transaction:
            _roll_back(connection)
        raise
    finally:
        connection.close()
    return rows


def _execute_all(cursor: Any, prepared: Sequence[tuple[str, Any]], transaction: bool) -> list[Result]:
    if transaction:
        cursor.execute("BEGIN")
    rows: list[Result] = []
    for sql, arguments in prepared:
        cursor.execute(sql, arguments)
        description = cursor.description or ()
        rows.append((cursor.fetchall() if description else [], tuple(column[1] for column in description)))
    if transaction:
        cursor.execute("COMMIT")
    return rows


def _roll_back(connection: Any) -> None:
    """End a failed transaction before the connection goes back to the pool (which does not reset
    it); a connection that cannot even roll back is not pooled again."""
    try:
        cursor = connection.cursor()
        cursor.execute("ROLLBACK")
        cursor.close()
    except Exception as exc:
        connection.invalidate(exc)


def advance_id_sequences(session: Session, tables: Sequence[Any]) -> None:
    """After rows were inserted with ids given (bulk writes), move PostgreSQL's id sequences past
    them, or the next ordinary insert collides with row 1. SQLite needs nothing."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in tables:
        session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                             f"coalesce(max(id), 0) + 1, false) FROM {table.name}"))


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
    return dialect_insert(session.get_bind().dialect.name)


def dialect_insert(dialect: str) -> Callable[..., Any]:
    """The dialect's INSERT, which has ON CONFLICT DO NOTHING (PostgreSQL and SQLite)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def database_dialect() -> str:
    """``postgresql`` or ``sqlite``: the configured database's dialect."""
    return get_engine().dialect.name
