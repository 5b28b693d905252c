"""The console's login, roles and logout, driven through headless Chromium against a live server."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ivr.domain.users import ConsoleRole
from ivr.testing.browser import ConsoleServer, log_in
from ivr.testing.console import make_user

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser


def test_agent_logs_in_through_the_form_and_sees_the_console_home(page: Page, console_server: ConsoleServer) -> None:
    make_user(ConsoleRole.AGENT, "agent1", "Ada Agent")
    page.goto("/")
    assert page.url.startswith(f"{console_server.url}/login?next=")
    assert page.locator("input[name=csrf_token]").get_attribute("value")

    log_in(page, "agent1")

    page.wait_for_url(f"{console_server.url}/")
    assert page.locator("#display-name").inner_text() == "Ada Agent"
    assert page.locator("#signed-in-as").inner_text() == "Ada Agent (agent)"


def test_wrong_password_shows_the_error_and_stays_on_the_login_page(page: Page,
                                                                     console_server: ConsoleServer) -> None:
    make_user(ConsoleRole.AGENT, "agent1")

    log_in(page, "agent1", "not the password")

    assert page.locator("#login-error").inner_text() == "Wrong username or password."
    assert page.url.startswith(f"{console_server.url}/login")
    assert page.locator("#signed-in-as").count() == 0


def test_agent_opening_the_fraud_alerts_is_refused(page: Page, console_server: ConsoleServer) -> None:
    make_user(ConsoleRole.AGENT, "agent1")
    log_in(page, "agent1")
    page.wait_for_url(f"{console_server.url}/")
    assert page.get_by_role("link", name="Fraud alerts").count() == 0

    response = page.goto("/api/fraud-alerts")

    assert response is not None and response.status == 403
    assert response.json()["error"]["id"] == "forbidden"


def test_logging_out_ends_the_session(page: Page, console_server: ConsoleServer) -> None:
    make_user(ConsoleRole.SUPERVISOR, "supervisor1")
    log_in(page, "supervisor1")
    page.wait_for_url(f"{console_server.url}/")

    page.get_by_role("button", name="Log out").click()

    page.wait_for_url(f"{console_server.url}/login")
    page.goto("/")
    assert page.url.startswith(f"{console_server.url}/login?next=")
    assert page.locator("#signed-in-as").count() == 0
