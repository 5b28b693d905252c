"""One AGI session over a byte stream: environment, commands, quoting, replies.

pyst2 (``asterisk.agi.AGI``) supplies the command catalogue (``stream_file``,
``get_data``, ``say_number`` ...). Its 0.5.1 transport is unsound on Python 3,
so ``AgiSession`` subclasses it and replaces the transport methods only:

* ``__init__`` installed a SIGHUP handler (raises off the main thread) and
  echoed every line to stderr: neither here.
* the environment is parsed on the first ``": "`` only, first value wins, and
  an early blank line injected through a caller-ID name does not end it.
* commands are written as UTF-8 bytes; arguments are quoted with escaping and a
  line break or NUL in any argument is refused (it would inject a command).
* replies are parsed by :func:`parse_reply`: end of stream, a bare ``HANGUP``,
  ``511`` and ``200 result=-1`` are all :class:`Hangup`; end of stream and a
  broken connection are its subclass :class:`ConnectionLost` (Asterisk never
  said the channel hung up).
* ``get_variable`` raised nothing on hangup and returned ``'hangup'``;
  ``record_file`` forced ``chr(int(res))``.
"""

from __future__ import annotations

import logging
import re
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import BinaryIO, Protocol

from asterisk.agi import AGI

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

log = logging.getLogger(__name__)

MAX_LINE = 65536
RECEIVE_SIZE = 8192
MAX_ENV_LINES = 200
MAX_STRAY_LINES = 200
# Asterisk writes agi_threadid last before the arguments (res_agi.c setup_env),
# so a blank line before it was injected through caller data.
_ENV_COMPLETE_KEY = "agi_threadid"
_ENV_KEY = re.compile(r"^agi_[a-z0-9_]+$")
_REPLY = re.compile(r"^(?P<code>\d{3})(?P<sep>[ -])(?P<rest>.*)$", re.DOTALL)
_RESULT = re.compile(r"^result=(?P<value>\S*)(?:\s+\((?P<data>.*)\))?(?P<tail>.*)$", re.DOTALL)
_KEY_VALUE = re.compile(r"(\w+)=(\S*)")
_SAFE_TOKEN = re.compile(r"^[0-9A-Za-z_#*.:/@+=-]+$")
_CONTROL = re.compile(r"[\r\n\x00]")


@dataclass(frozen=True)
class AgiReply:
    """A parsed ``200`` reply: ``result=<value> (<data>) key=value ...``."""

    value: str
    data: str = ""
    extras: dict[str, str] = field(default_factory=dict)

    def as_pyst_dict(self) -> dict[str, tuple[str, str]]:
        """The shape pyst2's command methods read: ``{'result': (value, data)}``."""
        return _pyst_dict(self.value, self.data, self.extras)


def _pyst_dict(value: str, data: str, extras: dict[str, str]) -> dict[str, tuple[str, str]]:
    parsed = {"result": (value, data)}
    for key, extra in extras.items():
        parsed[key] = (extra, "")
    return parsed


def parse_reply(line: str, read_more: Callable[[], str] | None = None) -> AgiReply:
    """Turn one reply line from Asterisk into an ``AgiReply`` or an exception.

    ``read_more`` supplies the following lines of a multi-line ``520-`` usage
    reply. Pure apart from that callback, so every case is testable without
    a socket.
    """
    fields = _plain_success(line)
    if fields is not None:
        return AgiReply(*fields)
    text = line.rstrip("\r\n")
    if line == "":
        raise ConnectionLost("end of stream")
    if text == "" or text.strip() == "HANGUP":
        raise Hangup("Asterisk ended the session")
    match = _REPLY.match(text)
    if match is None:
        raise AgiError(f"reply outside the AGI protocol: {text[:200]!r}")
    code, rest = int(match["code"]), match["rest"]
    if code == 200:
        return _parse_success(rest)
    if code == 510:
        raise InvalidCommand(rest)
    if code == 511:
        raise DeadChannel(rest)
    if code == 520:
        raise CommandUsageError(_read_usage(rest, match["sep"], read_more))
    raise AgiError(f"unexpected AGI reply code {code}: {rest[:200]!r}")


