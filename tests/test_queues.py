"""Queue control over AMI, against conversations recorded from the sandbox (tests/fixtures/ami/)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ivr.telephony.errors import AmiActionError, AmiUnsafeValue
from ivr.telephony.queues import QueueControl, QueueEntry, QueueMember
from ivr.testing.fake_ami import FakeAsterisk


def test_agent_joins_pauses_for_lunch_and_leaves_as_recorded(replay, logged_in):
    server = replay("queue_control")
    queues = QueueControl(logged_in(server))

    queues.add_member("vip", "PJSIP/agent2", "Agent 2")
    queues.add_member("vip", "PJSIP/agent2", "Agent 2")  # "Already there": logged in twice is fine
    with pytest.raises(AmiActionError, match="No such queue"):
        queues.add_member("nosuchqueue", "PJSIP/agent2", "Agent 2")
    (vip,) = queues.status("vip")
    queues.pause_member("PJSIP/agent2", True, "lunch break", queue="vip")
    every = {snapshot.name: snapshot for snapshot in queues.status()}
    queues.remove_member("vip", "PJSIP/agent2")
    queues.remove_member("vip", "PJSIP/agent2")  # "Not there": logged out twice is fine
    with pytest.raises(AmiActionError, match="Interface not found"):
        queues.pause_member("PJSIP/agent2", True)
    with pytest.raises(AmiActionError, match="No such queue"):
        queues.remove_member("nosuchqueue", "PJSIP/agent2")
    assert queues.status("nosuchqueue") == []

    login = datetime.fromtimestamp(1795314244, timezone.utc)
    assert (vip.name, vip.calls_waiting, vip.completed, vip.abandoned) == ("vip", 1, 0, 0)
    assert vip.members == (QueueMember(interface="PJSIP/agent2", name="Agent 2", status="unavailable",
                                       paused=False, paused_reason="", in_call=False, calls_taken=0,
                                       last_call=None, login_time=login),)
    assert vip.entries == (QueueEntry(uniqueid="1795314246.0", channel="Local/600@from-agents-00000000;1",
                                      caller_id_num="13800138000", caller_id_name="Wang Li",
                                      position=1, wait_s=1, priority=0),)
    assert sorted(every) == ["agents", "claims", "complaints", "vip"]
    (paused,) = every["vip"].members
    assert (paused.paused, paused.paused_reason) == (True, "lunch break")
    assert [m.interface for m in every["agents"].members] == ["PJSIP/agent1"]
    assert every["claims"].members == every["claims"].entries == ()
    pause = next(m for m in server.received if m.get("Action") == "QueuePause")
    assert (pause["Paused"], pause["Reason"], pause["Queue"]) == ("true", "lunch break", "vip")


def test_call_back_originate_reports_answered_or_failed(replay, logged_in):
    server = replay("originate")
    queues = QueueControl(logged_in(server))

    answered_id = queues.originate("Local/600@from-agents", "from-agents", "600", '"Hotline" <95519>',
                                   {"HOTLINE_CALLBACK": "42"}, timeout_s=30)
    answered = queues.await_originate(answered_id, timeout=5)
    failed = queues.await_originate(queues.originate("PJSIP/agent3", "from-agents", "600", "", {}, timeout_s=5),
                                    timeout=5)

    assert (answered.success, answered.reason) == (True, "answered")
    assert (answered.channel, answered.uniqueid) == ("Local/600@from-agents-00000001;1", "1795314253.2")
    assert (failed.success, failed.reason, failed.channel) == (False, "failed", "PJSIP/agent3")
    sent = [m for m in server.received if m.get("Action") == "Originate"]
    assert sent[0].action_id == answered_id
    assert sent[0].get_all("Variable") == ["HOTLINE_CALLBACK=42"]
    with pytest.raises(KeyError):
        queues.await_originate(answered_id, timeout=1)  # awaited once only


def test_originations_nobody_awaits_are_forgotten_oldest_first(replay, logged_in, monkeypatch):
    # The console's "call back now" does not wait; a long-running process must not pile them up.
    monkeypatch.setattr("ivr.telephony.queues.TRACKED_ORIGINATIONS", 1)
    server = replay("originate")
    client = logged_in(server)
    queues = QueueControl(client)

    first = queues.originate("Local/600@from-agents", "from-agents", "600", '"Hotline" <95519>',
                             {"HOTLINE_CALLBACK": "42"})
    second = queues.originate("PJSIP/agent3", "from-agents", "600", "", {}, timeout_s=5)

    assert not queues.await_originate(second, timeout=5).success
    with pytest.raises(KeyError):
        queues.await_originate(first, timeout=1)
    assert client._waiters == []


def test_a_campaign_originate_to_an_e164_number_carries_its_channel_id_and_is_found_by_it():
    fake = FakeAsterisk()
    queues = QueueControl(fake)
    channel_id = "0b7f3c2e-6a0e-4d6b-9a55-3f1f0c2d9e11"

    queues.originate("PJSIP/+8613800138001@outbound", "hotline-outbound", "s", '"Hotline" <95519>',
                     {"CAMPAIGN_ATTEMPT": "7"}, timeout_s=30, channel_id=channel_id)

    (sent,) = fake.originates()
    assert (sent["Channel"], sent["ChannelId"], sent["Timeout"]) == ("PJSIP/+8613800138001@outbound", channel_id,
                                                                     "30000")
    assert queues.channel_exists(channel_id)
    fake.channels.clear()  # hung up
    assert not queues.channel_exists(channel_id)
    queues.originate("PJSIP/agent2", "from-agents", "600", "", {})  # a call back: Asterisk picks the uniqueid
    assert "ChannelId" not in fake.originates()[-1]


def test_a_campaign_call_not_answered_reports_its_hangup_cause_and_an_answered_one_none():
    fake = FakeAsterisk()
    fake.originate_reasons["+8613800138001"] = 0  # Asterisk 22 says only "failed" for a 486 Busy Here ...
    fake.originate_causes["+8613800138001"] = 17  # ... its Hangup event says user busy
    queues = QueueControl(fake)

    busy = queues.await_originate(queues.originate("PJSIP/+8613800138001@outbound", "hotline-outbound", "s", "",
                                                   {}, channel_id="busy-1"), timeout=1)
    answered = queues.await_originate(queues.originate("PJSIP/+8613800138002@outbound", "hotline-outbound", "s",
                                                       "", {}, channel_id="answered-1"), timeout=1)
    fake.emit("Hangup", Uniqueid="someone-else", Cause="16")  # not ours: ignored

    assert (busy.success, busy.reason, busy.cause) == (False, "failed", 17)
    assert (answered.success, answered.cause) == (True, None)
    assert queues._causes == {}  # nothing kept once awaited


@pytest.mark.parametrize("call", [
    lambda q: q.add_member("vip", "PJSIP/agent2,1,x", "Agent 2"),
    lambda q: q.add_member("vip", "SIP/agent2", "Agent 2"),
    lambda q: q.add_member("vip; DROP", "PJSIP/agent2", "Agent 2"),
    lambda q: q.remove_member("", "PJSIP/agent2"),
    lambda q: q.pause_member("PJSIP/agent 2", True),
    lambda q: q.status("vip\r\nAction: Logoff"),
    lambda q: q.add_member("vip", "PJSIP/agent2", "Agent 2\r\nAction: Originate"),
    lambda q: q.originate("PJSIP/agent2", "from-agents", "600", "", {"A": "1,B=2"}),
    lambda q: q.originate("PJSIP/agent2", "from-agents", "600", "", {"A=B": "1"}),
    lambda q: q.originate("PJSIP/agent2", "from agents", "600", "", {}),
    lambda q: q.originate("PJSIP/agent2", "from-agents", "600,1", "", {}),
    lambda q: q.originate("PJSIP/+86138@outbound", "hotline-outbound", "s", "", {}, channel_id="a b"),
    lambda q: q.originate("PJSIP/+86138@outbound", "hotline-outbound", "s", "", {}, channel_id="x\r\nAction: Logoff"),
    lambda q: q.channel_exists("1,2"),
])
def test_names_from_the_database_are_checked_before_anything_is_sent(replay, logged_in, call):
    server = replay("logged_in_silent")
    queues = QueueControl(logged_in(server))

    with pytest.raises(AmiUnsafeValue):
        call(queues)
    assert [m["Action"] for m in server.received] == ["Login"]
