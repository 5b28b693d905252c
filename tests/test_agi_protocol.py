"""The AGI transport: reply parsing, quoting, environment, and the FastAGI connection's line reader.

Each test pins one defect of pyst2 0.5.1 that ivr.telephony.agi fixes, or one
way Asterisk (or an attacker through caller data) can surprise us.
"""

from __future__ import annotations

import io
import random
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from ivr.telephony.agi import (
    AgiSession,
    LineReader,
    _parse_success,
    _plain_success,
    open_socket_session,
    open_stream_session,
    parse_reply,
    quote,
    read_environment,
)
from ivr.telephony.errors import (
    AgiError,
    CommandUsageError,
    ConnectionLost,
    DeadChannel,
    Hangup,
    InvalidCommand,
    ProtocolTimeout,
    UnsafeArgument,
)

ENV = (
    "agi_network: yes\n"
    "agi_network_script: hotline\n"
    "agi_request: agi://127.0.0.1:4573/hotline\n"
    "agi_channel: PJSIP/caller-00000001\n"
    "agi_language: en\n"
    "agi_type: PJSIP\n"
    "agi_uniqueid: 1700000000.1\n"
    "agi_version: 22.10.1\n"
    "agi_callerid: 13800138000\n"
    "agi_calleridname: {name}\n"
    "agi_callingpres: 0\n"
    "agi_dnid: 95519\n"
    "agi_context: hotline\n"
    "agi_extension: 95519\n"
    "agi_priority: 3\n"
    "agi_enhanced: 0.0\n"
    "agi_accountcode: \n"
    "agi_threadid: 140000000000\n"
    "\n"
)


def session_with(replies: str, name: str = "Wang") -> tuple[AgiSession, io.BytesIO]:
    reader = io.BytesIO((ENV.format(name=name) + replies).encode("utf-8"))
    writer = io.BytesIO()
    return open_stream_session(reader, writer), writer


def test_success_reply_with_value_and_data():
    reply = parse_reply("200 result=1 (some value: with spaces)\n")
    assert reply.value == "1"
    assert reply.data == "some value: with spaces"


def test_get_data_timeout_with_no_digits_has_an_empty_result():
    reply = parse_reply("200 result= (timeout)\n")
    assert reply.value == ""
    assert reply.data == "timeout"


def test_stream_file_reply_carries_endpos():
    reply = parse_reply("200 result=0 endpos=12345\n")
    assert reply.value == "0"
    assert reply.extras == {"endpos": "12345"}


@pytest.mark.parametrize("line", ["", "HANGUP\n", "HANGUP", "200 result=-1\n", "200 result=-1 endpos=0\n"])
def test_hangup_in_every_form_raises_hangup(line):
    with pytest.raises(Hangup):
        parse_reply(line)


def test_511_dead_channel_is_a_hangup_not_an_unknown_error():
    with pytest.raises(DeadChannel) as caught:
        parse_reply("511 Command Not Permitted on a dead channel or intercept routine\n")
    assert isinstance(caught.value, Hangup)


def test_510_invalid_command():
    with pytest.raises(InvalidCommand):
        parse_reply("510 Invalid or unknown command\n")


def test_520_usage_reads_every_line_of_the_usage_text():
    more = iter(["Usage: GET DATA <file>\n", "520 End of proper usage.\n", "NOT READ\n"])
    with pytest.raises(CommandUsageError) as caught:
        parse_reply("520-Invalid command syntax.  Proper usage follows:\n", lambda: next(more))
    assert "Usage: GET DATA" in str(caught.value)
    assert next(more) == "NOT READ\n"


def test_garbage_reply_is_an_agi_error_not_a_crash():
    with pytest.raises(AgiError):
        parse_reply("hello there\n")


def test_quote_escapes_quotes_and_backslashes():
    assert quote('say "hi" \\ bye') == '"say \\"hi\\" \\\\ bye"'


@pytest.mark.parametrize("bad", ["a\nEXEC Playback x", "a\rb", "a\x00b"])
def test_quote_refuses_line_breaks_and_nul(bad):
    with pytest.raises(UnsafeArgument):
        quote(bad)


