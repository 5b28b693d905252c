"""agi/hotline, the process-AGI entry script: the same flow over stdin/stdout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from ivr.db.models import Call, Disposition
from ivr.db.session import session_scope

SCRIPT = Path(__file__).resolve().parent.parent / "agi" / "hotline"
ENV = ("agi_request: /opt/hotline/agi/hotline\nagi_channel: PJSIP/caller-000000aa\n"
       "agi_language: en\nagi_type: PJSIP\nagi_uniqueid: 1700000001.7\n"
       "agi_callerid: 13700000001\nagi_calleridname: Test\nagi_dnid: 95519\n"
       "agi_threadid: 1\n\n")


def test_process_agi_script_runs_the_hotline_and_records_a_hangup(database_url):
    agi = subprocess.Popen([sys.executable, str(SCRIPT)], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=dict(os.environ, IVR_DATABASE_URL=database_url))
    assert agi.stdin and agi.stdout
    agi.stdin.write(ENV.encode())
    agi.stdin.flush()
    commands = []
    while True:
        command = agi.stdout.readline().decode().strip()
        commands.append(command)
        if command.startswith("GET DATA"):
            agi.stdin.write(b"HANGUP\n")
            agi.stdin.close()
            break
        agi.stdin.write(b"200 result=0\n")
        agi.stdin.flush()
    assert agi.wait(20) == 0
    assert commands[0] == "ANSWER"
    assert commands[-1] == "GET DATA hotline/en/language_choice 6000 1"
    with session_scope() as session:
        call = session.scalar(select(Call).where(Call.unique_id == "1700000001.7"))
        assert call is not None
        assert call.flow == "hotline"
        assert call.disposition == Disposition.ABANDONED_IN_IVR
        assert call.ended_at is not None
