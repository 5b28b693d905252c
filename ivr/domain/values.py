"""Checks of the values flows hand to the domain, shared by claims and complaints."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ivr.domain.errors import ValidationError

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def recording_path(relative_path: str) -> str:
    """A recording's path relative to ``recordings_dir``, never outside it."""
    path = PurePosixPath(relative_path)
    if not relative_path or path.is_absolute() or ".." in path.parts or "\x00" in relative_path:
        raise ValidationError(f"recording path {relative_path!r} must be relative to the recordings folder",
                              "invalid_recording_path")
    return relative_path


def valid_zone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone this machine knows ("Asia/Shanghai", "Europe/London")."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def e164(number: str) -> str:
    if not _E164.match(number):
        raise ValidationError(f"phone number {number!r} is not E.164 (+8613800138000)", "invalid_phone_number")
    return number


NOTE_MAX_CHARS = 2000  # an agent's note (wrap-up, callback outcome): a few paragraphs, not a transcript
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def agent_note(note: str, error_prefix: str, max_chars: int = NOTE_MAX_CHARS) -> str:
    """An agent's free text, trimmed: at most ``max_chars``, line breaks and tabs but no other
    control characters (PostgreSQL refuses NUL in text). Shown only escaped."""
    note = note.replace("\r\n", "\n").strip()
    if len(note) > max_chars:
        raise ValidationError(f"the note has {len(note)} characters; at most {max_chars}",
                              f"{error_prefix}_note_too_long")
    return without_control_characters(note, "the note", f"invalid_{error_prefix}_note")


def without_control_characters(text: str, what: str, error_id: str) -> str:
    """``text`` unless it holds control characters other than line breaks and tabs: nobody types them,
    PostgreSQL refuses NUL in text, and a terminal or a log reading them could be misled."""
    if _CONTROL.search(text):
        raise ValidationError(f"{what} holds control characters", error_id)
    return text


def code_list(setting: str, text: str, max_chars: int) -> tuple[str, ...]:
    """The codes of a comma-separated setting (wrap-up codes, pause reasons), in its order.

    A setting with no codes or a code too long for its column is a configuration
    error (ValueError naming the setting), not a user's mistake.
    """
    codes = tuple(code.strip() for code in text.split(",") if code.strip())
    if not codes or any(len(code) > max_chars for code in codes):
        raise ValueError(f"setting {setting} needs codes of 1 to {max_chars} characters: {text!r}")
    return codes
