"""Throwaway databases for tests: a SQLite file, or a PostgreSQL schema of their own.

With ``IVR_TEST_DATABASE_URL`` set (CI sets postgresql://postgres@127.0.0.1:5432/test)
every test database is a fresh schema in that database, selected through
``search_path`` and dropped afterwards, so tests stay isolated and leave nothing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from ivr.config import get_settings, set_settings
from ivr.db.migrate import upgrade
from ivr.db.session import dispose_engines

TEST_DATABASE_URL_ENV = "IVR_TEST_DATABASE_URL"


@contextmanager
def fresh_database(folder: Path, name: str = "hotline-test", server_url: str | None = None) -> Iterator[str]:
    """The URL of a new, migrated, empty database, removed on exit.

    A PostgreSQL ``server_url`` (default: ``IVR_TEST_DATABASE_URL``, if set) gets a schema
    of its own; otherwise a SQLite file ``<folder>/<name>.db``, replaced if it exists.
    """
    server_url = server_url or os.environ.get(TEST_DATABASE_URL_ENV)
    with _postgres_schema(server_url) if server_url else _sqlite_file(folder, name) as url:
        upgrade(url)
        try:
            yield url
        finally:
            dispose_engines(url)


@contextmanager
def made_current(url: str) -> Iterator[str]:
    """``url`` as the process-wide database (the settings) until exit; the previous settings restored."""
    previous = get_settings()
    set_settings(previous.replace(database_url=url))
    try:
        yield url
    finally:
        set_settings(previous)


@contextmanager
def _sqlite_file(folder: Path, name: str) -> Iterator[str]:
    for stale in folder.glob(f"{name}.db*"):  # with its -wal and -shm files
        stale.unlink()
    yield f"sqlite:///{folder / (name + '.db')}"


@contextmanager
def _postgres_schema(server_url: str) -> Iterator[str]:
    """A URL whose connections see only a new schema (search_path), dropped on exit."""
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(server_url, poolclass=NullPool)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(server_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
