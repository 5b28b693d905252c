"""Hostile input at the FastAGI level, where SIP cannot carry it: caller IDs with NUL, 8 KB of text,
injected lines; unknown and hostile flow names; entries of hundreds of keys; clients that send
garbage, nothing, or a line that never ends.

A socket plays Asterisk's side against our real server and call handler
(``ivr.flows.runner.handle_call``) on the test's database; the same cases that
SIP can carry are proven by real calls in tests/acceptance/test_hotline_calls.py.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from ivr.config import get_settings
from ivr.db.models import Call, Disposition, IvrEvent
from ivr.db.session import session_scope
from ivr.flows.runner import handle_call
from ivr.telephony.fastagi import FastAgiServer

ROOT = Path(__file__).resolve().parents[1]


def environment(**values: str) -> bytes:
    """Asterisk's environment block, in its order; values written raw, as Asterisk writes caller data."""
    env = {"agi_network": "yes", "agi_network_script": "hotline", "agi_request": "agi://127.0.0.1/hotline",
           "agi_channel": "PJSIP/caller-00000001", "agi_language": "en", "agi_type": "PJSIP",
           "agi_uniqueid": "1733300000.1", "agi_version": "22.0.0", "agi_callerid": "13700000099",
           "agi_calleridname": "Test", "agi_callingpres": "0", "agi_dnid": "95519", "agi_context": "hotline",
           "agi_extension": "95519", "agi_priority": "4", "agi_enhanced": "0.0", "agi_accountcode": "",
           "agi_threadid": "140000000000000"}
    env.update(values)
    return "".join(f"{key}: {value}\n" for key, value in env.items()).encode() + b"\n"


def answer_everything(command: str) -> str:
    """Every command succeeds; GET DATA returns the key 0 (the caller asks for a person)."""
    return "200 result=0\n"


def play_asterisk(address: tuple[str, int], env: bytes, answer: Callable[[str], str]) -> list[str]:
    """Send ``env``, answer each command with ``answer(command)`` until the server closes; the commands."""
    commands = []
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(env)
        reader = sock.makefile("rb")
        while line := reader.readline():
            commands.append(line.decode("utf-8").rstrip("\n"))
            sock.sendall(answer(commands[-1]).encode())
    return commands


@pytest.fixture
def server(database_url: str) -> Iterator[tuple[str, int]]:
    """Our FastAGI server with the real call handler, on the test's database."""
    srv = FastAgiServer(("127.0.0.1", 0), handle_call, env_timeout=2.0, reply_timeout=5.0, max_connections=20)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv.server_address[:2]
    srv.shutdown()
    srv.server_close()


def call_record(unique_id: str) -> Call:
    with session_scope() as session:
        record = session.scalars(select(Call).where(Call.unique_id == unique_id)).one()
        session.expunge(record)
        return record


def inputs(unique_id: str) -> list[tuple[str, str]]:
    with session_scope() as session:
        return [(name, value) for name, value in session.execute(
            select(IvrEvent.name, IvrEvent.value).join(Call).where(Call.unique_id == unique_id,
                                                                   IvrEvent.kind == "input")
            .order_by(IvrEvent.seq))]


def assert_reached_a_person(commands: list[str], reason: str) -> None:
    assert 'SET VARIABLE "IVR_OUTCOME" "transfer"' in commands
    assert f'SET VARIABLE "IVR_TRANSFER_REASON" "{reason}"' in commands


# --- caller IDs -----------------------------------------------------------------------------------------

EIGHT_KB = "王" + "A" * 8190 + "明"
HOSTILE_NAMES = {  # what Asterisk writes -> what the call record must hold
    "quotes_and_backslashes": ('O\\"Brien \\\\ \'); DROP TABLE calls;--', 'O"Brien \\ \'); DROP TABLE calls;--'),
    "nul": ("nul\x00byte", "nulbyte"),
    "eight_kb_chinese": (EIGHT_KB, EIGHT_KB),
    "injected_lines": ("Evil\nagi_uniqueid: forged\n\nEXEC Playback x\nHANGUP", "Evil"),
}


@pytest.mark.parametrize("case", list(HOSTILE_NAMES))
def test_a_hostile_caller_id_is_stored_as_sent_reaches_no_command_and_the_caller_reaches_a_person(
        server: tuple[str, int], case: str) -> None:
    sent, stored = HOSTILE_NAMES[case]
    number = '138"\\\x00' + "9" * 300

    commands = play_asterisk(server, environment(agi_calleridname=sent, agi_callerid=number), answer_everything)

    record = call_record("1733300000.1")
    assert record.caller_name == stored
    assert record.ani == ('138"\\' + "9" * 300)[:64]  # NUL dropped on reading; the column holds 64
    assert record.disposition is Disposition.TRANSFERRED and record.transfer_reason == "caller_pressed_0"
    assert_reached_a_person(commands, "caller_pressed_0")
    caller_text = ("Brien", "DROP", "byte", "AAAA", "王", "Evil", "forged", "EXEC", "HANGUP", '138"')
    assert [command for command in commands if any(text in command for text in caller_text)] == []


# --- flow names -----------------------------------------------------------------------------------------

