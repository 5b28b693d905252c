"""The recording catalogue: a file found while Asterisk writes it, catalogued only once closed and stable,
linked to its call, agent and campaign, hashed; tampering and loss found; expired files purged unless held."""

from __future__ import annotations

import struct
import wave
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from ivr.config import get_settings, set_settings
from ivr.db.models import Call, CallRecording, QueueCall, RecordingStatus, TranscriptionStatus
from ivr.db.session import session_scope
from ivr.domain import audit, call_recordings
from ivr.domain.call_recordings import collect, files_of, purge_expired, verify_recordings, wav_closed

NOW = datetime(2026, 12, 4, 8, 0, tzinfo=timezone.utc)
UNIQUE_ID = "1733300000.42"


@pytest.fixture
def recordings(database_url: str, tmp_path: Path) -> Path:
    root = tmp_path / "recordings"
    set_settings(get_settings().replace(recordings_dir=str(root), recording_stable_seconds=5))
    return root


def _base(root: Path, unique_id: str = UNIQUE_ID, day: str = "2026-12-04") -> Path:
    folder = root / "calls" / day
    folder.mkdir(parents=True, exist_ok=True)
    return folder / unique_id


def _closed_wav(path: Path, seconds: float, tone: int = 1000) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(struct.pack("<h", tone) * int(8000 * seconds))


def _open_wav(path: Path, seconds: float) -> None:
    """As MixMonitor leaves a file it is still writing: the header's sizes are 0."""
    _closed_wav(path, seconds)
    data = bytearray(path.read_bytes())
    data[4:8] = struct.pack("<I", 0)
    data[40:44] = struct.pack("<I", 0)
    path.write_bytes(bytes(data))


def _recorded_call(root: Path, seconds: float = 3.0, unique_id: str = UNIQUE_ID) -> Path:
    base = _base(root, unique_id)
    _closed_wav(base.with_name(base.name + "-caller.wav"), seconds, 1000)
    _closed_wav(base.with_name(base.name + "-agent.wav"), seconds, 2000)
    return base


def _row(unique_id: str = UNIQUE_ID) -> CallRecording:
    with session_scope() as session:
        return session.scalars(select(CallRecording).where(CallRecording.unique_id == unique_id)).one()


def test_a_wav_is_closed_only_once_its_header_has_the_sizes(tmp_path: Path) -> None:
    closed, still_open, text = tmp_path / "closed.wav", tmp_path / "open.wav", tmp_path / "text.wav"
    _closed_wav(closed, 1.0)
    _open_wav(still_open, 1.0)
    text.write_text("not audio")

    assert wav_closed(closed)
    assert not wav_closed(still_open) and not wav_closed(text) and not wav_closed(tmp_path / "none.wav")


def test_a_recording_is_catalogued_only_once_closed_and_its_size_stable(recordings: Path) -> None:
    base = _base(recordings)
    caller, agent = base.with_name(base.name + "-caller.wav"), base.with_name(base.name + "-agent.wav")
    _open_wav(caller, 2.0)
    _open_wav(agent, 2.0)

    first = collect(NOW)
    still_open = collect(NOW + timedelta(seconds=10))
    _closed_wav(caller, 3.0, 1000)
    _closed_wav(agent, 3.0, 2000)
    just_closed = collect(NOW + timedelta(seconds=11))
    too_soon = collect(NOW + timedelta(seconds=13))
    stable = collect(NOW + timedelta(seconds=17))

    assert (first.found, first.completed) == (1, [])
    assert still_open.completed == [] and just_closed.completed == [] and too_soon.completed == []
    row = _row()
    assert stable.completed == [row.id] and stable.found == 0
    assert (row.status, row.transcription_status) == (RecordingStatus.COMPLETE, TranscriptionStatus.PENDING)
    assert row.duration_seconds == 3.0 and row.caller_bytes == caller.stat().st_size
    assert len(row.caller_sha256) == 64 and row.caller_sha256 != row.agent_sha256
    assert row.base_path == f"calls/2026-12-04/{UNIQUE_ID}"
    assert collect(NOW + timedelta(seconds=30)).completed == []  # once


def test_a_completed_recording_names_its_call_customer_agent_and_queue(recordings: Path, small_book) -> None:
    with session_scope() as session:
        session.add(Call(unique_id=UNIQUE_ID, flow="hotline", customer_id=small_book.customer_id,
                         started_at=NOW - timedelta(minutes=5)))
        session.add(QueueCall(unique_id=UNIQUE_ID, queue="vip", joined_at=NOW - timedelta(minutes=4)))
    _recorded_call(recordings)

    collect(NOW)
    collect(NOW + timedelta(seconds=6))

    row = _row()
    assert (row.customer_id, row.queue, row.direction, row.call_type) == (small_book.customer_id, "vip", "inbound",
                                                                          "service")
    assert row.started_at == NOW - timedelta(minutes=5) and row.call_id is not None
    assert row.retain_until == date(2031, 12, 4)  # five years from the call


def test_retention_years_come_from_the_setting_per_call_type(recordings: Path) -> None:
    set_settings(get_settings().replace(recording_retention_years="sales=5,renewal=7,service=2"))
    assert [call_recordings.retention_years(kind) for kind in ("sales", "renewal", "service", "other")] == [5, 7, 2, 5]