def test_environment_splits_on_first_colon_space_only():
    session, _ = session_with("", name="Dr: Who: 王")
    assert session.env["agi_calleridname"] == "Dr: Who: 王"
    assert session.env["agi_request"] == "agi://127.0.0.1:4573/hotline"


def test_injected_blank_line_in_caller_name_does_not_end_environment_or_replace_keys():
    # What Asterisk 22 sends for CALLERID(name) = 'Evil"\nEXEC Playback x\n'
    evil = 'Evil"\nEXEC Playback x\nagi_uniqueid: forged\n'
    session, writer = session_with("200 result=0\n", name=evil)
    assert session.env["agi_uniqueid"] == "1700000000.1"
    assert session.env["agi_threadid"] == "140000000000"
    assert session.env["agi_calleridname"] == 'Evil"'
    session.answer()
    assert writer.getvalue() == b"ANSWER\n"


def test_stray_environment_lines_before_a_reply_are_skipped():
    session, _ = session_with("agi_dnid: 95519\n\n200 result=1 (x)\n")
    assert session.get_variable("X") == "x"


def test_commands_are_written_as_utf8_bytes_with_quoted_arguments():
    session, writer = session_with("200 result=1\n")
    session.set_variable("NAME", '王 "x"')
    assert writer.getvalue() == 'SET VARIABLE "NAME" "王 \\"x\\""\n'.encode()


def test_unsafe_plain_argument_is_quoted_not_passed_raw():
    session, writer = session_with("200 result=0\n")
    session.stream_file("hotline/en/welcome extra")
    assert writer.getvalue().startswith(b'STREAM FILE "hotline/en/welcome extra"')


def test_get_variable_on_hangup_raises_instead_of_returning_hangup_text():
    session, _ = session_with("200 result=1 (hangup)\nHANGUP\n")
    assert session.get_variable("A") == "hangup"  # a real value 'hangup' is just a value
    with pytest.raises(Hangup):
        session.get_variable("B")


def test_unset_variable_is_empty():
    session, _ = session_with("200 result=0\n")
    assert session.get_variable("NOPE") == ""


def test_end_of_stream_mid_call_is_a_hangup():
    session, _ = session_with("")
    with pytest.raises(Hangup):
        session.get_data("hotline/en/enter_policy_number", 5000, 10)


def test_get_data_returns_digits():
    session, writer = session_with("200 result=19800517 (timeout)\n")
    assert session.get_data("hotline/en/enter_birth_date", 6000, 8) == "19800517"
    assert writer.getvalue() == b"GET DATA hotline/en/enter_birth_date 6000 8\n"


def test_record_file_returns_the_key_without_forcing_chr_of_a_non_digit():
    session, _ = session_with("200 result=35 (dtmf) endpos=8000\n200 result=0 (timeout) endpos=960000\n")
    assert session.record_file("/tmp/x", "wav", "#", 120000) == "#"
    assert session.record_file("/tmp/y", "wav", "#", 120000) == ""


def test_session_construction_works_off_the_main_thread():
    errors: list[BaseException] = []

    def build() -> None:
        try:
            session_with("")
        except BaseException as exc:  # pragma: no cover - the failure we guard against
            errors.append(exc)

    worker = threading.Thread(target=build)
    worker.start()
    worker.join()
    assert errors == []


def test_environment_closed_early_is_a_hangup():
    with pytest.raises(Hangup):
        read_environment(LineReader(io.BytesIO(b"agi_network: yes\n")))


def test_overlong_line_is_cut_and_the_rest_discarded():
    huge = b"agi_calleridname: " + b"A" * 200_000 + b"\n"
    env_bytes = ENV.format(name="x").encode().replace(b"agi_calleridname: x\n", huge)
    session = open_stream_session(io.BytesIO(env_bytes), io.BytesIO())
    assert len(session.env["agi_calleridname"]) < 70_000
    assert session.env["agi_dnid"] == "95519"


# -- the FastAGI connection's reader: lines straight from the socket ------------------------------

@pytest.fixture
def socket_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, asterisk = socket.socketpair()
    yield ours, asterisk
    ours.close()
    asterisk.close()


