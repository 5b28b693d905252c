"""The agent desk and the switchboard without Asterisk: a fake AMI peer (ivr/testing/fake_ami.py) that keeps
queue members as Asterisk would, so each test shows what the console sent and what it stored.

The same paths run against the real Asterisk in tests/acceptance/test_agent_desk_calls.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from ivr.db.models import (AgentStateChange, Call, CallbackRequest, CallbackStatus, QueueCall, QueueOutcome,
                           RecordingPause)
from ivr.db.session import session_scope
from ivr.domain import callbacks
from ivr.domain.users import ConsoleRole, create_user, set_active
from ivr.switchboard.board import Switchboard
from ivr.testing.console import PASSWORD, csrf_token, log_in, make_user
from ivr.testing.fake_ami import FakeAsterisk

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def asterisk() -> FakeAsterisk:
    return FakeAsterisk(connected_at=T0)


@pytest.fixture
def board(database_url: str, asterisk: FakeAsterisk) -> Iterator[Switchboard]:
    clock = iter(T0 + timedelta(seconds=n) for n in range(10_000))
    switchboard = Switchboard(asterisk, clock=lambda: next(clock))  # type: ignore[arg-type]
    yield switchboard


@pytest.fixture
def desk_app(app: Flask, board: Switchboard) -> Flask:
    app.extensions["switchboard"] = board
    return app


def _agent(desk_app: Flask, username: str = "agent1", endpoint: str | None = "agent1") -> FlaskClient:
    create_user(username, username.title(), ConsoleRole.AGENT, PASSWORD, sip_endpoint=endpoint)
    client = desk_app.test_client()
    assert log_in(client, username).status_code == 302
    return client


def _act(client: FlaskClient, action: str, **fields: object) -> Any:
    return client.post("/api/agent/state", json={"action": action, **fields},
                       headers={"X-CSRF-Token": csrf_token(client)})


def test_agent_logs_in_to_queues_through_the_api_and_asterisk_gets_the_members(desk_app, asterisk):
    client = _agent(desk_app)

    body = _act(client, "log_in", queues=["general", "vip"]).get_json()

    assert (body["state"], body["queues"]) == ("available", ["general", "vip"])
    assert set(asterisk.members) == {("agents", "PJSIP/agent1"), ("vip", "PJSIP/agent1")}
    assert client.get("/api/agent/state").get_json()["state"] == "available"


def test_pause_needs_a_listed_reason_and_pauses_in_asterisk(desk_app, asterisk):
    client = _agent(desk_app)
    _act(client, "log_in", queues=["claims"])

    refused = _act(client, "pause", reason="nap")
    paused = _act(client, "pause", reason="lunch").get_json()

    assert refused.status_code == 400 and refused.get_json()["error"]["id"] == "invalid_pause_reason"
    assert (paused["state"], paused["reason"]) == ("paused", "lunch")
    assert asterisk.members[("claims", "PJSIP/agent1")] == {"Paused": "1", "PausedReason": "lunch"}
    assert _act(client, "resume").get_json()["state"] == "available"
    assert asterisk.members[("claims", "PJSIP/agent1")]["Paused"] == "0"


def test_every_change_is_stored_with_its_time(desk_app, asterisk):
    client = _agent(desk_app)
    for action, fields in (("log_in", {"queues": ["vip"]}), ("pause", {"reason": "break"}), ("resume", {}),
                           ("log_out", {})):
        assert _act(client, action, **fields).status_code == 200

    with session_scope() as session:
        rows = session.execute(select(AgentStateChange.state, AgentStateChange.reason, AgentStateChange.at)
                               .order_by(AgentStateChange.id)).all()
    assert [(state.value, reason) for state, reason, _ in rows] == [
        ("available", ""), ("paused", "break"), ("available", ""), ("logged_out", "")]
    assert [at for _, _, at in rows] == sorted(at for _, _, at in rows)
    assert asterisk.members == {}


def test_with_asterisk_down_logging_in_is_refused_and_nothing_is_stored_but_logging_out_works(
        desk_app, asterisk):
    client = _agent(desk_app)
    _act(client, "log_in", queues=["vip"])
    asterisk.up = False

    refused = _act(client, "log_in", queues=["claims"])
    logged_out = _act(client, "log_out")

    assert refused.status_code == 503 and refused.get_json()["error"]["id"] == "asterisk_unavailable"
    assert logged_out.status_code == 200 and logged_out.get_json()["state"] == "logged_out"


def test_an_agent_without_a_phone_cannot_join_a_queue(desk_app):
    client = _agent(desk_app, "nophone", endpoint=None)

    response = _act(client, "log_in", queues=["vip"])

    assert response.status_code == 400 and response.get_json()["error"]["id"] == "agent_has_no_phone"


def test_a_console_without_an_ami_link_answers_queue_actions_with_503(app: Flask):
    client = _agent(app)

    response = _act(client, "log_in", queues=["vip"])

    assert response.status_code == 503 and response.get_json()["error"]["id"] == "asterisk_unavailable"


@pytest.mark.parametrize(("role", "path", "status"), [
    (ConsoleRole.QUALITY, "/desk", 403), (ConsoleRole.QUALITY, "/api/agent/state", 403),
    (ConsoleRole.AGENT, "/wallboard", 403), (ConsoleRole.AGENT, "/api/wallboard", 403),
    (ConsoleRole.SUPERVISOR, "/wallboard", 200), (ConsoleRole.ADMIN, "/api/wallboard", 200),
])
def test_desk_is_for_agents_and_the_wallboard_for_supervisors(desk_app, role, path, status):
    client = desk_app.test_client()
    make_user(role)
    assert log_in(client, f"{role.value}1").status_code == 302

    assert client.get(path).status_code == status


def test_reconnect_brings_asterisk_in_line_with_the_record(desk_app, board, asterisk):
    client = _agent(desk_app)
    _act(client, "log_in", queues=["vip"])
    _act(client, "pause", reason="training")
    asterisk.members.clear()  # an Asterisk restart forgets dynamic members
    asterisk.members[("claims", "PJSIP/agent1")] = {"Paused": "0", "PausedReason": ""}  # and a stale one

    board.resync()

    assert asterisk.members == {("vip", "PJSIP/agent1"): {"Paused": "1", "PausedReason": "training"}}


def _queue_call(asterisk: FakeAsterisk, unique_id: str, number: str, queue: str = "agents") -> None:
    asterisk.emit("QueueCallerJoin", Queue=queue, Uniqueid=unique_id, CallerIDNum=number, Position="1")


def test_abandon_in_queue_opens_one_callback_and_a_second_abandon_merges(board, asterisk):
    _queue_call(asterisk, "1.1", "13700000077")
    asterisk.emit("QueueCallerAbandon", Queue="agents", Uniqueid="1.1", HoldTime="42", Position="1")
    _queue_call(asterisk, "1.2", "13700000077")
    asterisk.emit("QueueCallerAbandon", Queue="agents", Uniqueid="1.2", HoldTime="5", Position="1")
    asterisk.emit("QueueCallerAbandon", Queue="agents", Uniqueid="1.2", HoldTime="5", Position="1")  # seen twice

    with session_scope() as session:
        requests = session.scalars(select(CallbackRequest)).all()
        waits = dict(session.execute(select(QueueCall.unique_id, QueueCall.wait_seconds)).all())
    assert [(r.number, r.reason, r.request_count, r.status) for r in requests] == [
        ("+8613700000077", "queue_abandoned", 2, CallbackStatus.OPEN)]
    assert waits == {"1.1": 42, "1.2": 5}


def test_agent_connect_pops_the_call_on_the_agents_desk_once(desk_app, board, asterisk):
    client = _agent(desk_app)
    _queue_call(asterisk, "2.1", "13911110001", "vip")
    agent_id = client.get("/api/agent/state").get_json()["user_id"]
    seen, others = board.pops.of(agent_id).version, board.pops.of(agent_id + 1).version

    for _ in range(2):
        asterisk.emit("AgentConnect", Queue="vip", Uniqueid="2.1", CallerIDNum="13911110001",
                      Interface="PJSIP/agent1", MemberName="Agent1", HoldTime="3", RingTime="1")

    card = client.get("/api/screen-pops/latest").get_json()
    assert (card["pop"]["call_unique_id"], card["pop"]["queue"], card["customer_id"]) == ("2.1", "vip", None)
    assert board.pops.of(agent_id).version == seen + 1  # woken once, for this agent only
    assert board.pops.of(agent_id + 1).version == others
    with session_scope() as session:
        row = session.scalar(select(QueueCall).where(QueueCall.unique_id == "2.1"))
        assert (row.outcome, row.wait_seconds, row.agent_interface) == (QueueOutcome.ANSWERED, 3, "PJSIP/agent1")
        assert session.scalar(select(func.count()).select_from(Call)) == 0


def test_agent_complete_ends_the_talk_and_a_transfer_is_marked_as_one(board, asterisk):
    for unique_id in ("5.1", "5.2"):
        _queue_call(asterisk, unique_id, "13911110005")
        asterisk.emit("AgentConnect", Queue="agents", Uniqueid=unique_id, CallerIDNum="13911110005",
                      Interface="PJSIP/agent1", HoldTime="2")
    asterisk.emit("AgentComplete", Queue="agents", Uniqueid="5.1", Interface="PJSIP/agent1", HoldTime="2",
                  TalkTime="30", Reason="caller")
    asterisk.emit("AgentComplete", Queue="agents", Uniqueid="5.2", Interface="PJSIP/agent1", HoldTime="2",
                  TalkTime="40", Reason="transfer")

    with session_scope() as session:
        ended = {row.unique_id: (row.ended_at is not None, row.transferred)
                 for row in session.scalars(select(QueueCall))}
    assert ended == {"5.1": (True, False), "5.2": (True, True)}


def test_the_desk_event_stream_sends_the_card_of_a_new_pop(desk_app, asterisk):
    client = _agent(desk_app)
    _queue_call(asterisk, "3.1", "13700000001", "claims")
    asterisk.emit("AgentConnect", Queue="claims", Uniqueid="3.1", CallerIDNum="13700000001",
                  Interface="PJSIP/agent1", HoldTime="0")

    response = client.get("/desk/events?after=0", buffered=False)
    received = ""
    for chunk in response.response:
        received += chunk.decode() if isinstance(chunk, bytes) else chunk
        if "event: pop" in received:
            break
    response.close()

    assert response.mimetype == "text/event-stream"
    assert '"call_unique_id": "3.1"' in received and '"customer": null' in received


def test_advisor_answering_pops_the_call_without_a_queue(desk_app, asterisk):
    client = _agent(desk_app)

    asterisk.emit("UserEvent", UserEvent="HotlineAdvisorConnect", CallerUniqueid="4.1", Endpoint="agent1",
                  CallerNumber="+8613911110001")

    card = client.get("/api/screen-pops/latest").get_json()
    assert (card["pop"]["call_unique_id"], card["pop"]["queue"]) == ("4.1", "")


def test_wallboard_counts_waiting_answered_and_abandoned_calls(desk_app, board, asterisk):
    client = desk_app.test_client()
    make_user(ConsoleRole.SUPERVISOR)
    assert log_in(client, "supervisor1").status_code == 302
    _agent(desk_app)
    for unique_id in ("5.1", "5.2", "5.3"):
        _queue_call(asterisk, unique_id, "13700000002")
    asterisk.emit("AgentConnect", Queue="agents", Uniqueid="5.1", Interface="PJSIP/agent1", HoldTime="10")
    asterisk.emit("QueueCallerAbandon", Queue="agents", Uniqueid="5.2", HoldTime="50")

    body = client.get("/api/wallboard").get_json()

    general = next(q for q in body["queues"] if q["queue"] == "general")
    assert (body["answered"], body["abandoned"], body["service_level"]) == (1, 1, 0.5)
    assert (general["today"]["offered"], general["today"]["answered"]) == (3, 1)
    assert [a["username"] for a in body["agents"]] == ["agent1"]


def test_call_back_now_takes_the_request_and_rings_the_agents_phone_first(desk_app, asterisk):
    client = _agent(desk_app)
    request_id = callbacks.request_callback("+8613911110001", None, "closed_hours", "6.1", T0).request_id

    response = client.post(f"/api/callbacks/{request_id}/call", json={},
                           headers={"X-CSRF-Token": csrf_token(client)})

    assert response.status_code == 200 and response.get_json()["status"] == "in_progress"
    originate = next(action for action in asterisk.sent if action["Action"] == "Originate")
    assert (originate["Channel"], originate["Context"], originate["Exten"]) == ("PJSIP/agent1", "hotline-callback", "s")
    assert "CALLBACK_NUMBER=+8613911110001" in originate["Variable"]


def test_an_agent_switched_off_is_logged_out_and_the_resync_takes_their_phone_out(desk_app, board, asterisk):
    client = _agent(desk_app)
    _act(client, "log_in", queues=["vip", "claims"])

    set_active("agent1", False)
    board.resync()

    assert asterisk.members == {}
    with session_scope() as session:
        last = session.scalars(select(AgentStateChange).order_by(AgentStateChange.id.desc())).first()
    assert (last.state.value, last.source) == ("logged_out", "admin")


def test_the_desk_says_when_asterisk_cannot_be_reached(desk_app, asterisk):
    client = _agent(desk_app)
    assert 'id="link-state"' not in client.get("/desk").get_data(as_text=True)

    asterisk.up = False

    assert "Asterisk cannot be reached" in client.get("/desk").get_data(as_text=True)


def _call_put_through(client: FlaskClient, asterisk: FakeAsterisk, unique_id: str) -> None:
    """A queue call that reaches this agent (AgentConnect) and is still up in Asterisk."""
    _queue_call(asterisk, unique_id, "13911110009", "claims")
    asterisk.channels.add(unique_id)
    asterisk.emit("AgentConnect", Queue="claims", Uniqueid=unique_id, CallerIDNum="13911110009",
                  Interface="PJSIP/agent1", MemberName="Agent1", HoldTime="2", RingTime="1")


def _recording(client: FlaskClient, unique_id: str, paused: object) -> Any:
    return client.post(f"/api/calls/{unique_id}/recording", json={"paused": paused},
                       headers={"X-CSRF-Token": csrf_token(client)})


def test_the_agent_pauses_and_resumes_the_recording_of_their_call_and_the_pause_is_marked(desk_app, asterisk):
    client = _agent(desk_app)
    _call_put_through(client, asterisk, "3.1")

    paused = _recording(client, "3.1", True)
    resumed = _recording(client, "3.1", False)

    assert (paused.status_code, paused.get_json()) == (200, {"unique_id": "3.1", "paused": True})
    assert resumed.get_json()["paused"] is False
    mutes = [(a["Channel"], a["Direction"], a["State"]) for a in asterisk.sent if a["Action"] == "MixMonitorMute"]
    assert mutes == [("3.1", "both", "1"), ("3.1", "both", "0")]
    with session_scope() as session:
        pause = session.scalar(select(RecordingPause).where(RecordingPause.unique_id == "3.1"))
        assert pause.resumed_at is not None and pause.paused_at < pause.resumed_at
        assert pause.by_user_id == client.get("/api/agent/state").get_json()["user_id"]


def test_another_agents_call_or_an_ended_one_cannot_be_paused_and_nothing_is_marked(desk_app, asterisk):
    owner = _agent(desk_app)
    _call_put_through(owner, asterisk, "3.2")
    other = _agent(desk_app, "agent2", "agent2")

    not_theirs = _recording(other, "3.2", True)
    asterisk.channels.discard("3.2")
    ended = _recording(owner, "3.2", True)
    not_a_flag = _recording(owner, "3.2", "yes")

    assert (not_theirs.status_code, not_theirs.get_json()["error"]["id"]) == (409, "not_your_call")
    assert (ended.status_code, ended.get_json()["error"]["id"]) == (409, "call_ended")
    assert (not_a_flag.status_code, not_a_flag.get_json()["error"]["id"]) == (400, "invalid_paused")
    assert [a["Channel"] for a in asterisk.sent if a["Action"] == "MixMonitorMute"] == ["3.2"]  # the ended call only
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(RecordingPause)) == 0
