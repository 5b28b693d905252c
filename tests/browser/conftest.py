"""Fixtures for browser tests: the console served over HTTP on the test's database, and headless Chromium.

Where Chromium or Playwright is missing the tests are skipped with the reason,
except on CI, where that is a failure (`make test` installs both).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from ivr.testing.browser import ConsoleServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


@pytest.fixture
def console_server(database_url: str) -> Iterator[ConsoleServer]:
    """The console on the test's own fresh database, over plain HTTP on a free loopback port."""
    server = ConsoleServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def page(browser: Browser, console_server: ConsoleServer) -> Iterator[Page]:
    """A fresh browser context (no cookies) whose relative URLs go to ``console_server``."""
    context = browser.new_context(base_url=console_server.url)
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()
