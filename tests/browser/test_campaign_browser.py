"""The campaign page in Chromium: a supervisor creates a campaign with the form, starts it, and watches
its figures and SVG charts follow the calls recorded through the domain, without reloading the page.

The console's clock is stopped at NOW (the small book's policies fall due 2026-12-01), so what is
selected and which hour a call falls in do not depend on the day the test runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import pytest
from ivr.db.models import AttemptStatus
from ivr.domain import campaigns
from ivr.domain.users import ConsoleRole
from ivr.testing.browser import ConsoleServer, log_in
from ivr.testing.campaign_attempts import attempt_ids, call
from ivr.testing.console import make_user
from ivr.testing.small_book import SmallBook

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

NOW = datetime(2026, 11, 20, 2, 30, tzinfo=timezone.utc)  # 10:30 in Shanghai
HOSTILE = "<img src=x onerror=alert(1)> \"Dec\" <script>alert(2)</script>"


@pytest.fixture
def console_server(database_url: str) -> Iterator[ConsoleServer]:
    """The console on the test's database with its clock stopped at NOW (replaces the shared fixture)."""
    server = ConsoleServer({"CLOCK": lambda: NOW})
    try:
        yield server
    finally:
        server.stop()


def test_a_supervisor_creates_starts_and_watches_a_campaign(page: Page, small_book: SmallBook) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    make_user(ConsoleRole.SUPERVISOR)
    log_in(page, "supervisor1")
    page.locator("#nav-campaigns").click()

    form = page.locator("#new-campaign")
    form.get_by_label("Name", exact=True).fill(HOSTILE)
    form.get_by_label("Message", exact=True).fill("premium due")
    form.locator('input[name="due_within_days"]').fill("30")
    form.get_by_role("button", name="Create campaign").click()

    page.wait_for_url("**/campaigns/*")
    assert page.locator("#campaign-name").inner_text() == HOSTILE  # the name stayed text
    assert page.locator("#campaign-state").inner_text() == "draft"
    page.get_by_role("button", name="Start").click()

    page.wait_for_selector("#planned")
    assert "3 policies selected now" in page.locator("#planned").inner_text()
    assert page.locator("#campaign-state").inner_text() == "running"
    page.wait_for_selector('#outcomes-chart rect[data-status="planned"][data-count="3"]')  # drawn from the API

    campaign_id = campaigns.campaign_by_name(HOSTILE).id
    first, second, _ = attempt_ids(campaign_id)
    call(first, NOW, AttemptStatus.ANSWERED, "1")
    call(second, NOW, AttemptStatus.BUSY)

    page.wait_for_selector('#outcomes-chart rect[data-status="answered"][data-count="1"]')  # the next refresh
    assert page.locator('#outcomes-chart rect[data-status="busy"]').get_attribute("data-count") == "1"
    # the busy call's retry is planned: 1 first attempt still planned + 1 retry
    assert page.locator('#outcomes-chart rect[data-status="planned"]').get_attribute("data-count") == "2"
    this_hour = page.locator(f'#timeline-chart g[data-hour="{NOW.replace(minute=0).isoformat()}"]')
    assert this_hour.get_attribute("data-total") == "2"
    assert this_hour.locator('rect[data-status="answered"]').get_attribute("data-count") == "1"
    assert this_hour.locator('rect[data-status="busy"]').get_attribute("data-count") == "1"
    assert page.locator("#timeline-chart g[data-hour] rect").count() == 2  # no calls in the other 23 hours
    assert page.locator('[data-field="dialled"]').inner_text() == "2"
    assert page.locator('[data-field="agent_requests"]').inner_text() == "1"
    assert page.locator('[data-field="contact_rate"]').inner_text() == "33%"
    assert page.locator('#by-status tr[data-status="answered"]').inner_text().split() == ["answered", "1"]

    page.get_by_role("button", name="Pause").click()
    assert page.locator("#campaign-state").inner_text() == "paused"
    assert page.locator("img").count() == 0 and dialogs == []  # nothing the name held ever ran


def test_an_agent_is_refused_the_campaign_page(page: Page) -> None:
    make_user(ConsoleRole.AGENT)
    log_in(page, "agent1")

    response = page.goto("/campaigns")

    assert response is not None and response.status == 403
    assert page.locator("#nav-campaigns").count() == 0
