"""Agent phones: a pjsua2 account registers as a sandbox agent and answers what Asterisk sends it.

Extension 95593 (`hotline-tests`, asterisk-conf/extensions.conf) dials the
agent phone agent2.
"""

from __future__ import annotations

import pytest

from ivr.testing.asterisk import LogWatcher, Sandbox

pytestmark = pytest.mark.acceptance


def _contacts(sandbox: Sandbox) -> str:
    return sandbox.cli("pjsip show contacts")


def test_registered_agent_phone_is_a_contact_until_it_unregisters(sandbox: Sandbox, agent_phone) -> None:
    phone = agent_phone("agent2")

    assert phone.registered
    assert "agent2/sip:agent2@127.0.0.1" in _contacts(sandbox)

    phone.close()

    assert not phone.registered
    assert "agent2/" not in _contacts(sandbox)


def test_wrong_password_is_refused(sip_caller, sandbox: Sandbox) -> None:
    from ivr.testing.sip_caller import SipCallerError

    with pytest.raises(SipCallerError, match="agent3 could not register .*: 401"):
        sip_caller.agent_phone("agent3", "not-the-password")
    assert "agent3/" not in _contacts(sandbox)


@pytest.mark.parametrize("hangs_up", ["agent", "caller"])
def test_call_to_agent_is_answered_bridged_and_ended_by_either_side(
        hangs_up: str, sip_caller, agent_phone, sandbox: Sandbox, asterisk_log: LogWatcher) -> None:
    phone = agent_phone("agent2", answer_after=0.5)

    call = sip_caller.call("95593", ani="13800138593", display_name="Agent Test")
    caller_channel = asterisk_log.wait_for_channel("95593")
    answered = phone.wait_for_call()

    assert answered.caller_number == "13800138593"
    assert answered.state in ("incoming", "early")  # ringing for answer_after
    answered.wait_answered()
    call.wait_answered()
    agent_channel = asterisk_log.wait_for(r"app_dial\.c: (PJSIP/agent2-\w+) answered PJSIP/caller-").group(1)
    channels = sandbox.channels()
    caller_state, caller_bridge = channels[caller_channel]
    agent_state, agent_bridge = channels[agent_channel]
    assert (caller_state, agent_state) == ("Up", "Up")
    assert caller_bridge and caller_bridge == agent_bridge
    assert phone.calls == [answered]

    (answered if hangs_up == "agent" else call).hangup()

    call.wait_disconnected()
    answered.wait_disconnected()
