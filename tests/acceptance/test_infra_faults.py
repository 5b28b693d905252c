"""Real calls through the sandbox while the infrastructure fails (issue 8, Faults; docs/faults.md).

- Broker down: our FastAGI server's broker is behind a TCP proxy the test has cut; a caller files a
  complaint and the call ends normally, the ticket is stored, and the server never tried the broker.
- Recording disk full: today's calls folder is a tiny tmpfs, filled up; a caller's call still runs
  its whole flow, and afterwards the catalogue marks the recording failed and the health check says
  so (``ivr health`` exits 1, ``GET /api/health`` 503).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import suppress
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from ivr.cli import main
from ivr.config import get_settings, set_settings
from ivr.db.models import CallRecording, Complaint, Disposition, RecordingStatus
from ivr.db.session import session_scope
from ivr.domain import health
from ivr.domain.call_recordings import CALLS_FOLDER, collect
from ivr.testing.celery_worker import broker_proxy
from ivr.testing.ivr_call import IvrCall, complain_about_a_claim

pytestmark = pytest.mark.acceptance

LI_LEI_MOBILE = "13911110001"  # customer AT000001 (English), born 1975-02-28, two policies


@pytest.fixture
def hotline_with_a_dead_broker(hotline) -> Iterator[object]:
    """The session's `ivr agi` restarted with its broker behind a proxy that is cut; restarted as it was after."""
    with broker_proxy() as proxy:
        proxy.cut()
        previous = dict(hotline.settings_env)
        hotline.stop()
        hotline.settings_env["IVR_BROKER_URL"] = proxy.url(os.environ["IVR_TEST_BROKER_URL"])
        hotline.start()
        try:
            yield proxy
        finally:
            hotline.stop()
            hotline.settings_env = previous
            hotline.start()


def test_with_the_broker_down_a_caller_files_a_complaint_and_the_call_ends_normally(
        hotline_with_a_dead_broker, hotline, sip_caller, asterisk_log):
    proxy = hotline_with_a_dead_broker
    call = IvrCall(sip_caller, asterisk_log, "95519", LI_LEI_MOBILE)
    ticket = complain_about_a_claim(call)
    call.press("main_menu", "9")
    asterisk_log.wait_for(r"HOTLINE done outcome=done", timeout=40)
    call.wait_end()

    with session_scope() as session:
        complaint = session.scalar(select(Complaint).where(Complaint.ticket_no == ticket))
        assert complaint is not None and complaint.status.value == "received"
    # Nothing on the call's path sends a task; what the tasks do later (the overdue flag, collecting the
    # call's recording) they find in the database and on disk when the broker is back.
    assert proxy.connections == 0


@pytest.fixture
def full_recordings_day(sandbox) -> Iterator[Path]:
    """Today's calls folder (UTC, as the dialplan names it) on a 256 KiB tmpfs filled to the last byte,
    mounted over it on the host and inside the sandbox (the bind mount does not propagate)."""
    calls = Path(os.path.realpath(get_settings().recordings_dir)) / CALLS_FOLDER
    day = calls / f"{datetime.now(timezone.utc):%Y-%m-%d}"
    inside = Path(f"{sandbox.sandbox_dir}/rootfs{day}")
    day.mkdir(parents=True, exist_ok=True)
    inside.mkdir(parents=True, exist_ok=True)
    owner = calls.stat()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size=256k,mode=2770,uid={owner.st_uid},gid={owner.st_gid}",
                    "hotline-full", str(day)], check=True)
    try:
        with suppress(OSError), (day / "filler").open("wb") as filler:
            while True:
                filler.write(b"\0" * 4096)
                filler.flush()
        subprocess.run(["mount", "--bind", str(day), str(inside)], check=True)
        try:
            yield day
        finally:
            subprocess.run(["umount", str(inside)], check=True)
    finally:
        subprocess.run(["umount", str(day)], check=True)


def test_with_the_recordings_disk_full_the_call_completes_and_the_failure_is_alerted(
        full_recordings_day, hotline, sip_caller, asterisk_log):
    previous = get_settings()
    set_settings(previous.replace(recording_stable_seconds=0, recording_failed_seconds=0))
    try:
        call = IvrCall(sip_caller, asterisk_log, "95519", LI_LEI_MOBILE, "Li Lei")
        call.press("main_menu", "1", "en")
        call.key_in("enter_birth_date", "19750228")
        call.expect(r'SAY NUMBER "2" ')  # two policies: the flow runs on as if nothing were wrong
        call.press("choose_policy_key", "9")
        call.press("main_menu", "9")
        asterisk_log.wait_for(r"HOTLINE done outcome=done", timeout=40)
        call.wait_end()
        record = hotline.call_record(call.channel)
        assert record.disposition == Disposition.SELF_SERVED

        now = datetime.now(timezone.utc)
        collect(now)
        counts = collect(now)
        with session_scope() as session:
            status = session.scalar(select(CallRecording.status).where(CallRecording.unique_id == record.unique_id))
        assert status is RecordingStatus.FAILED and counts.failed >= 1
        assert [alert.code for alert in health.alerts(now)] == ["recordings_disk_low", "recordings_failed"]
        result = CliRunner().invoke(main, ["health"])
        assert result.exit_code == 1 and "ALERT recordings_failed: " in result.output, result.output
    finally:
        set_settings(previous)
