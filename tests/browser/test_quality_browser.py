"""The quality console in Chromium: a quality user finds a call by a word of its transcript, plays it,
clicks a word and the player seeks there; fills in the scorecard; an agent is refused another agent's
recording; the admin's access log shows the listen."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ivr.config import get_settings, set_settings
from ivr.domain.users import ConsoleRole
from ivr.testing.browser import log_in
from ivr.testing.console import make_user
from ivr.testing.recorded_calls import Said, recorded_call

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

ANALYTICS = {"script": [{"item": "greeting", "found": True, "score": 1.0, "at": 0.5}], "script_adherence": 1.0,
             "forbidden": [], "keywords": {}, "talk_seconds": {"caller": 3.0, "agent": 2.0}, "silence_ratio": 0.5,
             "longest_silence": 3.0, "overtalk_seconds": 0.0, "agent_words_per_minute": 100.0, "duration": 12.0}


@pytest.fixture
def calls(console_server, tmp_path: Path) -> dict[str, int]:
    set_settings(get_settings().replace(recordings_dir=str(tmp_path / "recordings"), recording_stable_seconds=0))
    ann, bob = make_user(ConsoleRole.AGENT, "ann").id, make_user(ConsoleRole.AGENT, "bob").id
    make_user(ConsoleRole.QUALITY)
    make_user(ConsoleRole.ADMIN)
    return {
        "ann_call": recorded_call("2.1", 12.0, [Said("agent", 0.5, "welcome to the hotline"),
                                                Said("caller", 6.0, "my windscreen is broken")],
                                  agent_id=ann, analytics=ANALYTICS),
        "bob_call": recorded_call("2.2", 5.0, [Said("agent", 0.5, "good morning")], agent_id=bob,
                                  analytics=ANALYTICS),
    }


def _current_time(page: Page) -> float:
    return page.locator("#player").evaluate("player => player.currentTime")


def test_a_word_found_in_a_transcript_plays_and_a_click_on_a_word_seeks_there(page: Page, calls) -> None:
    log_in(page, "quality1")
    page.goto("/quality/recordings")
    page.locator("#words").fill("windscreen")
    page.locator("#search").click()
    rows = page.locator("#recordings tbody tr[data-recording]")
    assert rows.count() == 1 and rows.get_attribute("data-recording") == str(calls["ann_call"])
    rows.locator("a").click()

    word = page.locator('#transcript .word:text-is("windscreen")')
    start = float(word.get_attribute("data-start"))
    word.click()  # seeks there and plays

    page.wait_for_function("() => !document.getElementById('player').paused")
    assert start <= _current_time(page) < start + 2.0
    current = page.locator("#transcript .word.current")
    current.wait_for()  # the word being said is highlighted as it plays
    assert current.count() == 1 and current.inner_text() in ("windscreen", "is", "broken")
    page.locator('#transcript .word:text-is("welcome")').click()
    page.wait_for_function("() => document.getElementById('player').currentTime < 2.0")

    scorecard = page.locator("#scorecard")
    assert scorecard.locator('input[name="item_greeting"]').input_value() == "10"  # from the analytics
    for name, points in (("identity", "25"), ("notice", "5"), ("need", "20"), ("courtesy", "15"),
                         ("no_forbidden", "10")):
        scorecard.locator(f'input[name="item_{name}"]').fill(points)
    scorecard.locator("textarea[name=comment]").fill("slow down when reading the policy number")
    page.locator("#save-evaluation").click()
    assert page.locator("#evaluation-saved").is_visible()
    assert "85.0" in page.locator("#evaluations").inner_text()


def test_an_agent_is_refused_another_agents_recording_and_the_admin_sees_who_listened(
        page: Page, browser: Browser, console_server, calls) -> None:
    log_in(page, "quality1")
    page.goto(f"/quality/recordings/{calls['bob_call']}")
    page.locator('#transcript .word:text-is("morning")').click()
    page.wait_for_function("() => !document.getElementById('player').paused")

    ann = _signed_in(browser, console_server.url, "ann")
    refused = ann.goto(f"/quality/recordings/{calls['bob_call']}")
    assert refused is not None and refused.status == 403
    assert ann.goto(f"/quality/recordings/{calls['ann_call']}").status == 200

    admin = _signed_in(browser, console_server.url, "admin1")
    admin.goto("/quality/access-log")
    rows = admin.locator("#access-log tbody tr")
    assert rows.count() == 1
    assert [cell.inner_text() for cell in rows.first.locator("td").all()][1:] == ["quality1", str(calls["bob_call"]),
                                                                                 "listen"]


def _signed_in(browser: Browser, url: str, username: str) -> Page:
    """A page of a browser context of its own (its own cookies), logged in as ``username``."""
    context = browser.new_context(base_url=url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    log_in(page, username)
    page.wait_for_url(f"{url}/")
    return page
