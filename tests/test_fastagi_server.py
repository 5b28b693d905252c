"""The FastAGI server's boundary, against a fake Asterisk peer (edge cases only;
real calls through the sandbox prove the normal paths in tests/acceptance)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from ivr.config import get_settings, set_settings
from ivr.telephony.channel import AgiChannel
from ivr.telephony.fastagi import FastAgiServer, parse_allowed_peers, peer_allowed

ENV = (
    "agi_network: yes\nagi_network_script: {flow}\nagi_request: agi://127.0.0.1/{flow}\n"
    "agi_channel: PJSIP/caller-0001\nagi_uniqueid: {uid}\nagi_callerid: 13800138000\n"
    "agi_calleridname: Test\nagi_threadid: 1\n\n"
)


class Recorder:
    """A call handler that answers, then fails when the flow says so."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, channel: AgiChannel) -> None:
        with self.lock:
            self.seen.append(channel.info.unique_id)
        channel.answer()
        if channel.info.flow == "broken":
            raise RuntimeError("flow bug")
        channel.set_variable("IVR_OUTCOME", "done")


@pytest.fixture
def server() -> Iterator[tuple[FastAgiServer, Recorder]]:
    recorder = Recorder()
    srv = FastAgiServer(("127.0.0.1", 0), recorder, env_timeout=0.5, reply_timeout=2.0,
                        max_connections=600)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv, recorder
    srv.shutdown()
    srv.server_close()


def connect(srv: FastAgiServer) -> socket.socket:
    sock = socket.create_connection(srv.server_address[:2], timeout=5)
    return sock


def converse(sock: socket.socket, flow: str, uid: str) -> list[str]:
    """Play Asterisk: send the environment, answer every command with success."""
    sock.sendall(ENV.format(flow=flow, uid=uid).encode())
    reader = sock.makefile("rb")
    commands = []
    while True:
        line = reader.readline()
        if not line:
            return commands
        commands.append(line.decode().strip())
        sock.sendall(b"200 result=0\n")


def test_failing_flow_sends_the_caller_to_an_agent(server):
    srv, _ = server
    with connect(srv) as sock:
        commands = converse(sock, "broken", "u-1")
    assert commands[0] == "ANSWER"
    assert 'SET VARIABLE "IVR_OUTCOME" "transfer"' in commands
    assert 'SET VARIABLE "IVR_TRANSFER_REASON" "error"' in commands


def test_client_that_sends_nothing_is_timed_out_and_freed(server):
    srv, recorder = server
    with connect(srv) as sock:
        started = time.monotonic()
        assert sock.recv(10) == b""  # the server closed it
        assert time.monotonic() - started < 3
    assert recorder.seen == []


def test_asterisk_that_stops_replying_mid_call_is_given_up_after_the_reply_timeout(server):
    """After the environment, each reply may take up to ``reply_timeout`` (2 s here), kept by the
    kernel on the socket: a peer that goes silent has its connection closed, its slot freed."""
    srv, recorder = server
    with connect(srv) as sock:
        sock.sendall(ENV.format(flow="ok", uid="u-silent").encode())
        reader = sock.makefile("rb")
        assert reader.readline() == b"ANSWER\n"
        time.sleep(1.0)  # a slow reply within the timeout is still read
        sock.sendall(b"200 result=0\n")
        assert reader.readline().startswith(b"SET VARIABLE")
        started = time.monotonic()
        # No reply to that: the server gives up on the flow and flags the transfer (best effort)
        assert reader.readline() == b'SET VARIABLE "IVR_TRANSFER_REASON" "error"\n'
        assert 1.8 < time.monotonic() - started < 4
        assert reader.readline() == b""  # nor to the flag: it hangs up on us
        assert time.monotonic() - started < 8
    assert recorder.seen == ["u-silent"]
    assert srv.calls_in_progress() == 0


def test_client_that_sends_garbage_is_dropped_and_the_server_still_serves(server):
    srv, _ = server
    with connect(srv) as sock:
        sock.sendall(b"\x00\xff garbage \r\n" * 50 + b"GET / HTTP/1.1\r\n\r\n")
        sock.settimeout(5)
        assert sock.recv(10) == b""
    with connect(srv) as sock:
        assert converse(sock, "ok", "u-2")[-1] == 'SET VARIABLE "IVR_OUTCOME" "done"'


def test_hangup_mid_flow_ends_only_that_call(server):
    srv, _ = server
    with connect(srv) as sock:
        sock.sendall(ENV.format(flow="ok", uid="u-3").encode())
        sock.makefile("rb").readline()
        sock.sendall(b"HANGUP\n")
    with connect(srv) as sock:
        assert converse(sock, "ok", "u-4")[0] == "ANSWER"


def test_hundreds_of_simultaneous_sessions_are_all_served(server):
    srv, recorder = server
    results: list[list[str]] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        with connect(srv) as sock:
            out = converse(sock, "ok", f"c-{i}")
        with lock:
            results.append(out)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(300)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 300
    assert all(r == ["ANSWER", 'SET VARIABLE "IVR_OUTCOME" "done"'] for r in results)
    assert len(set(recorder.seen)) == 300


def test_peer_outside_the_allow_list_is_refused():
    recorder = Recorder()
    srv = FastAgiServer(("127.0.0.1", 0), recorder, allowed_peers="10.9.9.9/32")
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        with connect(srv) as sock:
            sock.sendall(ENV.format(flow="ok", uid="x").encode())
            sock.settimeout(5)
            assert sock.recv(10) == b""
        assert recorder.seen == []
    finally:
        srv.shutdown()
        srv.server_close()


def test_an_ipv4_asterisk_on_a_dual_stack_socket_is_matched_as_ipv4_and_junk_is_refused():
    networks = parse_allowed_peers(" 10.0.0.5 , 192.168.7.0/24,::1")

    assert peer_allowed("::ffff:10.0.0.5", networks) and peer_allowed("192.168.7.44", networks)
    assert peer_allowed("::1", networks)
    assert not peer_allowed("10.0.0.6", networks) and not peer_allowed("::ffff:10.0.0.6", networks)
    assert not peer_allowed("not-an-address", networks)


def test_a_bad_or_empty_allow_list_stops_ivr_agi_at_start_with_its_reason():
    from click.testing import CliRunner

    from ivr.cli import main

    previous = get_settings()
    try:
        results = {}
        for value in ("127.0.0.1,10.0.0.300", " , "):
            set_settings(previous.replace(agi_allowed_peers=value))
            results[value] = CliRunner().invoke(main, ["agi", "--port", "0"])
    finally:
        set_settings(previous)

    bad, empty = results["127.0.0.1,10.0.0.300"], results[" , "]
    assert bad.exit_code == 1 and "agi_allowed_peers: '10.0.0.300' is not an IP address or network" in bad.output
    assert empty.exit_code == 1 and "agi_allowed_peers is empty" in empty.output


def test_the_server_listens_only_on_the_configured_interface():
    srv = FastAgiServer(("127.0.0.2", 0), Recorder(), allowed_peers="127.0.0.0/8")
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        port = srv.server_address[1]
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        with socket.create_connection(("127.0.0.2", port), timeout=5) as sock:
            assert converse(sock, "ok", "bound-1")[0] == "ANSWER"
    finally:
        srv.shutdown()
        srv.server_close()
