"""The agent desk end to end: real calls routed to a queue, an agent's pjsua2 phone logged in
through the console's API (or its page in Chromium) auto-answering, the screen pop, the
wallboard, callbacks after an abandon, and the AMI link across an Asterisk restart.

The console (Flask app and its switchboard with a real AMI link) runs in this process on
the acceptance database; the FastAGI server is the session's ``hotline``.
"""

from __future__ import annotations

from datetime import datetime, timezone
import re
from contextlib import contextmanager
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from ivr.db.models import CallbackRequest, CallbackStatus, ConsoleUser, Customer
from ivr.db.session import session_scope
from ivr.domain import callbacks
from ivr.domain.users import ConsoleRole, put_user
from ivr.switchboard.board import Switchboard
from ivr.telephony.ami_link import AmiLink, Backoff
from ivr.testing.browser import ConsoleServer
from ivr.testing.browser import log_in as log_in_page  # the form, in Chromium
from ivr.testing.console import PASSWORD, csrf_token, log_in
from ivr.testing.ivr_call import IvrCall
from ivr.testing.waiting import eventually

pytestmark = pytest.mark.acceptance

LI_LEI_MOBILE = "13911110001"  # AT000001 Li Lei, VIP, English, born 1975-02-28, policies 9900000011 and 12
ABANDONING_NUMBER = "13700000077"  # nobody's number
AGENT, SUPERVISOR, ENDPOINT = "desk-agent", "desk-supervisor", "agent2"
T = TypeVar("T")


@pytest.fixture(scope="module")
def switchboard(hotline) -> Iterator[Switchboard]:
    board = Switchboard(AmiLink(backoff=Backoff(initial=0.2, cap=2.0)))
    board.start()
    eventually(lambda: board.link_status().connected, what="AMI link up")
    yield board
    board.stop()


@pytest.fixture(scope="module")
def console(switchboard: Switchboard) -> Iterator[ConsoleServer]:
    put_user(AGENT, "Desk Agent", ConsoleRole.AGENT, PASSWORD, sip_endpoint=ENDPOINT)
    put_user(SUPERVISOR, "Desk Supervisor", ConsoleRole.SUPERVISOR, PASSWORD)
    server = ConsoleServer(switchboard=switchboard)
    yield server
    server.stop()


@pytest.fixture
def agent_api(console: ConsoleServer) -> Iterator[FlaskClient]:
    """The agent logged in to the console's API; logged out of every queue afterwards."""
    client = console.app.test_client()
    assert log_in(client, AGENT).status_code == 302
    yield client
    if client.get("/api/agent/state").get_json()["state"] != "logged_out":
        _act(client, "log_out")


@pytest.fixture
def browser_page(browser: Any, console: ConsoleServer) -> Iterator[Callable[[str], Any]]:
    """``open_as(username)``: a fresh browser context logged in through the form."""
    contexts = []

    def open_as(username: str) -> Any:
        context = browser.new_context(base_url=console.url)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        log_in_page(page, username)
        page.wait_for_url(re.compile(r"/$"))
        return page

    yield open_as
    for context in contexts:
        context.close()


def _act(client: FlaskClient, action: str, **fields: object) -> dict[str, Any]:
    response = client.post("/api/agent/state", json={"action": action, **fields},
                           headers={"X-CSRF-Token": csrf_token(client)})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _member(switchboard: Switchboard, queue: str, interface: str = f"PJSIP/{ENDPOINT}") -> Any:
    snapshots = switchboard.queues.status(queue)
    return next((m for s in snapshots for m in s.members if m.interface == interface), None)


def _to_agent_as_li_lei(sip_caller, asterisk_log) -> IvrCall:
    """Li Lei verifies, hears the summary of his policies, then presses 0 for a person."""
    call = IvrCall(sip_caller, asterisk_log, "95519", LI_LEI_MOBILE)
    call.press("main_menu", "1", "en")
    call.key_in("enter_birth_date", "19750228")
    call.press("choose_policy_key", "0")
    return call


