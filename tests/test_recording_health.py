"""A full recordings disk (issue 8, Faults): a call whose files were never written is marked failed once
its call has ended, low free space is logged with the folder and its free bytes, and both are alerts
in ``ivr health``, ``GET /api/health`` and the wallboard. The real call on a full disk is
tests/acceptance/test_infra_faults.py; here the files are made as MixMonitor leaves them."""

from __future__ import annotations

import logging
import struct
import wave
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from ivr.cli import main
from ivr.config import get_settings, set_settings
from ivr.db.models import Call, CallRecording, RecordingStatus
from ivr.db.session import session_scope
from ivr.domain import health
from ivr.domain.call_recordings import collect
from ivr.domain.users import ConsoleRole
from ivr.testing.console import log_in, make_user

NOW = datetime(2026, 12, 4, 8, 0, tzinfo=timezone.utc)
FAILED_AFTER = 60


@pytest.fixture
def recordings(database_url: str, tmp_path: Path) -> Path:
    root = tmp_path / "recordings"
    (root / "calls" / f"{NOW:%Y-%m-%d}").mkdir(parents=True)
    set_settings(get_settings().replace(recordings_dir=str(root), recording_stable_seconds=0,
                                        recording_failed_seconds=FAILED_AFTER, recording_min_free_mb=1))
    return root


def _call(unique_id: str, ended_at: datetime | None) -> None:
    with session_scope() as session:
        session.add(Call(unique_id=unique_id, flow="hotline", started_at=NOW - timedelta(minutes=3),
                         ended_at=ended_at))


def _files(root: Path, unique_id: str, content: bytes | None = None) -> list[Path]:
    """``content`` None: a closed one-second WAV each; else that content (b"": nothing could be written)."""
    paths = [root / "calls" / f"{NOW:%Y-%m-%d}" / f"{unique_id}{suffix}" for suffix in ("-caller.wav", "-agent.wav")]
    for path in paths:
        if content is None:
            with wave.open(str(path), "wb") as wav:
                wav.setnchannels(1)
                wav.setsampwidth(2)
                wav.setframerate(8000)
                wav.writeframes(struct.pack("<h", 1000) * 8000)
        else:
            path.write_bytes(content)
    return paths


def _status(unique_id: str) -> RecordingStatus:
    with session_scope() as session:
        return session.scalars(select(CallRecording.status).where(CallRecording.unique_id == unique_id)).one()


def test_a_call_ended_with_its_files_never_written_is_a_failed_recording_until_they_are(recordings: Path) -> None:
    _call("1.1", ended_at=NOW)
    _files(recordings, "1.1", b"")  # MixMonitor opened them on a full disk
    _call("1.2", ended_at=None)  # still in the IVR: its files may yet come
    _files(recordings, "1.2", b"")

    collect(NOW)
    too_soon = collect(NOW + timedelta(seconds=FAILED_AFTER - 1))
    later = collect(NOW + timedelta(seconds=FAILED_AFTER))

    assert (too_soon.failed, later.failed) == (0, 1)
    assert (_status("1.1"), _status("1.2")) == (RecordingStatus.FAILED, RecordingStatus.RECORDING)
    assert collect(NOW + timedelta(seconds=FAILED_AFTER + 1)).failed == 0  # alerted once
    assert [alert.code for alert in health.alerts(NOW)] == ["recordings_failed"]

    _files(recordings, "1.1")  # written after all (space freed, MixMonitor closed them)
    collect(NOW + timedelta(seconds=FAILED_AFTER + 2))
    collect(NOW + timedelta(seconds=FAILED_AFTER + 3))
    assert _status("1.1") is RecordingStatus.COMPLETE
    assert health.alerts(NOW) == []


def test_low_free_space_is_logged_with_the_folder_and_alerted_everywhere(
        recordings: Path, app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    client = app.test_client()
    assert client.get("/api/health").get_json() == {"status": "ok", "alerts": []}

    set_settings(get_settings().replace(recording_min_free_mb=1 << 40))  # more than any disk has
    with caplog.at_level(logging.ERROR, "ivr.domain.call_recordings"):
        collect(NOW)

    day = recordings / "calls" / f"{NOW:%Y-%m-%d}"
    assert f"recordings folder low on space, calls may not be recorded: folder={day} free_bytes=" in caplog.text
    response = client.get("/api/health")  # no login: for monitors
    assert response.status_code == 503
    assert [alert["code"] for alert in response.get_json()["alerts"]] == ["recordings_disk_low"]
    assert str(recordings) not in response.get_data(as_text=True)  # no path to an anonymous caller
    result = CliRunner().invoke(main, ["health"])  # after the log check: the command sets up logging its own way
    assert result.exit_code == 1 and result.output.startswith("ALERT recordings_disk_low: recordings folder has ")
    make_user(ConsoleRole.SUPERVISOR)
    assert log_in(client, "supervisor1").status_code == 302
    assert [alert["code"] for alert in client.get("/api/wallboard").get_json()["alerts"]] == ["recordings_disk_low"]
    assert 'data-code="recordings_disk_low"' in client.get("/wallboard").get_data(as_text=True)
    set_settings(get_settings().replace(recording_min_free_mb=1))
    assert CliRunner().invoke(main, ["health"]).output == "ok\n"


def test_a_database_that_does_not_answer_is_an_alert_not_an_error(recordings: Path) -> None:
    set_settings(get_settings().replace(database_url="postgresql://nobody@127.0.0.1:1/none"))

    assert [alert.code for alert in health.alerts(NOW)] == ["database_unreachable"]
