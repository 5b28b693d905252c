"""The AMI client against the real sandbox Asterisk 22 (AMI on 127.0.0.1:5038).

Settings (host, port, user, secret) come from ivr.config, as in production;
the user's permissions are in asterisk-conf/manager.conf.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

from ivr.config import get_settings
from ivr.telephony.ami import AmiClient, connect_ami
from ivr.telephony.errors import AmiActionError, AmiAuthError, AmiUnsafeValue

pytestmark = pytest.mark.acceptance


@pytest.fixture
def ami(sandbox) -> Iterator[AmiClient]:
    client = connect_ami()
    yield client
    client.close()


def test_login_and_ping(ami: AmiClient) -> None:
    assert ami.banner.startswith("Asterisk Call Manager/")
    assert ami.ping(timeout=5)["Ping"] == "Pong"


def test_the_hotline_user_may_not_run_cli_commands(ami: AmiClient) -> None:
    """Least privilege (asterisk-conf/manager.conf): no ``command`` write, so no CLI over AMI at all."""
    with pytest.raises(AmiActionError, match="Permission denied"):
        ami.command("core show version", timeout=5)
    assert ami.ping(timeout=5)["Ping"] == "Pong"  # refused, not disconnected


def test_a_value_with_cr_lf_is_refused_before_it_reaches_asterisk_and_injects_nothing(ami: AmiClient) -> None:
    injection = "x\r\n\r\nAction: Setvar\r\nVariable: HOTLINE_INJECTED\r\nValue: 1"
    with pytest.raises(AmiUnsafeValue):
        ami.send_action({"Action": "Setvar", "Variable": "HOTLINE_CALLER_NAME", "Value": injection}, timeout=5)
    assert ami.send_action({"Action": "Getvar", "Variable": "HOTLINE_INJECTED"}, timeout=5).get("Value", "") == ""
    assert ami.ping(timeout=5)["Ping"] == "Pong"  # the link is still in step


def test_fifty_concurrent_actions_from_five_threads_each_get_their_own_reply(ami: AmiClient) -> None:
    # Getvar echoes the variable name, so each reply shows whose it is.
    failures: list[str] = []
    answered: list[str] = []

    def ask(thread: int) -> None:
        for number in range(10):
            name = f"HOTLINE_T{thread}_{number}"
            try:
                reply = ami.send_action({"Action": "Getvar", "Variable": name}, timeout=10)
            except Exception as exc:  # collected: an assert in a thread would vanish
                failures.append(f"{name}: {exc!r}")
                continue
            if reply.get("Variable") != name or not reply.is_success:
                failures.append(f"{name} got {reply.headers}")
            answered.append(reply.action_id or "")

    threads = [threading.Thread(target=ask, args=(t,)) for t in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert len(answered) == len(set(answered)) == 50


def test_hangup_event_of_an_originated_call_is_found_by_its_uniqueid(ami: AmiClient) -> None:
    # The call's Uniqueid is chosen up front (ChannelId), as the dialer will.
    channel_id = f"hotline-test-{uuid.uuid4().hex[:12]}"
    hung_up = ami.expect_event("Hangup", lambda event: event.get("Uniqueid") == channel_id)

    queued = ami.send_action({"Action": "Originate", "Channel": "Local/95596@from-sandbox",
                              "Application": "Wait", "Data": "1", "Async": "true",
                              "ChannelId": channel_id}, timeout=5)

    assert queued.is_success, queued.headers
    assert hung_up.wait(timeout=15)["Channel"].startswith("Local/95596@from-sandbox-")


def test_wrong_secret_is_a_clear_authentication_error(sandbox) -> None:
    settings = get_settings().replace(ami_secret="not-the-secret")
    with pytest.raises(AmiAuthError, match="refused login as 'hotline': Authentication failed"):
        connect_ami(settings)