def test_a_file_never_closed_is_kept_as_unfinished(recordings: Path) -> None:
    base = _base(recordings)
    _open_wav(base.with_name(base.name + "-caller.wav"), 1.0)
    _open_wav(base.with_name(base.name + "-agent.wav"), 1.0)

    collect(NOW)
    collect(NOW + timedelta(hours=1))
    late = collect(NOW + timedelta(hours=13))

    assert late.unfinished == 1 and _row().status is RecordingStatus.UNFINISHED
    assert base.with_name(base.name + "-caller.wav").exists()


def test_verify_finds_a_changed_and_a_missing_file(recordings: Path) -> None:
    kept, tampered = _recorded_call(recordings, unique_id="1.1"), _recorded_call(recordings, unique_id="1.2")
    collect(NOW)
    collect(NOW + timedelta(seconds=6))
    assert verify_recordings() == (4, [])

    agent = tampered.with_name(tampered.name + "-agent.wav")
    data = bytearray(agent.read_bytes())
    data[-1] ^= 0xFF  # one byte of audio
    agent.write_bytes(bytes(data))
    kept.with_name(kept.name + "-caller.wav").unlink()
    checked, problems = verify_recordings()

    assert checked == 4
    assert {(p.recording_id, Path(p.path).name, p.problem) for p in problems} == {
        (_row("1.1").id, "1.1-caller.wav", "missing"), (_row("1.2").id, "1.2-agent.wav", "changed")}
    findings = audit.list_entries(audit.RECORDING, actor=audit.SYSTEM_ACTOR)
    assert sorted((e.entity_id, e.action) for e in findings) == sorted(
        [(str(_row("1.1").id), "catalogued"), (str(_row("1.2").id), "catalogued"),
         (str(_row("1.1").id), "verify_failed"), (str(_row("1.2").id), "verify_failed")])


def test_purge_deletes_expired_files_unless_on_legal_hold(recordings: Path) -> None:
    expired, held = _recorded_call(recordings, unique_id="2.1"), _recorded_call(recordings, unique_id="2.2")
    collect(NOW)
    collect(NOW + timedelta(seconds=6))
    call_recordings.set_legal_hold(_row("2.2").id, True, actor="test")

    not_yet = purge_expired(NOW + timedelta(days=365))
    purged = purge_expired(NOW + timedelta(days=6 * 365))

    assert not_yet == [] and purged == [_row("2.1").id]
    assert _row("2.1").status is RecordingStatus.PURGED and not files_of(_row("2.1").base_path).caller.exists()
    assert files_of(_row("2.2").base_path).caller.exists() and _row("2.2").status is RecordingStatus.COMPLETE
    assert held.with_name(held.name + "-agent.wav").exists() and not expired.with_name("2.1-agent.wav").exists()
    assert [(e.actor, e.entity_id, e.action) for e in audit.list_entries(audit.RECORDING)][-2:] == [
        ("test", str(_row("2.2").id), "legal_hold"), (audit.SYSTEM_ACTOR, str(_row("2.1").id), "purged")]


def test_a_pause_is_marked_and_joins_its_recording(recordings: Path) -> None:
    pause_id = call_recordings.pause_recording(UNIQUE_ID, None, NOW)
    assert call_recordings.pause_recording(UNIQUE_ID, None, NOW + timedelta(seconds=1)) == pause_id  # one open
    assert call_recordings.resume_recording(UNIQUE_ID, None, NOW + timedelta(seconds=30))
    assert not call_recordings.resume_recording(UNIQUE_ID, None, NOW + timedelta(seconds=31))
    _recorded_call(recordings)

    collect(NOW + timedelta(minutes=1))
    collect(NOW + timedelta(minutes=2))

    with session_scope() as session:
        row = session.scalars(select(CallRecording).where(CallRecording.unique_id == UNIQUE_ID)).one()
        assert [(p.paused_at, p.resumed_at) for p in row.pauses] == [(NOW, NOW + timedelta(seconds=30))]
    assert [(e.entity_id, e.action) for e in audit.list_entries(audit.RECORDING)] == [
        (UNIQUE_ID, "paused"), (UNIQUE_ID, "resumed"), (str(row.id), "catalogued")]  # paused before catalogued


def test_file_names_that_are_not_unique_ids_are_ignored(recordings: Path) -> None:
    _recorded_call(recordings, unique_id="x;rm -rf")
    assert collect(NOW).found == 0


def test_ivr_recordings_verify_exits_1_and_names_a_tampered_file(recordings: Path) -> None:
    from click.testing import CliRunner

    from ivr.cli import main

    base = _recorded_call(recordings)
    collect(NOW)
    collect(NOW + timedelta(seconds=6))
    clean = CliRunner().invoke(main, ["recordings", "verify"])
    caller = base.with_name(base.name + "-caller.wav")
    caller.write_bytes(caller.read_bytes()[:-2] + b"\x00\x01")
    tampered = CliRunner().invoke(main, ["recordings", "verify"])

    assert clean.exit_code == 0 and "2 files checked, 0 changed or missing" in clean.output
    assert tampered.exit_code == 1 and f"{caller} changed" in tampered.output
