"""Classic process AGI: Asterisk runs a script per call and talks over stdin/stdout."""

from __future__ import annotations

import sys

from ivr.telephony.agi import open_stream_session
from ivr.telephony.errors import AgiError, Hangup
from ivr.telephony.fastagi import CallHandler, run_session


def run_process_agi(handler: CallHandler) -> int:
    """Serve the one call on this process's stdin/stdout; exit code for Asterisk."""
    try:
        session = open_stream_session(sys.stdin.buffer, sys.stdout.buffer)
    except (Hangup, AgiError):
        return 1
    run_session(session, handler)
    return 0
