"""The agent console in a real browser, for tests: the app served over HTTP on loopback,
and headless Chromium from Debian's ``chromium`` package (Playwright never downloads one).

The server runs in a thread of the test process, so the pages read and write the
test's own database (the process-wide settings) and a test can arrange data with
the domain functions before it opens a page.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from werkzeug.serving import make_server

from ivr.testing.console import PASSWORD
from ivr.web import create_app

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from ivr.switchboard.board import Switchboard

CHROMIUM = Path("/usr/bin/chromium")


class ConsoleServer:
    """``create_app()`` behind werkzeug on a free 127.0.0.1 port, until ``stop()``.

    Plain HTTP, so the session cookie must not be ``Secure`` (as with ``ivr web --dev``):
    a browser would not send it back.
    """

    def __init__(self, test_config: dict[str, Any] | None = None, switchboard: Switchboard | None = None) -> None:
        app = create_app({"SESSION_COOKIE_SECURE": False, **(test_config or {})})
        if switchboard is not None:  # as `ivr web` does: queue actions, screen pops, the live wallboard
            app.extensions["switchboard"] = switchboard
        self.app = app
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        # a short poll so that stop() returns at once, not after werkzeug's default half second
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="console-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()


def browser_unavailable() -> str | None:
    """Why a browser cannot be driven on this machine, or None when it can."""
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is missing: .venv/bin/pip install -e '.[test]'"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing: install Debian's chromium (`make browser` as root)"
    return None


@contextmanager
def headless_chromium() -> Iterator[Browser]:
    """Debian's Chromium through Playwright, closed on exit.

    Chromium's own sandbox refuses to start as root, which tests are here, so it is off;
    the browser only ever opens our loopback server.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def log_in(page: Page, username: str, password: str = PASSWORD) -> None:
    """Fill in and send the login form as a person would; the form carries its own CSRF token."""
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
