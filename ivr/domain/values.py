"""Checks of the values flows hand to the domain, shared by claims and complaints."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from ivr.domain.errors import ValidationError

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def recording_path(relative_path: str) -> str:
    """A recording's path relative to ``recordings_dir``, never outside it."""
    path = PurePosixPath(relative_path)
    if not relative_path or path.is_absolute() or ".." in path.parts:
        raise ValidationError(f"recording path {relative_path!r} must be relative to the recordings folder",
                              "invalid_recording_path")
    return relative_path


def e164(number: str) -> str:
    if not _E164.match(number):
        raise ValidationError(f"phone number {number!r} is not E.164 (+8613800138000)", "invalid_phone_number")
    return number
