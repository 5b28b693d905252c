"""The small Channel interface IVR flows are written against, and its AGI implementation.

Flows speak in sounds, digits, numbers and dates; they never see AGI command
names, quoting or reply codes. A unit test can hand a flow any object with
these methods.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from enum import Enum
from typing import Protocol
from urllib.parse import urlsplit

from ivr.telephony.agi import AgiSession
from ivr.telephony.errors import Hangup

_SIP_QUOTED_PAIR = re.compile(r"\\(.)")
_SOUND_NAME = re.compile(r"^[A-Za-z0-9_/-]+$")
# Read in one GET FULL VARIABLE, so both come from Asterisk at the same moment: the channel's answer
# time from its CDR (``u``: unformatted, "<epoch seconds>.<microseconds>", "0.000000" before answer;
# needs func_cdr.so) and Asterisk's clock now (STRFTIME with no epoch is now, with microseconds;
# ``%6q`` is Asterisk's fraction-of-a-second format), in UTC.
ANSWER_CLOCK_EXPRESSION = "${CDR(answer,u)} ${STRFTIME(,UTC,%Y-%m-%dT%H:%M:%S.%6q)}"
_ANSWER_CLOCK = re.compile(r"^(\d{1,12})\.(\d{1,6}) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{1,6})$")


@dataclass(frozen=True)
class CallInfo:
    """What Asterisk told us about the call. Every text field is untrusted caller data."""

    unique_id: str
    channel: str
    flow: str
    caller_number: str
    caller_name: str
    dnis: str
    language: str

    @classmethod
    def from_agi_env(cls, env: dict[str, str]) -> "CallInfo":
        return cls(
            unique_id=env.get("agi_uniqueid", ""),
            channel=env.get("agi_channel", ""),
            flow=flow_name(env),
            caller_number=_known(env.get("agi_callerid", "")),
            caller_name=caller_name(env),
            dnis=_known(env.get("agi_dnid", "")) or env.get("agi_extension", ""),
            language=env.get("agi_language", ""),
        )


@dataclass(frozen=True)
class DigitEntry:
    """Keys the caller entered. ``complete`` is False when they stopped keying
    and the entry timed out short of its length: partial input, never to be
    matched as a prefix."""

    digits: str
    complete: bool = True


def caller_name(env: dict[str, str]) -> str:
    """The caller-ID name as the caller sent it.

    Asterisk's PJSIP channel keeps a SIP display name's quoted-pair escapes
    (``"O\\"Brien"`` arrives as ``O\\"Brien``), so they are undone here.
    """
    name = _known(env.get("agi_calleridname", ""))
    return _SIP_QUOTED_PAIR.sub(r"\1", name) if env.get("agi_type") == "PJSIP" else name


def _known(value: str) -> str:
    return "" if value.strip().lower() == "unknown" else value


def flow_name(env: dict[str, str]) -> str:
    """The flow a call asks for: ``agi_network_script`` (the path of ``agi://host:port/<flow>``)
    without its query, or the process-AGI script's file name without its suffix.

    A FastAGI path is taken whole: ``x/hotline`` or ``../hotline`` is no flow's
    name, so such a call goes to a person instead of to the last segment's flow.
    """
    if env.get("agi_network_script"):
        return env["agi_network_script"].split("?")[0]
    request = urlsplit(env.get("agi_request", ""))
    if request.scheme in ("agi", "hagi"):
        return request.path[1:]
    return request.path.rstrip("/").split("/")[-1].split(".")[0]


class AnsweredBy(str, Enum):
    """Who answered, as Asterisk's answering-machine detection (AMD, its AMDSTATUS) judged."""

    HUMAN = "HUMAN"
    MACHINE = "MACHINE"
    NOTSURE = "NOTSURE"


class Channel(Protocol):
    """What a flow may do with a call."""

    info: CallInfo

    def answer(self) -> None: ...
    def set_language(self, language: str) -> None: ...
    def set_variable(self, name: str, value: str) -> None: ...
    def get_variable(self, name: str) -> str: ...
    def play(self, sounds: Sequence[str], interrupt_keys: str = "") -> str: ...
    def collect_digits(self, sound: str, timeout_ms: int, max_digits: int) -> DigitEntry: ...
    def record(self, path: str, max_seconds: int, end_keys: str = "#") -> str: ...
    def sound_exists(self, sound: str) -> bool: ...
    def say_number(self, number: int, interrupt_keys: str = "") -> str: ...
    def say_digits(self, digits: str, interrupt_keys: str = "") -> str: ...
    def say_date(self, day: date, interrupt_keys: str = "") -> str: ...
    def time_since_answer(self) -> timedelta | None: ...
    def detect_answering_machine(self) -> AnsweredBy: ...


def since_answer(reply: str) -> timedelta | None:
    """Asterisk's now minus the answer time, from the text of ``ANSWER_CLOCK_EXPRESSION``; None when
    Asterisk could not say (not answered, CDRs off or func_cdr not loaded, anything unexpected)."""
    match = _ANSWER_CLOCK.match(reply.strip())
    if match is None or int(match[1]) == 0:
        return None
    fraction = timedelta(microseconds=int(match[2].ljust(6, "0")))
    answered = datetime.fromtimestamp(int(match[1]), timezone.utc) + fraction
    try:
        now = datetime.strptime(match[3], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return now - answered


class AgiChannel:
    """``Channel`` over an AGI session. Methods that play return the key that
    interrupted them, or ''."""

    def __init__(self, session: AgiSession) -> None:
        self._agi = session
        self.info = CallInfo.from_agi_env(session.env)

    def answer(self) -> None:
        self._agi.answer()

    def set_language(self, language: str) -> None:
        self._agi.set_variable("CHANNEL(language)", language)

    def set_variable(self, name: str, value: str) -> None:
        self._agi.set_variable(name, value)

    def get_variable(self, name: str) -> str:
        """A channel variable's value, '' when unset. Set by whoever made the call, so untrusted."""
        return self._agi.get_variable(name)

    def play(self, sounds: Sequence[str], interrupt_keys: str = "") -> str:
        for sound in sounds:
            key = self._agi.stream_file(sound, interrupt_keys)
            if key:
                return key
        return ""

    def collect_digits(self, sound: str, timeout_ms: int, max_digits: int) -> DigitEntry:
        """Play one sound (a key interrupts it) and collect up to ``max_digits``,
        ended by ``#`` or by ``timeout_ms`` of silence. GET DATA takes one file only."""
        digits, timed_out = self._agi.read_digits(sound, timeout_ms, max_digits)
        return DigitEntry(digits, complete=not timed_out or len(digits) >= max_digits)

    def record(self, path: str, max_seconds: int, end_keys: str = "#") -> str:
        """Record the caller after a beep into ``path``.wav (a path Asterisk can
        write); returns the key that ended it, '' on silence or time limit."""
        return self._agi.record_file(path, "wav", end_keys, max_seconds * 1000, 0, "beep")

    def sound_exists(self, sound: str) -> bool:
        """Whether Asterisk has ``sound``.wav: playing a missing file would end
        the AGI command with ``result=-1``, which reads as a hangup."""
        if not _SOUND_NAME.match(sound):
            raise ValueError(f"not a sound name: {sound!r}")
        found = self._agi.get_full_variable(f"${{STAT(e,${{ASTDATADIR}}/sounds/{sound}.wav)}}")
        return found == "1"

    def say_number(self, number: int, interrupt_keys: str = "") -> str:
        return self._agi.say_number(int(number), interrupt_keys)

    def say_digits(self, digits: str, interrupt_keys: str = "") -> str:
        if not digits.isdigit():
            raise ValueError(f"not a digit string: {digits!r}")
        return self._agi.say_digits(digits, interrupt_keys)

    def say_date(self, day: date, interrupt_keys: str = "") -> str:
        """Month, day and year, whatever the server's time zone."""
        noon = int(datetime.combine(day, time(12), tzinfo=timezone.utc).timestamp())
        return self._agi.say_datetime(noon, interrupt_keys, "BdY", "UTC")

    def time_since_answer(self) -> timedelta | None:
        """How long ago the channel was answered, on Asterisk's clock (ours may differ); None when
        Asterisk cannot say. One AGI command: ``GET FULL VARIABLE`` of ``ANSWER_CLOCK_EXPRESSION``."""
        return since_answer(self._agi.get_full_variable(ANSWER_CLOCK_EXPRESSION))

    def detect_answering_machine(self) -> AnsweredBy:
        """Listen to whoever answered with Asterisk's AMD (its timings in amd.conf): it returns once
        a greeting has ended, or at its time limit. Its own HANGUP verdict is a hangup; a verdict
        it does not give is NOTSURE."""
        self._agi.appexec("AMD")
        verdict = self._agi.get_variable("AMDSTATUS")
        if verdict == "HANGUP":
            raise Hangup("the channel hung up during answering-machine detection")
        try:
            return AnsweredBy(verdict)
        except ValueError:
            return AnsweredBy.NOTSURE
