"""The AMI client against recorded Asterisk conversations (tests/fixtures/ami/).

A local server plays Asterisk's side of each recording (ivr/testing/ami_replay.py)
and keeps what the client sent. Each test pins one defect of pyst2 0.5.1's
``Manager`` that ivr.telephony.ami fixes, or one way Asterisk can surprise us.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from ivr.telephony.ami import AmiClient, AmiMessage, MessageReader, encode_action
from ivr.telephony.errors import (
    AmiActionError,
    AmiAuthError,
    AmiConnectionError,
    AmiTimeout,
    AmiUnsafeValue,
)
from ivr.testing.ami_replay import RECORDED_SECRET, AmiReplayServer


# -- the recorded sandbox conversation ----------------------------------------

def test_login_ping_and_cli_commands_as_recorded_from_the_sandbox(replay, clients):
    server = replay("login_ping_command")
    client = clients()

    assert client.connect("127.0.0.1", server.port, timeout=2) == "Asterisk Call Manager/11.0.0"
    assert client.login("hotline", RECORDED_SECRET)["Message"] == "Authentication accepted"
    assert client.ping()["Ping"] == "Pong"
    assert client.command("core show version").startswith("Asterisk 22.10.1")
    with pytest.raises(AmiActionError, match="No such command 'no such thing'"):
        client.command("no such thing")
    with pytest.raises(AmiActionError, match="Command blacklisted"):
        client.command("module unload chan_pjsip.so")
    unknown = client.send_action({"Action": "NoSuchAction"})
    assert not unknown.is_success and unknown["Message"].startswith("Invalid/unknown command")
    client.close()

    assert [m["Action"] for m in server.received][-1] == "Logoff"
    assert not client.connected()
    assert not client._reader.is_alive()


def test_wrong_secret_is_a_clear_authentication_error(replay, clients):
    server = replay("login_bad_secret")
    client = clients()
    client.connect("127.0.0.1", server.port, timeout=2)

    with pytest.raises(AmiAuthError, match=r"refused login as 'hotline': Authentication failed"):
        client.login("hotline", "wrong")
    assert not client.connected()


def test_unreachable_host_is_a_connection_error_not_a_hang(clients):
    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(AmiConnectionError, match=f"cannot reach AMI at 127.0.0.1:{port}"):
        clients().connect("127.0.0.1", port, timeout=2)
    assert time.monotonic() - started < 2


def test_a_server_that_never_greets_is_refused_after_the_connect_timeout(clients):
    with AmiReplayServer("# accepts, says nothing\n") as server:
        started = time.monotonic()
        with pytest.raises(AmiConnectionError, match="no AMI greeting"):
            clients().connect("127.0.0.1", server.port, timeout=0.3)
        assert time.monotonic() - started < 1.5


def test_a_server_that_is_not_asterisk_is_refused(clients):
    with AmiReplayServer("<< SSH-2.0-OpenSSH_9.2\n") as server:
        with pytest.raises(AmiConnectionError, match="not an Asterisk manager interface"):
            clients().connect("127.0.0.1", server.port, timeout=2)


# -- ActionIDs and replies ----------------------------------------------------

def test_every_action_gets_its_own_action_id_even_from_one_reused_dict(replay, logged_in):
    # pyst2: send_action(cdict={}) wrote the ActionID into the shared default
    # (and into the caller's dict), so every later action repeated it.
    server = replay("ping_forever")
    client = logged_in(server)
    ping = {"Action": "Ping"}
    replies: list[str] = []

    def pinger() -> None:
        for _ in range(25):
            replies.append(client.send_action(ping, timeout=5).action_id or "")

    threads = [threading.Thread(target=pinger) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    sent = [m["ActionID"] for m in server.received if m["Action"] == "Ping"]
    assert len(sent) == len(set(sent)) == 200
    assert sorted(replies) == sorted(sent)
    assert all(action_id.startswith(client.action_id_prefix) for action_id in sent)
    assert ping == {"Action": "Ping"}  # the caller's dict is left alone
    assert AmiClient().action_id_prefix != client.action_id_prefix


def test_an_action_without_reply_times_out_and_the_connection_stays_usable(replay, logged_in):
    # pyst2 waited on its response queue forever.
    server = replay("logged_in_silent")
    client = logged_in(server)

    started = time.monotonic()
    with pytest.raises(AmiTimeout, match=r"no reply to AMI action Ping .* within 0.3 s"):
        client.send_action({"Action": "Ping"}, timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 1.5
    assert client.connected()
    assert client._pending == {}


def test_a_late_reply_is_never_given_to_the_next_action(replay, logged_in):
    # pyst2 handed replies out in arrival order: the Ping would get the Command's output.
    server = replay("late_reply")
    client = logged_in(server)

    with pytest.raises(AmiTimeout):
        client.command("core show uptime", timeout=0.2)
    pong = client.ping(timeout=2)

    assert pong["Ping"] == "Pong"
    assert pong.action_id == server.received[-1]["ActionID"]


def test_concurrent_actions_each_get_their_own_reply(replay, logged_in):
    # Replies arrive in another order than the actions, with an event and a
    # stranger's reply in between that carry ActionIDs of their own.
    server = replay("crossed_replies")
    client = logged_in(server)
    results: dict[str, object] = {}
    actions = {
        "command": lambda: client.command("core show channels", timeout=5),
        "getvar": lambda: client.send_action({"Action": "Getvar", "Variable": "HOTLINE_T1_2"}, timeout=5),
        "ping": lambda: client.ping(timeout=5),
    }
    threads = [threading.Thread(target=lambda k=k, f=f: results.__setitem__(k, f())) for k, f in actions.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results["command"] == "\n".join([
        "Channel                                                          Location"
        "                         State   Application(Data)             ",
        "0 active channels", "0 active calls", "0 calls processed"])
    assert results["getvar"]["Variable"] == "HOTLINE_T1_2"
    assert results["getvar"]["Value"] == ""
    assert "Event" not in results["ping"] and results["ping"]["Ping"] == "Pong"


def test_a_caller_cannot_choose_the_action_id():
    with pytest.raises(ValueError, match="ActionID is assigned"):
        encode_action({"Action": "Ping", "ActionID": "mine"}, "hotline-1")


# -- untrusted values ---------------------------------------------------------

@pytest.mark.parametrize("action", [
    {"Action": "Originate", "Channel": "PJSIP/13800138000\r\nAction: Command\r\nCommand: core stop now"},
    {"Action": "Originate", "Channel": "PJSIP/a", "CallerID": "Evil\nAction: Logoff"},
    {"Action": "Originate", "Channel": "PJSIP/a", "Variable": ["IVR_OK=1", "NAME=x\r"]},
    {"Action": "Setvar", "Variable": "NAME", "Value": "nul\x00byte"},
    {"Action": "Ping\r\n\r\nAction: Logoff"},
    {"Action": "Setvar", "Value\r\nAction: Logoff\r\nX": "1"},
    {"Action": "Setvar", "Bad Name": "1"},
], ids=["crlf-value", "lf-value", "cr-in-list", "nul", "crlf-in-action", "crlf-in-name", "space-in-name"])
def test_header_names_and_values_with_cr_lf_or_nul_are_refused_before_sending(replay, logged_in, action):
    server = replay("logged_in_silent")
    client = logged_in(server)

    with pytest.raises(AmiUnsafeValue):
        client.send_action(action, timeout=0.5)
    with pytest.raises(AmiUnsafeValue):
        client.command("core show version\r\nAction: Logoff", timeout=0.5)
    with pytest.raises(AmiUnsafeValue):  # pyst2's catalogue goes through the same check
        client.hangup("PJSIP/caller-00000001\r\nAction: Logoff")

    time.sleep(0.1)  # anything sent would have arrived by now
    assert [m["Action"] for m in server.received] == ["Login"]
    assert b"Logoff" not in bytes(server.raw) and b"Command" not in bytes(server.raw)
    assert client.connected()


def test_the_secret_is_not_repeated_in_the_refusal():
    with pytest.raises(AmiUnsafeValue) as refused:
        encode_action({"Action": "Login", "Username": "hotline", "Secret": "s3cret\n"}, "x-1")
    assert "s3cret" not in str(refused.value)


# -- events -------------------------------------------------------------------

def test_events_reach_callbacks_by_name_and_wildcard_and_waiters_by_uniqueid(replay, logged_in):
    server = replay("call_events")
    client = logged_in(server)
    every: list[str] = []
    hangups: list[AmiMessage] = []
    pongs: list[AmiMessage] = []
    client.register_event("*", lambda event: every.append(event.name))
    client.register_event("Hangup", hangups.append)
    client.register_event("Hangup", lambda event: 1 / 0)  # a broken subscriber
    # A callback may send actions: callbacks run off the reader thread.
    client.register_event("OriginateResponse", lambda event: pongs.append(client.ping(timeout=2)))

    # The outer channel hangs up last; its waiter must skip the inner one's Hangup.
    outer = client.expect_event("Hangup", lambda event: event.get("Uniqueid") == "1795305215.0")
    queued = client.send_action({"Action": "Originate", "Channel": "Local/95596@from-sandbox",
                                 "Application": "Wait", "Data": "1", "Async": "true"})
    hangup = outer.wait(timeout=5)

    assert queued["Message"] == "Originate successfully queued"
    assert hangup["Channel"] == "Local/95596@from-sandbox-00000000;1"
    deadline = time.monotonic() + 5
    while len(every) < 14 or not pongs:  # callbacks run on their own thread
        assert time.monotonic() < deadline, (every, pongs)
        time.sleep(0.01)
    assert every == ["Newchannel", "Newchannel", "LocalBridge", "DialBegin", "Newstate", "Newstate",
                     "OriginateResponse", "DialEnd", "NewCallerid", "NewCallerid", "SoftHangupRequest",
                     "HangupRequest", "Hangup", "Hangup"]
    assert [e["Uniqueid"] for e in hangups] == ["1795305215.1", "1795305215.0"]
    assert pongs[0]["Ping"] == "Pong"
    # Asterisk escapes the newline a hostile caller-ID name carried: one header, one line.
    caller_names = [e["CallerIDName"] for e in hangups]
    assert caller_names[0] == 'Evil\\"EXEC Playback x'


def test_waiting_for_an_event_that_never_comes_times_out(replay, logged_in):
    server = replay("logged_in_silent")
    client = logged_in(server)

    with pytest.raises(AmiTimeout, match="no AMI event Hangup"):
        client.wait_for_event("Hangup", lambda event: event.get("Uniqueid") == "1.1", timeout=0.2)
    assert client._waiters == []


# -- list actions -------------------------------------------------------------

def test_a_list_action_collects_its_own_events_in_order_up_to_the_closing_one(replay, logged_in):
    # The list arrives in the reply's packet, mixed with an unrelated event and
    # an event carrying another client's ActionID.
    server = replay("list_actions")
    client = logged_in(server)
    denied, _ = client.send_list_action({"Action": "CoreShowChannels"}, "CoreShowChannelsComplete")
    assert not denied.is_success

    reply, events = client.send_list_action({"Action": "QueueStatus", "Queue": "vip"}, "QueueStatusComplete",
                                            timeout=5)

    assert reply["Message"] == "Queue status will follow"
    assert [(e.name, e.get("Name")) for e in events] == [("QueueParams", None), ("QueueMember", "Agent 2")]
    assert {e.action_id for e in events} == {reply.action_id}
    assert client._waiters == []


def test_a_refused_list_action_returns_the_error_at_once_without_waiting(replay, logged_in):
    server = replay("list_actions")
    client = logged_in(server)

    started = time.monotonic()
    reply, events = client.send_list_action({"Action": "CoreShowChannels"}, "CoreShowChannelsComplete",
                                            timeout=30)

    assert (reply["Message"], events) == ("Permission denied", [])
    assert time.monotonic() - started < 1
    assert client._waiters == []


def test_a_list_that_never_ends_times_out_and_the_connection_stays_usable(replay, logged_in):
    server = replay("queue_status_unfinished")
    client = logged_in(server)

    with pytest.raises(AmiTimeout, match="QueueStatusComplete"):
        client.send_list_action({"Action": "QueueStatus", "Queue": "vip"}, "QueueStatusComplete", timeout=0.3)
    assert client.connected() and client._waiters == []


def test_a_list_cut_off_by_asterisk_going_away_is_a_connection_error(replay, logged_in):
    server = replay("queue_status_cut_off")
    client = logged_in(server)
    heard: list[str] = []
    client.on_connection_lost(heard.append)

    started = time.monotonic()
    with pytest.raises(AmiConnectionError, match="closed the connection"):
        client.send_list_action({"Action": "QueueStatus", "Queue": "vip"}, "QueueStatusComplete", timeout=30)
    assert time.monotonic() - started < 2
    client._reader.join(2)  # the callback runs last on the reader thread
    assert heard == [f"Asterisk at 127.0.0.1:{server.port} closed the connection"]


# -- a dead connection --------------------------------------------------------

def test_connection_closed_mid_wait_raises_promptly(replay, logged_in):
    server = replay("hang_up_mid_wait")
    client = logged_in(server)
    waiter = client.expect_event("Hangup")

    started = time.monotonic()
    with pytest.raises(AmiConnectionError, match="closed the connection"):
        client.ping(timeout=30)
    assert time.monotonic() - started < 2
    with pytest.raises(AmiConnectionError):
        waiter.wait(timeout=30)
    assert not client.connected()
    with pytest.raises(AmiConnectionError, match="not connected"):
        client.ping(timeout=30)
    for thread in (client._reader, client._dispatcher):  # both end on their own
        thread.join(2)
        assert not thread.is_alive()


def test_close_returns_when_asterisk_does_not_answer_logoff(replay, logged_in):
    # pyst2's close() waited for the Logoff reply without a limit.
    server = replay("logged_in_silent")
    client = logged_in(server)

    started = time.monotonic()
    client.close(timeout=0.3)

    assert time.monotonic() - started < 1.5
    assert server.wait_received(2)[-1]["Action"] == "Logoff"
    assert not client.connected()
    assert not client._reader.is_alive()


def test_a_client_can_connect_again_after_losing_asterisk(replay, logged_in):
    server = replay("hang_up_mid_wait")
    client = logged_in(server)
    with pytest.raises(AmiConnectionError):
        client.ping(timeout=5)
    client.register_event("Hangup", print)

    client.connect("127.0.0.1", server.port, timeout=2)
    client.login("hotline", RECORDED_SECRET)

    assert client.connected() and server.connections == 2
    assert client._callbacks["Hangup"] == [print]


# -- framing, without a socket ------------------------------------------------

def test_framing_ignores_what_values_say_and_keeps_repeated_headers():
    # pyst2 switched framing on 'status will follow' or '--END COMMAND--' anywhere in a line,
    # kept only the last of repeated headers and crashed on ChanVariable (dict.has_key).
    stream = (b"Asterisk Call Manager/11.0.0\r\n"
              b"Event: Newchannel\r\nCallerIDName: status will follow\r\n"
              b"ChanVariable: IVR_FLOW=hotline\r\nChanVariable: IVR_LANG=zh\r\n\r\n"
              b"Event: NewCallerid\r\nCallerIDName: --END COMMAND--\r\nExten: 95519\r\n\r\n"
              b"\r\n"
              b"Response: Success\r\nActionID: h-1\r\nMessage: Command output follows\r\n"
              b"Output: Response: Follows\r\nOutput: a: b:  c \r\n\r\n")
    reader = MessageReader()
    messages: list[AmiMessage] = []
    banner = None
    for byte in range(len(stream)):  # as slowly as a network can deliver it
        reader.feed(stream[byte:byte + 1])
        if banner is None:
            banner = reader.banner()
        else:
            messages.extend(reader.messages())

    assert banner == "Asterisk Call Manager/11.0.0"
    assert [m.name or m["Response"] for m in messages] == ["Newchannel", "NewCallerid", "Success"]
    assert messages[0].get_all("ChanVariable") == ["IVR_FLOW=hotline", "IVR_LANG=zh"]
    assert messages[1]["Exten"] == "95519"
    assert messages[2].get_all("Output") == ["Response: Follows", "a: b:  c "]


def test_a_bare_lf_inside_a_value_does_not_split_the_message():
    reader = MessageReader()
    reader.feed(b"Event: NewCallerid\r\nCallerIDName: Evil\nEXEC Playback x\n\r\nUniqueid: 1.2\r\n\r\n")

    (event,) = reader.messages()
    assert event["CallerIDName"] == "Evil\nEXEC Playback x\n"
    assert event["Uniqueid"] == "1.2"


def test_an_endless_message_is_refused_instead_of_buffered():
    reader = MessageReader(max_message_bytes=1000)
    reader.feed(b"Event: Flood\r\n" + b"X: " + b"y" * 2000)
    with pytest.raises(AmiConnectionError, match="longer than 1000 bytes"):
        reader.messages()


def test_actions_are_encoded_with_repeated_headers_for_lists():
    assert encode_action({"Action": "Originate", "Channel": "PJSIP/agent-7",
                          "Variable": ["IVR_FLOW=hotline", "IVR_LANG=zh"]}, "hotline-ab12-3") == (
        b"Action: Originate\r\nActionID: hotline-ab12-3\r\nChannel: PJSIP/agent-7\r\n"
        b"Variable: IVR_FLOW=hotline\r\nVariable: IVR_LANG=zh\r\n\r\n")
