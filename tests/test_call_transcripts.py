"""The catalogue's transcription pipeline with the real Korean model: a batch of catalogued recordings,
one good (8 kHz mono caller, 44.1 kHz stereo agent) and three spoiled after cataloguing (emptied,
truncated, replaced by text), through ``ivr transcribe --pending``: the good one transcribed by speaker
with its analytics, each bad one stored as failed with its reason, none of them lost."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydub import AudioSegment
from sqlalchemy import select

from ivr.cli import main
from ivr.config import get_settings, set_settings
from ivr.db.models import CallRecording, TranscriptionStatus
from ivr.db.session import session_scope
from ivr.domain.call_recordings import collect, files_of, transcript_of
from ivr.speech.call_transcripts import load_rules
from ivr.testing.speech_audio import korean_model, spoken_parts_wav

NOW = datetime(2026, 12, 4, 8, 0, tzinfo=timezone.utc)
CALLER_SAYS = "보험료 납입 안내 입니다"
RULES = """
[required.service]
greeting = ["안녕하세요"]
identity_verification = ["본인 확인 생년월일"]
mandatory_disclosure = ["보험료 납입 안내"]

[keywords]
complaint = ["생년월일"]
"""


@pytest.fixture
def catalogue(database_url: str, tmp_path: Path) -> Path:
    korean_model()  # skipped (failed on CI) without the model
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES, encoding="utf-8")
    load_rules.cache_clear()
    root = tmp_path / "recordings"
    set_settings(get_settings().replace(recordings_dir=str(root), recording_stable_seconds=0,
                                        speech_rules_file=str(rules),
                                        speech_phrases="안녕하세요,본인 확인,생년월일,보험료,납입,안내,입니다"))
    yield root
    load_rules.cache_clear()


def _recorded_call(root: Path, unique_id: str) -> None:
    """A call as MixMonitor leaves it: the caller's direction at 8 kHz mono; the agent's, say from an
    imported recording, at 44.1 kHz stereo."""
    folder = root / "calls" / "2026-12-04"
    folder.mkdir(parents=True, exist_ok=True)
    spoken_parts_wav([4.0, CALLER_SAYS, 1.0], folder / f"{unique_id}-caller.wav")
    agent = folder / f"{unique_id}-agent-8k.wav"
    spoken_parts_wav([0.5, "안녕하세요", 4.5, "본인 확인 생년월일"], agent)
    AudioSegment.from_wav(agent).set_frame_rate(44100).set_channels(2).export(
        folder / f"{unique_id}-agent.wav", format="wav")
    agent.unlink()


def _rows() -> dict[str, CallRecording]:
    with session_scope() as session:
        return {row.unique_id: row for row in session.scalars(select(CallRecording))}


def test_pending_recordings_are_transcribed_and_the_spoiled_ones_fail_with_their_reasons(catalogue: Path) -> None:
    for unique_id in ("1.1", "1.2", "1.3", "1.4"):
        _recorded_call(catalogue, unique_id)
    collect(NOW)
    collect(NOW + timedelta(seconds=1))  # the sizes are stable: complete, waiting for transcription
    rows = _rows()
    assert {row.transcription_status for row in rows.values()} == {TranscriptionStatus.PENDING}
    files_of(rows["1.2"].base_path).caller.write_bytes(b"")
    truncated = files_of(rows["1.3"].base_path).agent
    truncated.write_bytes(truncated.read_bytes()[:20_000])
    files_of(rows["1.4"].base_path).caller.write_text("not a recording\n")

    result = CliRunner().invoke(main, ["transcribe", "--pending", "--jobs", "2"])

    assert result.exit_code == 1, result.output  # some failed
    assert "1 done, 3 failed" in result.output
    rows = _rows()
    assert [(rows[u].transcription_status, rows[u].transcription_error.split(":")[0]) for u in ("1.2", "1.3", "1.4")] \
        == [(TranscriptionStatus.FAILED, "empty"), (TranscriptionStatus.FAILED, "truncated"),
            (TranscriptionStatus.FAILED, "not_audio")]
    good = rows["1.1"]
    assert good.transcription_status is TranscriptionStatus.DONE
    said = [(turn.speaker, word[0]) for turn in transcript_of(good.id) for word in turn.words]
    assert ("agent", "안녕하세요") in said and ("agent", "생년월일") in said, said
    assert ("caller", "보험료") in said, said
    assert said.index(("agent", "안녕하세요")) < said.index(("caller", "보험료")) < said.index(("agent", "생년월일"))
    figures = json.loads(good.analytics)
    script = {item["item"]: item["found"] for item in figures["script"]}
    # The caller spoke of the premium; the agent never gave the disclosure.
    assert script == {"greeting": True, "identity_verification": True, "mandatory_disclosure": False}
    assert figures["script_adherence"] == pytest.approx(2 / 3, abs=0.001)
    assert good.script_adherence == pytest.approx(2 / 3, abs=0.001) and good.flags == "complaint"  # searchable
    assert [hit["speaker"] for hit in figures["keywords"]["complaint"]] == ["agent"]
    assert 0.0 < figures["silence_ratio"] < 0.6 and figures["talk_seconds"]["agent"] > 1.0
    assert files_of(good.base_path).playback.exists()
    for unique_id in ("1.2", "1.3", "1.4"):  # nothing lost: the failed recordings and their files stay
        assert files_of(rows[unique_id].base_path).agent.exists()
