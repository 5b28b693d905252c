"""The desk's screen pop and the wallboard's refresh in Chromium, without Asterisk: the console has
no AMI link here, so the page's stream polls the database and the wallboard reads the records.

The same pages with a real AMI link and real calls: tests/acceptance/test_agent_desk_calls.py.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

import pytest

from ivr.domain import queue_calls, screen_pops
from ivr.domain.users import ConsoleRole, create_user
from ivr.testing.browser import log_in
from ivr.testing.console import PASSWORD, make_user

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser


def test_a_pop_stored_for_the_agent_appears_on_the_open_desk_as_text(page: Page) -> None:
    agent = create_user("agent1", "Ada", ConsoleRole.AGENT, PASSWORD, sip_endpoint="agent1")
    log_in(page, "agent1")
    page.goto("/desk")
    page.wait_for_selector("#stream-state:has-text('Connected')")

    hostile = "<img src=x onerror=alert(1)>"
    screen_pops.record_pop(agent.id, "1700000000.1", hostile, "claims", datetime.now(timezone.utc))

    pop = page.locator("#screen-pop")
    pop.wait_for(state="visible")  # no reload
    assert pop.locator('[data-field="caller"]').inner_text() == f"unknown caller {hostile}"
    assert pop.locator('[data-field="verified"]').inner_text() == "NOT verified"
    assert pop.locator('[data-field="queue"]').inner_text() == "claims"
    assert pop.locator("img").count() == 0  # the caller's text stayed text


def test_the_wallboard_refreshes_itself_from_the_records(page: Page) -> None:
    make_user(ConsoleRole.SUPERVISOR)
    log_in(page, "supervisor1")
    page.goto("/wallboard")
    waiting = page.locator('tr[data-queue="complaints"] .waiting')
    assert waiting.inner_text() == "0"
    assert "Asterisk unreachable" in page.locator("#board-state").inner_text()

    queue_calls.joined("1700000000.2", "complaints", "13700000001", datetime.now(timezone.utc))

    page.wait_for_selector('tr[data-queue="complaints"] .waiting:text-is("1")')  # within the 2 s refresh


def test_an_agent_is_refused_the_wallboard_page(page: Page) -> None:
    make_user(ConsoleRole.AGENT)
    log_in(page, "agent1")

    response = page.goto("/wallboard")

    assert response is not None and response.status == 403
