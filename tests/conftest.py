"""Shared pytest fixtures. Each fixture below is self-contained; add new ones after them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.config import get_settings, set_settings
from ivr.testing.databases import fresh_database


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A freshly migrated, empty database for one test, made the process-wide one.

    SQLite in ``tmp_path`` by default; with IVR_TEST_DATABASE_URL set (e.g.
    postgresql://postgres@127.0.0.1:5432/test), a PostgreSQL schema of the
    test's own, dropped afterwards (see ivr/testing/databases.py). The
    previous settings are restored afterwards.
    """
    with fresh_database(tmp_path) as url:
        previous = get_settings()
        set_settings(previous.replace(database_url=url))
        try:
            yield url
        finally:
            set_settings(previous)
