"""Shared pytest fixtures. Each fixture below is self-contained; add new ones after them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr.config import get_settings, set_settings
from ivr.db.models import Customer
from ivr.db.session import session_scope
from ivr.domain.book_import import write_book
from ivr.domain.routing import ROUND_THE_CLOCK
from ivr.telephony.ami import AmiClient
from ivr.testing.ami_replay import RECORDED_SECRET, AmiReplayServer
from ivr.testing.browser import browser_unavailable, headless_chromium
from ivr.testing.databases import fresh_database, made_current
from ivr.testing.missing import missing
from ivr.testing.small_book import SmallBook
from ivr.web import create_app

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A freshly migrated, empty database for one test, made the process-wide one.

    SQLite in ``tmp_path`` by default; with IVR_TEST_DATABASE_URL set (e.g.
    postgresql://postgres@127.0.0.1:5432/test), a PostgreSQL schema of the
    test's own, dropped afterwards (see ivr/testing/databases.py). The
    previous settings are restored afterwards.
    """
    with fresh_database(tmp_path) as url, made_current(url):
        yield url


@pytest.fixture
def app(database_url: str) -> Flask:
    """The Flask app on the test's own database (Flask's testing pattern)."""
    return create_app({"TESTING": True, "SECRET_KEY": "test-secret-key", "SESSION_COOKIE_SECURE": False})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def small_book(database_url: str) -> SmallBook:
    """Two customers, a motor and a life policy, and an active, a suspended and a terminated agent."""
    book = SmallBook()
    with session_scope() as session:
        write_book(session, book.rows(), "test-salt")
        book.customer_id = session.scalar(select(Customer.id).where(Customer.customer_no == "C1"))
        book.other_customer_id = session.scalar(select(Customer.id).where(Customer.customer_no == "C2"))
    return book


@pytest.fixture(autouse=True)
def open_round_the_clock() -> Iterator[None]:
    """A test's outcome must not depend on the hour it runs: the contact centre is open
    round the clock, with no holidays, unless a test sets its own calendar (tests/test_routing.py)."""
    previous = get_settings()
    set_settings(previous.replace(opening_hours=ROUND_THE_CLOCK, holidays=""))
    try:
        yield
    finally:
        set_settings(previous)


AMI_FIXTURES = Path(__file__).parent / "fixtures" / "ami"


@pytest.fixture
def replay() -> Iterator[Callable[[str], AmiReplayServer]]:
    """``replay("name")``: a running fake Asterisk playing tests/fixtures/ami/name.txt.

    Afterwards the server is stopped and must have seen no departure from the script.
    """
    servers: list[AmiReplayServer] = []

    def start(name: str) -> AmiReplayServer:
        server = AmiReplayServer(AMI_FIXTURES / f"{name}.txt").__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
        assert server.errors == []


@pytest.fixture
def clients() -> Iterator[Callable[..., AmiClient]]:
    """``clients()``: a new AmiClient, closed after the test."""
    made: list[AmiClient] = []

    def new(**kwargs: object) -> AmiClient:
        client = AmiClient(**kwargs)  # type: ignore[arg-type]
        made.append(client)
        return client

    yield new
    for client in made:
        client.close(timeout=0.1)


@pytest.fixture
def logged_in(clients: Callable[..., AmiClient]) -> Callable[..., AmiClient]:
    """``logged_in(server)``: a new AmiClient connected and logged in to a replay server."""

    def connect(server: AmiReplayServer, **kwargs: object) -> AmiClient:
        client = clients(**kwargs)
        client.connect("127.0.0.1", server.port, timeout=2)
        client.login("hotline", RECORDED_SECRET)
        return client

    return connect


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium (Debian's) for the session, for tests/browser and the acceptance tests;
    each test opens its own context (cookies)."""
    reason = browser_unavailable()
    if reason is not None:
        missing("browser", reason)
    with headless_chromium() as chromium:
        yield chromium