def _parse_success(rest: str) -> AgiReply:
    match = _RESULT.match(rest.strip())
    if match is None:
        raise AgiError(f"200 reply without a result: {rest[:200]!r}")
    value = match["value"]
    if value == "-1":
        raise Hangup("result=-1: the channel hung up or the application failed")
    tail = match["tail"]
    return AgiReply(value, match["data"] or "", dict(_KEY_VALUE.findall(tail)) if tail else {})


def _plain_success(line: str) -> tuple[str, str, dict[str, str]] | None:
    """Value, data and ``key=value`` extras of a plain ASCII ``200 result=...`` line (nearly every
    reply), split with string methods; None for anything the general parser must read.

    Every command of every call parses its reply here, right after its thread
    slept waiting for it, when each object and each line of code touched is a
    cache miss: the regular expressions and the reply object cost six times
    what these few string operations do there (docs/benchmarks.md). Gives
    exactly what :func:`_parse_success` gives (a test compares the two).
    """
    if not line.startswith("200 result=") or not line.isascii():
        return None
    body = line[11:].rstrip()
    if not body or body[0].isspace():
        return None
    value, _, rest = body.partition(" ")
    if not value.isprintable():  # a tab or another control character: the general parser's case
        return None
    if value == "-1":
        raise Hangup("result=-1: the channel hung up or the application failed")
    rest = rest.lstrip()
    data = ""
    if rest.startswith("("):
        close = rest.rfind(")")
        if close < 0:
            return None
        data, rest = rest[1:close], rest[close + 1:]
    extras = {}
    for token in rest.split():
        key, equals, extra = token.partition("=")
        if equals:
            if not key.replace("_", "a").isalnum():
                return None
            extras[key] = extra
    return value, data, extras


def _read_usage(first: str, sep: str, read_more: Callable[[], str] | None) -> str:
    lines = [first]
    if sep == "-" and read_more is not None:
        for _ in range(MAX_STRAY_LINES):
            line = read_more()
            lines.append(line.rstrip("\r\n"))
            if line == "" or line.startswith("520 "):
                break
    return "\n".join(lines)