def _in_one_bridge(sandbox, *channel_prefixes: str) -> bool:
    """Whether a channel starting with each prefix is Up, all in the same bridge."""
    channels = sandbox.channels()
    bridges = {next((bridge for name, (state, bridge) in channels.items()
                     if name.startswith(prefix) and state == "Up"), "") for prefix in channel_prefixes}
    return len(bridges) == 1 and "" not in bridges


@contextmanager
def desk_agent_is_li_leis_advisor() -> Iterator[None]:
    with session_scope() as session:
        li_lei = session.scalar(select(Customer).where(Customer.customer_no == "AT000001"))
        li_lei.advisor_id = session.scalar(select(ConsoleUser.id).where(ConsoleUser.username == AGENT))
    try:
        yield
    finally:
        with session_scope() as session:
            session.execute(update(Customer).where(Customer.customer_no == "AT000001").values(advisor_id=None))


def test_vip_caller_reaches_the_agent_logged_in_through_the_api_and_pops_on_their_desk(
        switchboard, agent_api, agent_phone, sip_caller, asterisk_log, sandbox):
    phone = agent_phone(ENDPOINT)
    state = _act(agent_api, "log_in", queues=["vip"])
    assert (state["state"], state["queues"]) == ("available", ["vip"])
    assert _member(switchboard, "vip") is not None

    call = _to_agent_as_li_lei(sip_caller, asterisk_log)
    asterisk_log.wait_for(r"HOTLINE to-agent outcome=transfer .*route=vip queue=vip prio=10$", timeout=40)
    answered = phone.wait_for_call(30)
    answered.wait_answered()
    assert answered.caller_number.endswith(LI_LEI_MOBILE)
    eventually(lambda: _in_one_bridge(sandbox, call.channel, f"PJSIP/{ENDPOINT}-"), what="caller and agent bridged")

    pop = eventually(lambda: (r := agent_api.get("/api/screen-pops/latest")).status_code == 200 and r.get_json(),
                     what="screen pop")
    assert pop["pop"]["queue"] == "vip" and pop["verified"] is True
    assert pop["customer"]["identity"]["name"] == "Li Lei"
    assert {p["policy_no"] for p in pop["customer"]["policies"]} == {"9900000011", "9900000012"}
    assert pop["call"]["path"]["intent"] == "policy_lookup"
    assert any("asked for a person" in step for step in pop["call"]["path"]["steps"])
    call.hang_up()
    answered.wait_disconnected()

    assert _act(agent_api, "log_out")["state"] == "logged_out"
    assert _member(switchboard, "vip") is None


def test_an_agent_who_transfers_the_caller_on_counts_as_a_transfer(
        switchboard, agent_api, agent_phone, sip_caller, asterisk_log, sandbox):
    phone = agent_phone(ENDPOINT)
    _act(agent_api, "log_in", queues=["vip"])
    started = datetime.now(timezone.utc)
    call = _to_agent_as_li_lei(sip_caller, asterisk_log)
    answered = phone.wait_for_call(40)
    answered.wait_answered()
    eventually(lambda: _in_one_bridge(sandbox, call.channel, f"PJSIP/{ENDPOINT}-"), what="caller and agent bridged")

    answered.transfer("sip:600@127.0.0.1:5060")  # the echo test, in the agents' context

    asterisk_log.wait_for(r"Executing \[600@from-agents:\d+\] Answer\(\"PJSIP/caller-", timeout=15)
    answered.hangup()  # the phone leaves the call once the transfer is done, as phones do
    answered.wait_disconnected()
    wait = eventually(lambda: _ended_wait_since(started, LI_LEI_MOBILE), what="the wait's talk ended")
    assert (wait.outcome.value, wait.transferred) == ("answered", True)
    call.hang_up()
    _act(agent_api, "log_out")


def _ended_wait_since(started: datetime, number: str) -> Any:
    """The queue wait of ``number`` that began after ``started``, once its talk has ended."""
    from ivr.db.models import QueueCall

    with session_scope() as session:
        row = session.scalar(select(QueueCall).where(QueueCall.joined_at >= started,
                                                     QueueCall.number.endswith(number)))
        session.expunge_all()
    return row if row is not None and row.ended_at is not None else None


