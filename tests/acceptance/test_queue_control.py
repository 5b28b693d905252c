"""Queue control and the AMI link against the real sandbox Asterisk 22.

Agent 2 (PJSIP/agent2, not registered: its device state is "unavailable")
goes in and out of the `vip` queue (asterisk-conf/queues.conf). Every test
leaves the queues as queues.conf has them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from ivr.telephony.ami import connect_ami
from ivr.telephony.ami_link import AmiLink, Backoff
from ivr.telephony.queues import QueueControl, QueueMember
from ivr.testing.asterisk import Sandbox

pytestmark = pytest.mark.acceptance

AGENT = "PJSIP/agent2"


@pytest.fixture
def queues(sandbox: Sandbox) -> Iterator[QueueControl]:
    """Queue control on its own AMI client; agent 2 is out of `vip` before and after."""
    client = connect_ami()
    control = QueueControl(client)
    control.remove_member("vip", AGENT)
    yield control
    client.close()
    _remove_agent_from_vip()


def _remove_agent_from_vip() -> None:
    """On a new connection: the test's own may have died with an Asterisk restart."""
    client = connect_ami()
    try:
        QueueControl(client).remove_member("vip", AGENT)
    finally:
        client.close()


def vip_member(queues: QueueControl) -> QueueMember | None:
    (vip,) = queues.status("vip")
    return next((member for member in vip.members if member.interface == AGENT), None)


def wait_until(condition: Callable[[], object], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_agent_joins_vip_pauses_with_a_reason_and_leaves(queues: QueueControl) -> None:
    queues.add_member("vip", AGENT, "Agent 2")
    queues.add_member("vip", AGENT, "Agent 2")  # twice: still one member
    joined = vip_member(queues)
    queues.pause_member(AGENT, True, "lunch break", queue="vip")
    paused = vip_member(queues)
    queues.pause_member(AGENT, False)  # every queue the agent is in
    back = vip_member(queues)
    queues.remove_member("vip", AGENT)

    assert joined is not None and (joined.name, joined.paused) == ("Agent 2", False)
    assert joined.status == "unavailable" and joined.login_time is not None
    assert paused is not None and (paused.paused, paused.paused_reason) == (True, "lunch break")
    assert back is not None and not back.paused
    assert vip_member(queues) is None


def test_call_back_originate_to_the_echo_test_is_answered(queues: QueueControl) -> None:
    action_id = queues.originate("Local/600@from-agents", "from-agents", "600", '"Callback" <95519>',
                                 {"CALLBACK_ID": "42"}, timeout_s=10)
    result = queues.await_originate(action_id, timeout=15)
    hangup = queues.ami.send_action({"Action": "Hangup", "Channel": result.channel})

    assert (result.success, result.reason) == (True, "answered"), result
    assert result.channel.startswith("Local/600@from-agents-")
    assert hangup.is_success, hangup.headers


def test_link_survives_an_asterisk_restart_and_its_hook_puts_the_agent_back(sandbox: Sandbox) -> None:
    link = AmiLink(backoff=Backoff(initial=0.2, cap=2.0))
    queues = QueueControl(link)
    logins: list[float] = []

    def log_agent_back_in() -> None:  # what the console does: queues.conf has persistentmembers=no
        logins.append(time.monotonic())
        queues.add_member("vip", AGENT, "Agent 2", paused=True, reason="after restart")

    link.on_connected(log_agent_back_in)
    link.start()
    try:
        wait_until(lambda: logins and link.status().connected, timeout=10)
        before = link.status()
        assert vip_member(queues) is not None

        sandbox.restart()
        wait_until(lambda: link.status().reconnects >= 1 and len(logins) >= 2, timeout=30)
        after = link.status()
        readded = vip_member(queues)
    finally:
        link.stop()
        _remove_agent_from_vip()

    assert (before.reconnects, after.reconnects, len(logins)) == (0, 1, 2)
    assert after.connected and before.since is not None and after.since is not None
    assert after.since > before.since and after.last_error  # the loss, or a refused retry after it
    assert readded is not None and (readded.paused, readded.paused_reason) == (True, "after restart")