def quote(value: object) -> str:
    """Quote one AGI argument, escaping backslashes and double quotes."""
    text = str(value)
    if _CONTROL.search(text):
        raise UnsafeArgument(f"argument contains a line break or NUL: {text[:80]!r}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@lru_cache(maxsize=4096)
def _argument(text: str) -> str:
    """Pass already-quoted and plain tokens through; quote anything else. Cached: a call's
    arguments are mostly the same sound names and keys as every other call's."""
    if _CONTROL.search(text):
        raise UnsafeArgument(f"argument contains a line break or NUL: {text[:80]!r}")
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text
    return text if _SAFE_TOKEN.match(text) else quote(text)


def command_line(command: str, *args: object) -> str:
    """One AGI command as sent, without its newline: empty arguments dropped, the rest quoted."""
    parts = [command.strip()]
    for value in args:
        text = "" if value is None else str(value)
        if text:
            parts.append(_argument(text))
    return " ".join(parts)


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").replace("\x00", "")


class LineSource(Protocol):
    """Where an AGI session reads its lines: each ``readline`` is one line as text, with its line
    break ('' at end of stream); an overlong line is cut at ``MAX_LINE`` bytes and the rest of it
    discarded. Timeouts raise :class:`ProtocolTimeout`, a broken connection :class:`ConnectionLost`."""

    def readline(self) -> str: ...


class LineReader:
    """Bounded ``readline`` over a binary stream (process AGI's stdin): overlong lines are cut, not buffered."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def readline(self) -> str:
        try:
            raw = self._stream.readline(MAX_LINE)
        except (TimeoutError, socket.timeout) as exc:
            raise ProtocolTimeout("Asterisk sent nothing in time") from exc
        except (ConnectionError, OSError, ValueError) as exc:
            raise ConnectionLost(f"connection lost: {exc}") from exc
        if len(raw) == MAX_LINE and not raw.endswith(b"\n"):
            self._discard_rest_of_line()
        return _decode(raw)

    def _discard_rest_of_line(self) -> None:
        while True:
            chunk = self._stream.readline(MAX_LINE)
            if not chunk or chunk.endswith(b"\n"):
                return


class SocketLineReader:
    """Lines straight from a FastAGI connection: one ``recv`` per reply, no file objects between.

    Every AGI command of every call waits here, so it is one Python method over
    the socket (a buffered file over ``SocketIO`` was three layers, two of them
    Python). Until :meth:`end_deadline`, the whole environment must arrive within
    its deadline however the bytes trickle in (a peer sending a byte now and then
    would otherwise hold its thread for ever); after it each read may wait up to
    the reply timeout, kept by the kernel (``SO_RCVTIMEO``, ``SO_SNDTIMEO`` on a
    blocking socket: one system call per read, where Python's socket timeout
    polls before each read and write and hands the GIL over twice).
    """

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        self._sock = sock
        self._buffer = b""
        self._deadline: float | None = time.monotonic() + seconds

    def readline(self) -> str:
        buffer = self._buffer
        end = buffer.find(b"\n") + 1
        while not end:
            if len(buffer) >= MAX_LINE:
                self._buffer = self._rest_after_line_break()
                return _decode(buffer[:MAX_LINE])
            chunk = self._receive()
            if not chunk:
                self._buffer = b""
                return _decode(buffer)
            found = chunk.find(b"\n")
            end = len(buffer) + found + 1 if found >= 0 else 0
            buffer += chunk
        self._buffer = buffer[end:]
        return _decode(buffer[:min(end, MAX_LINE)])

    def _rest_after_line_break(self) -> bytes:
        """Discard the rest of an overlong line; what follows its line break."""
        while True:
            chunk = self._receive()
            if not chunk:
                return b""
            _, found, rest = chunk.partition(b"\n")
            if found:
                return rest

    def _receive(self) -> bytes:
        try:
            if self._deadline is not None:
                remaining = self._deadline - time.monotonic()
                if remaining <= 0:
                    raise ProtocolTimeout("the AGI environment did not arrive in time")
                self._sock.settimeout(remaining)
            return self._sock.recv(RECEIVE_SIZE)
        except (TimeoutError, BlockingIOError) as exc:  # BlockingIOError: SO_RCVTIMEO ran out
            raise ProtocolTimeout("Asterisk sent nothing in time") from exc
        except (ConnectionError, OSError) as exc:
            raise ConnectionLost(f"connection lost: {exc}") from exc

    def end_deadline(self, timeout: float) -> None:
        """From now on each read waits up to ``timeout``, with no overall limit, and so does each write."""
        self._deadline = None
        self._sock.settimeout(None)
        seconds, fraction = divmod(timeout, 1.0)
        limit = struct.pack("ll", int(seconds), int(fraction * 1_000_000))
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, limit)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, limit)


def read_environment(reader: LineSource) -> dict[str, str]:
    """Read the ``agi_*: value`` block that opens every AGI session.

    Every value is untrusted text. Split on the first ``": "`` only; keep the
    first value of a key, so that lines injected later (through a caller-ID
    name, which Asterisk writes raw) cannot replace ``agi_uniqueid`` and the
    like; drop lines that are not ``agi_*`` keys.
    """
    env: dict[str, str] = {}
    for _ in range(MAX_ENV_LINES):
        line = reader.readline()
        if line == "":
            raise Hangup("connection closed before the AGI environment ended")
        text = line.rstrip("\r\n")
        if text == "":
            if _ENV_COMPLETE_KEY in env:
                return env
            log.warning("blank line inside the AGI environment: injected caller data ignored")
            continue
        key, sep, value = text.partition(": ")
        if not sep:
            key, value = text.rstrip(":"), ""
        if _ENV_KEY.match(key):
            env.setdefault(key, value)
        else:
            log.warning("ignored a line in the AGI environment that is not an agi_ key")
    raise AgiError("AGI environment too long")


class AgiSession(AGI):
    """pyst2's command catalogue over a sound transport. Thread-safe per call."""

    def __init__(self, lines: LineSource, send: Callable[[bytes], None],
                 on_environment_read: Callable[[], None] | None = None) -> None:
        """Reads the environment from ``lines`` at once; ``send`` writes one command's bytes whole."""
        # Deliberately not calling AGI.__init__: see the module docstring.
        self._reader = lines
        self._send = send
        self._got_sighup = False
        self.commands_sent = 0
        self.env = read_environment(self._reader)
        if on_environment_read is not None:
            on_environment_read()

    # -- transport ---------------------------------------------------------
    def _quote(self, string: object) -> str:  # pyst2 hook
        return quote(string)

    def test_hangup(self) -> None:  # pyst2 hook: no SIGHUP handling here
        return None

    def execute(self, command: str, *args: object) -> dict[str, tuple[str, str]]:
        self.send_command(command, *args)
        return self.get_result()

    def send_command(self, command: str, *args: object) -> None:
        line = command_line(command, *args) + "\n"
        try:
            self._send(line.encode("utf-8"))
        except (ConnectionError, OSError, ValueError) as exc:
            raise ConnectionLost(f"connection lost while sending: {exc}") from exc
        self.commands_sent += 1

    def get_result(self, stdin: object = None) -> dict[str, tuple[str, str]]:
        line = self._reader.readline()
        fields = _plain_success(line)
        if fields is not None:
            return _pyst_dict(*fields)
        return parse_reply(self._reply_line(line), self._reader.readline).as_pyst_dict()

    def _reply_line(self, line: str) -> str:
        """``line`` or, if it is an environment line that an injected blank line pushed out of the
        environment block, the first line after such lines."""
        for _ in range(MAX_STRAY_LINES):
            text = line.rstrip("\r\n")
            if line != "" and (text == "" or _is_env_line(text)):
                log.warning("skipped a stray environment line where a reply was expected")
                line = self._reader.readline()
                continue
            return line
        raise AgiError("too many stray lines where a reply was expected")

    # -- commands pyst2 gets wrong ----------------------------------------
    def get_variable(self, name: str) -> str:
        """The variable's value, '' if unset; a hangup raises ``Hangup``."""
        reply = self.execute("GET VARIABLE", quote(name))
        value, data = reply["result"]
        return data if value == "1" else ""

    def record_file(self, filename: str, format: str = "wav", escape_digits: str = "#",
                    timeout: int = 20000, offset: int = 0, beep: str = "beep",
                    silence: int = 0) -> str:
        """Record to ``filename``; return the DTMF key that ended it, or ''.

        A hangup during the recording raises ``Hangup``; Asterisk keeps the
        partial file.
        """
        args: list[object] = [quote(filename), format, quote(escape_digits), timeout, offset]
        if beep:
            args.append(beep)
        if silence:
            args.append(f"s={silence}")
        reply = self.execute("RECORD FILE", *args)
        value, data = reply["result"]
        if data == "hangup":
            raise Hangup("the caller hung up during the recording")
        if data == "dtmf" and value.isdigit() and int(value) > 0:
            return chr(int(value))
        return ""

    def get_data(self, filename: str, timeout: int = 2000, max_digits: int = 255) -> str:
        """Play ``filename`` and collect digits; '' when nothing was keyed."""
        return self.read_digits(filename, timeout, max_digits)[0]

    def read_digits(self, filename: str, timeout: int, max_digits: int) -> tuple[str, bool]:
        """``get_data`` that also tells whether the entry ended by timing out
        (``200 result=123 (timeout)``) rather than by ``#`` or ``max_digits``."""
        value, data = self.execute("GET DATA", filename, timeout, max_digits)["result"]
        digits = value if re.fullmatch(r"[0-9*#]*", value) else ""
        return digits, data == "timeout"


def _is_env_line(text: str) -> bool:
    key, sep, _ = text.partition(":")
    return bool(sep) and _ENV_KEY.match(key) is not None


def open_stream_session(reader: BinaryIO, writer: BinaryIO) -> AgiSession:
    """An ``AgiSession`` over a pair of byte streams (process AGI: stdin and stdout)."""

    def send(data: bytes) -> None:
        writer.write(data)
        writer.flush()

    return AgiSession(LineReader(reader), send)


def open_socket_session(sock: socket.socket, env_timeout: float, reply_timeout: float) -> AgiSession:
    """An ``AgiSession`` on an accepted FastAGI connection: the whole environment must arrive within
    ``env_timeout``; after it, each reply within ``reply_timeout``."""
    lines = SocketLineReader(sock, env_timeout)
    return AgiSession(lines, sock.sendall, on_environment_read=lambda: lines.end_deadline(reply_timeout))