def test_a_socket_session_reads_lines_however_the_bytes_are_split(socket_pair):
    ours, asterisk = socket_pair
    env = ENV.format(name="Wang").encode()
    replies = b"200 result=0 endpos=8000\n200 result=1 (dtmf)\n"
    stream = env + replies
    sender = threading.Thread(target=lambda: [(asterisk.sendall(stream[at:at + 7]), time.sleep(0.001))
                                              for at in range(0, len(stream), 7)])
    sender.start()
    session = open_socket_session(ours, env_timeout=5, reply_timeout=5)
    assert session.env["agi_calleridname"] == "Wang"
    assert session.env["agi_threadid"] == "140000000000"
    assert session.stream_file("hello") == ""
    assert session.execute("WAIT FOR DIGIT", 100)["result"] == ("1", "dtmf")
    sender.join()
    sent = asterisk.recv(4096)
    assert sent == b'STREAM FILE hello "" 0\nWAIT FOR DIGIT 100\n'


def test_a_socket_session_cuts_an_overlong_line_and_reads_on_after_it(socket_pair):
    ours, asterisk = socket_pair
    huge = b"agi_calleridname: " + b"A" * 200_000 + b"\n"
    stream = ENV.format(name="x").encode().replace(b"agi_calleridname: x\n", huge) + b"200 result=0\n"
    sender = threading.Thread(target=asterisk.sendall, args=(stream,))
    sender.start()
    session = open_socket_session(ours, env_timeout=5, reply_timeout=5)
    sender.join()
    assert len(session.env["agi_calleridname"]) < 70_000
    assert session.env["agi_dnid"] == "95519"
    assert session.stream_file("hello") == ""


def test_a_socket_session_ending_mid_line_returns_the_partial_line_then_end_of_stream(socket_pair):
    ours, asterisk = socket_pair
    asterisk.sendall(ENV.format(name="x").encode() + b"200 resu")
    session = open_socket_session(ours, env_timeout=5, reply_timeout=5)
    asterisk.shutdown(socket.SHUT_WR)
    with pytest.raises(AgiError, match="without a result"):
        session.stream_file("hello")
    with pytest.raises(ConnectionLost):
        session.stream_file("hello")


def test_an_environment_trickling_in_past_its_deadline_times_out(socket_pair):
    ours, asterisk = socket_pair
    stop = threading.Event()

    def trickle() -> None:
        while not stop.is_set():
            asterisk.sendall(b"a")
            time.sleep(0.05)

    sender = threading.Thread(target=trickle)
    sender.start()
    started = time.monotonic()
    try:
        with pytest.raises(ProtocolTimeout):
            open_socket_session(ours, env_timeout=0.5, reply_timeout=5)
    finally:
        stop.set()
        sender.join()
    assert time.monotonic() - started < 2


# -- the plain-reply fast path gives what the general parser gives ------------------------------

def _general(line: str) -> tuple[str, str, dict[str, str]] | str:
    try:
        reply = _parse_success(line[4:])
    except Hangup:
        return "hangup"
    return reply.value, reply.data, reply.extras


def _fast(line: str) -> tuple[str, str, dict[str, str]] | str | None:
    try:
        return _plain_success(line)
    except Hangup:
        return "hangup"


@pytest.mark.parametrize("line", [
    "200 result=0\n", "200 result=0 endpos=12000\n", "200 result=49 endpos=8000\r\n",
    "200 result=123 (timeout)\n", "200 result=1 (some value: with spaces)\n", "200 result=35 (dtmf) endpos=8000\n",
    "200 result=-1\n", "200 result=-1 endpos=0\n",
])
def test_the_replies_asterisk_sends_take_the_fast_path_and_read_the_same(line):
    assert _fast(line) is not None
    assert _fast(line) == _general(line)


def test_any_reply_the_fast_path_takes_reads_as_the_general_parser_reads_it():
    pieces = ["0", "1", "49", "-1", "-", " ", "  ", "\t", "(", ")", "=", "endpos", "a_b", "x-y", "=z", "é", "\x1c",
              "\x0b", "dtmf", "timeout", ":"]
    generator = random.Random(8)
    taken = 0
    for _ in range(30_000):
        line = "200 result=" + "".join(generator.choice(pieces) for _ in range(generator.randint(0, 8))) + "\n"
        fast = _fast(line)
        if fast is not None:
            taken += 1
            assert fast == _general(line), line
    assert taken > 5_000  # the comparison covered many shapes, not only the refused ones
