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

import io
import logging
import re
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

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
        parsed = {"result": (self.value, self.data)}
        parsed.update({key: (value, "") for key, value in self.extras.items()})
        return parsed


def parse_reply(line: str, read_more: Callable[[], str] | None = None) -> AgiReply:
    """Turn one reply line from Asterisk into an ``AgiReply`` or an exception.

    ``read_more`` supplies the following lines of a multi-line ``520-`` usage
    reply. Pure apart from that callback, so every case is testable without
    a socket.
    """
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
    extras = dict(_KEY_VALUE.findall(match["tail"] or ""))
    return AgiReply(value=value, data=match["data"] or "", extras=extras)


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


def _argument(value: object) -> str:
    """Pass already-quoted and plain tokens through; quote anything else."""
    text = str(value)
    if _CONTROL.search(text):
        raise UnsafeArgument(f"argument contains a line break or NUL: {text[:80]!r}")
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text
    return text if _SAFE_TOKEN.match(text) else quote(text)


def command_line(command: str, *args: object) -> str:
    """One AGI command as sent, without its newline: empty arguments dropped, the rest quoted."""
    return " ".join([command.strip()] + [_argument(a) for a in args if a is not None and str(a) != ""])


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").replace("\x00", "")


class LineReader:
    """Bounded ``readline`` over a binary stream: overlong lines are cut, not buffered."""

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


def read_environment(reader: LineReader) -> dict[str, str]:
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

    def __init__(self, reader: BinaryIO, writer: BinaryIO,
                 on_environment_read: Callable[[], None] | None = None) -> None:
        # Deliberately not calling AGI.__init__: see the module docstring.
        self._reader = LineReader(reader)
        self._writer = writer
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
            self._writer.write(line.encode("utf-8"))
            self._writer.flush()
        except (ConnectionError, OSError, ValueError) as exc:
            raise ConnectionLost(f"connection lost while sending: {exc}") from exc
        self.commands_sent += 1

    def get_result(self, stdin: object = None) -> dict[str, tuple[str, str]]:
        return parse_reply(self._next_reply_line(), self._reader.readline).as_pyst_dict()

    def _next_reply_line(self) -> str:
        """The next line that can be a reply; skips environment lines that an
        injected blank line pushed out of the environment block."""
        for _ in range(MAX_STRAY_LINES):
            line = self._reader.readline()
            text = line.rstrip("\r\n")
            if line != "" and (text == "" or _is_env_line(text)):
                log.warning("skipped a stray environment line where a reply was expected")
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


class _DeadlineSocketIO(socket.SocketIO):
    """A socket's raw reads, failing once a deadline has passed however the bytes trickle in.

    A socket timeout limits each read only: a peer sending a byte now and then
    (garbage, a line that never ends) would hold the connection, its thread
    and its slot for ever. Until :meth:`end_deadline`, each read may wait only
    for what is left of the time, and none starts after it.
    """

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        super().__init__(sock, "rb")
        self._owner = sock
        self._deadline: float | None = time.monotonic() + seconds

    def readinto(self, buffer: Any) -> int | None:
        if self._deadline is None:
            try:
                return self._owner.recv_into(buffer)
            except BlockingIOError as exc:  # SO_RCVTIMEO ran out (end_deadline)
                raise TimeoutError("Asterisk sent nothing in time") from exc
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the AGI environment did not arrive in time")
        self._owner.settimeout(remaining)
        return super().readinto(buffer)

    def end_deadline(self, timeout: float) -> None:
        """From now on each read waits up to ``timeout``, with no overall limit, and so does each write.

        Kept by the kernel (``SO_RCVTIMEO``, ``SO_SNDTIMEO``) on a blocking socket: a read is one
        system call, where Python's own socket timeout polls before each read and write, handing
        the GIL over twice, on every AGI command of every call.
        """
        self._deadline = None
        self._owner.settimeout(None)
        seconds, fraction = divmod(timeout, 1.0)
        limit = struct.pack("ll", int(seconds), int(fraction * 1_000_000))
        self._owner.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, limit)
        self._owner.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, limit)


def open_socket_session(sock: socket.socket, env_timeout: float, reply_timeout: float) -> AgiSession:
    """An ``AgiSession`` on an accepted FastAGI connection: the whole environment must arrive within
    ``env_timeout``; after it, each reply within ``reply_timeout``."""
    raw = _DeadlineSocketIO(sock, env_timeout)
    reader = io.BufferedReader(raw)
    writer = sock.makefile("wb")
    return AgiSession(reader, writer, on_environment_read=lambda: raw.end_deadline(reply_timeout))