def test_agent_joins_a_queue_in_the_browser_and_sees_the_screen_pop_of_a_real_call(
        browser_page, agent_phone, sip_caller, asterisk_log, switchboard):
    phone = agent_phone(ENDPOINT)
    page = browser_page(AGENT)
    page.goto("/desk")
    page.get_by_label("vip").check()
    page.get_by_role("button", name="Log in to queues").click()
    assert page.locator("#state").inner_text() == "available"
    page.wait_for_selector("#stream-state:has-text('Connected')")

    call = _to_agent_as_li_lei(sip_caller, asterisk_log)
    answered = phone.wait_for_call(40)
    answered.wait_answered()
    pop = page.locator("#screen-pop")
    pop.wait_for(state="visible")
    assert "Li Lei" in pop.locator('[data-field="caller"]').inner_text()
    assert pop.locator('[data-field="verified"]').inner_text() == "verified"
    assert pop.locator('tr[data-policy="9900000011"]').count() == 1
    assert pop.locator('tr[data-policy="9900000012"]').count() == 1
    assert "asked for a person" in pop.locator('[data-list="path"]').inner_text()
    call.hang_up()

    page.get_by_role("button", name="Log out of queues").click()
    assert page.locator("#state").inner_text() == "logged out"
    assert _member(switchboard, "vip") is None


def test_wallboard_shows_the_waiting_call_and_agents_cannot_open_it(browser_page, sip_caller, asterisk_log):
    agent_page = browser_page(AGENT)
    response = agent_page.goto("/wallboard")
    assert response.status == 403

    board = browser_page(SUPERVISOR)
    board.goto("/wallboard")
    assert board.locator('tr[data-queue="general"] .waiting').inner_text() == "0"
    call = IvrCall(sip_caller, asterisk_log, "95519", ABANDONING_NUMBER)
    call.press("language_choice", "0", "en")
    asterisk_log.wait_for(rf'Queue\("{re.escape(call.channel)}", "agents"', timeout=40)
    board.wait_for_selector('tr[data-queue="general"] .waiting:text-is("1")')  # without a reload
    call.hang_up()
    board.wait_for_selector('tr[data-queue="general"] .waiting:text-is("0")')


def _abandon_in_queue(sip_caller, asterisk_log) -> None:
    call = IvrCall(sip_caller, asterisk_log, "95519", ABANDONING_NUMBER)
    call.press("language_choice", "0", "en")
    asterisk_log.wait_for(rf'Queue\("{re.escape(call.channel)}", "agents"', timeout=40)
    time.sleep(1)
    call.hang_up()


def _abandon_requests() -> list[CallbackRequest]:
    with session_scope() as session:
        return list(session.scalars(select(CallbackRequest).where(
            CallbackRequest.number == f"+86{ABANDONING_NUMBER}")).all())


def test_abandoned_queue_call_creates_one_callback_and_a_second_within_the_hour_merges(
        switchboard, sip_caller, asterisk_log):
    before = {r.id: r.request_count for r in _abandon_requests()}
    _abandon_in_queue(sip_caller, asterisk_log)
    first = eventually(lambda: [r for r in _abandon_requests() if r.request_count > before.get(r.id, 0)],
                       what="callback request after the abandon")
    assert len(first) == 1 and first[0].status is CallbackStatus.OPEN and first[0].reason == "queue_abandoned"

    _abandon_in_queue(sip_caller, asterisk_log)
    eventually(lambda: any(r.request_count == first[0].request_count + 1 for r in _abandon_requests()),
               what="the second abandon merged")
    outstanding = [r for r in _abandon_requests() if r.status in (CallbackStatus.OPEN, CallbackStatus.IN_PROGRESS)]
    assert len(outstanding) == 1