HOSTILE_FLOWS = ["no_such_flow", "../hotline", "x/hotline", "hotline/..", "renewal_reminder/../hotline",
                 "..%2fhotline", "hotline\\", "f" * 5000]


@pytest.mark.parametrize("flow", HOSTILE_FLOWS, ids=lambda flow: flow[:30])
def test_an_unknown_or_hostile_flow_name_sends_the_caller_to_a_person(server: tuple[str, int], flow: str) -> None:
    env = environment(agi_network_script=flow, agi_request=f"agi://127.0.0.1/{flow}")

    commands = play_asterisk(server, env, answer_everything)

    assert_reached_a_person(commands, "unknown_flow")
    assert not any(command.startswith("GET DATA") for command in commands)  # no flow ran
    record = call_record("1733300000.1")
    assert (record.flow, record.disposition) == (flow[:64], Disposition.TRANSFERRED)


# --- entries of hundreds of keys ------------------------------------------------------------------------


@pytest.mark.parametrize("keys", ["1" * 200, "*#" * 100, "0" * 255], ids=["200_ones", "star_hash_flood", "255_zeros"])
def test_an_entry_of_hundreds_of_keys_counts_as_a_wrong_entry_until_the_caller_reaches_a_person(
        server: tuple[str, int], keys: str) -> None:
    def answer(command: str) -> str:
        return f"200 result={keys}\n" if command.startswith("GET DATA") else "200 result=0\n"

    commands = play_asterisk(server, environment(), answer)

    attempts = get_settings().max_attempts
    assert_reached_a_person(commands, "too_many_attempts")
    entered = inputs("1733300000.1")
    assert len(entered) == attempts and {value for _, value in entered} == {keys}
    assert len({name for name, _ in entered}) == 1  # all at the first question: none was taken as an answer
    assert call_record("1733300000.1").transfer_reason == "too_many_attempts"


# --- clients that are not Asterisk ----------------------------------------------------------------------

SERVER_PROCESS = """
import sys
from ivr.telephony.fastagi import FastAgiServer

def served(channel):
    channel.answer()
    channel.set_variable("IVR_OUTCOME", "done")

srv = FastAgiServer(("127.0.0.1", 0), served, env_timeout=1.0, reply_timeout=5.0, max_connections=3)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"""


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _threads(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Threads:")).split()[1])


def _hostile_client(port: int, opening: bytes, chunk: bytes, every: float, closed: dict[str, bool],
                    name: str) -> None:
    """Connect, send ``opening``, then ``chunk`` every ``every`` seconds (nothing if empty) for up to 8 s;
    note whether the server closed the connection first."""
    with socket.create_connection(("127.0.0.1", port), timeout=8) as sock:
        sock.sendall(opening)
        sock.settimeout(every)
        until = time.monotonic() + 8
        while time.monotonic() < until:
            try:
                if chunk:
                    sock.sendall(chunk)
                if sock.recv(1) == b"":
                    closed[name] = True
                    return
            except TimeoutError:
                continue
            except (ConnectionResetError, BrokenPipeError):  # reset by the server
                closed[name] = True
                return
        closed[name] = False


def test_clients_sending_garbage_nothing_or_an_endless_line_are_dropped_their_slots_freed_without_a_busy_loop(
        tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, "-c", SERVER_PROCESS], cwd=ROOT, stdout=subprocess.PIPE,
                               env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True)
    try:
        port = int(process.stdout.readline())  # type: ignore[union-attr]
        idle_threads = _threads(process.pid)
        closed: dict[str, bool] = {}
        clients = {"nothing": (b"", b"", 0.2), "garbage_trickle": (b"", b"\xff\x00 garbage ", 0.1),
                   "endless_line": (b"agi_network: yes\nagi_calleridname: ", b"A" * 4096, 0.02)}
        cpu_before, wall_before = _cpu_seconds(process.pid), time.monotonic()
        threads = [threading.Thread(target=_hostile_client, args=(port, *how, closed, name))
                   for name, how in clients.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(15)
        cpu, wall = _cpu_seconds(process.pid) - cpu_before, time.monotonic() - wall_before

        assert closed == {name: True for name in clients}  # each dropped by the server, under attack
        assert cpu < 0.5 * wall, f"{cpu:.2f} s of CPU in {wall:.2f} s: a busy loop"
        # Each connection's thread waits for the next call now: three of them, no more, none busy.
        assert _threads(process.pid) == idle_threads + len(clients)

        # As many calls as max_connections, all connected at once (each waits for the others before its
        # first reply): a slot still held by a dropped client would refuse one of them.
        together = threading.Barrier(3, timeout=5)

        def answer_together(command: str) -> str:
            if command == "ANSWER":
                together.wait()
            return answer_everything(command)

        served: list[list[str]] = []
        calls = [threading.Thread(target=lambda: served.append(
            play_asterisk(("127.0.0.1", port), environment(), answer_together))) for _ in range(3)]
        for call in calls:
            call.start()
        for call in calls:
            call.join(10)
        assert served == [["ANSWER", 'SET VARIABLE "IVR_OUTCOME" "done"']] * 3
        assert _threads(process.pid) == idle_threads + len(clients)  # the calls were served by the same threads
    finally:
        process.terminate()
        process.wait(10)
