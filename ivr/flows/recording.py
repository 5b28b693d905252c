"""Recording the caller's own words (a claim description, a complaint)."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from datetime import datetime, timezone

from ivr.config import get_settings
from ivr.domain.recordings import new_recording_path
from ivr.flows.menu import Conversation

RECORDING_FORMAT = "wav"


def record_caller(call: Conversation, kind: str, ref: str, prompt: str, max_seconds: int,
                  remember: Callable[[str], None]) -> str:
    """Prompt, beep, record until ``#``, silence or ``max_seconds``.

    ``remember`` stores the file's relative path *before* recording starts, so
    a caller who hangs up mid-sentence leaves a partial file that is found.
    """
    relative = new_recording_path(kind, ref, datetime.now(timezone.utc))
    stored = f"{relative}.{RECORDING_FORMAT}"
    remember(stored)
    call.say(prompt)
    call.journal.event("recording", kind, stored)
    call.journal.flush()
    call.channel.record(posixpath.join(get_settings().recordings_dir_for_asterisk(), relative), max_seconds)
    return stored