def test_call_back_now_rings_the_agents_phone_then_dials_the_customer(agent_api, agent_phone, asterisk_log):
    phone = agent_phone(ENDPOINT)
    with session_scope() as session:
        session.execute(update(CallbackRequest).where(CallbackRequest.number == "+8613911110001",
                                                      CallbackRequest.status == CallbackStatus.OPEN)
                        .values(status=CallbackStatus.CANCELLED))
    request_id = callbacks.request_callback("+8613911110001", None, "closed_hours", None,
                                            datetime.now(timezone.utc)).request_id

    response = agent_api.post(f"/api/callbacks/{request_id}/call", json={},
                              headers={"X-CSRF-Token": csrf_token(agent_api)})

    assert response.status_code == 200 and response.get_json()["status"] == "in_progress"
    ringing = phone.wait_for_call(20)
    assert ringing.caller_number == "+8613911110001"  # the agent sees whom they are calling
    ringing.wait_answered()
    asterisk_log.wait_for(rf"HOTLINE callback id={request_id} number=\+8613911110001 trunk=outbound$", timeout=20)
    asterisk_log.wait_for(r'Dial\("PJSIP/agent2-[^"]+", "PJSIP/\+8613911110001@outbound,60"\)', timeout=10)
    ringing.hangup()
    finished = agent_api.post(f"/api/callbacks/{request_id}/finish", json={"outcome": "done", "note": "called"},
                              headers={"X-CSRF-Token": csrf_token(agent_api)})
    assert finished.get_json()["status"] == "done"  # and the number has no request left outstanding


def test_after_an_asterisk_restart_the_link_reconnects_and_the_paused_agent_is_back_in_the_queue(
        switchboard, agent_api, sandbox):
    _act(agent_api, "log_in", queues=["claims"])
    _act(agent_api, "pause", reason="lunch")
    reconnects = switchboard.link_status().reconnects

    sandbox.restart()

    eventually(lambda: switchboard.link_status().connected and switchboard.link_status().reconnects > reconnects,
               timeout=60, what="AMI link reconnected")
    member = eventually(lambda: _member(switchboard, "claims"), what="agent re-added to claims")
    assert (member.paused, member.paused_reason) == (True, "lunch")
    state = agent_api.get("/api/agent/state").get_json()
    assert (state["state"], state["reason"], state["queues"]) == ("paused", "lunch", ["claims"])
    _act(agent_api, "resume")
    assert eventually(lambda: (m := _member(switchboard, "claims")) is not None and not m.paused and m)


def test_caller_with_an_advisor_of_record_who_is_free_reaches_them_first(
        switchboard, agent_api, agent_phone, sip_caller, asterisk_log):
    phone = agent_phone(ENDPOINT)
    _act(agent_api, "log_in", queues=["complaints"])  # logged in and free, but not in Li Lei's queue
    with desk_agent_is_li_leis_advisor():
        call = _to_agent_as_li_lei(sip_caller, asterisk_log)
        asterisk_log.wait_for(rf"HOTLINE advisor endpoint={ENDPOINT} ring=15$", timeout=40)
        answered = phone.wait_for_call(20)
        answered.wait_answered()
        pop = eventually(lambda: (r := agent_api.get("/api/screen-pops/latest")).status_code == 200
                         and r.get_json()["pop"]["queue"] == "" and r.get_json(), what="advisor screen pop")
        assert pop["customer"]["identity"]["name"] == "Li Lei"
        assert any("offered first to their advisor" in step for step in pop["call"]["path"]["steps"])
        call.hang_up()


def test_an_advisor_who_does_not_answer_in_time_leaves_the_caller_to_the_queue(
        switchboard, agent_api, agent_phone, sip_caller, asterisk_log):
    phone = agent_phone(ENDPOINT, answer_after=60)  # rings, never answers within advisor_ring_seconds
    _act(agent_api, "log_in", queues=["complaints"])
    with desk_agent_is_li_leis_advisor():
        call = _to_agent_as_li_lei(sip_caller, asterisk_log)
        asterisk_log.wait_for(rf"HOTLINE advisor endpoint={ENDPOINT} ring=15$", timeout=40)
        ringing = phone.wait_for_call(10)
        asterisk_log.wait_for(rf'Queue\("{re.escape(call.channel)}", "vip"', timeout=25)  # after the ring time
        ringing.wait_disconnected(10)  # the advisor's phone stopped ringing
        call.hang_up()
