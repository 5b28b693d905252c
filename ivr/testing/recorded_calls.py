"""Recorded calls in the catalogue for the quality console's tests, without Asterisk or Vosk.

The direction files are real WAVs as MixMonitor writes them (8 kHz mono,
tones where each side speaks), catalogued by ``call_recordings.collect``; the
transcript and analytics are given, as the transcription pipeline would store
them (that pipeline is tested with the real model in tests/test_call_transcripts.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import select, update

from ivr.config import get_settings
from ivr.db.models import CallRecording
from ivr.db.session import session_scope
from ivr.domain import call_recordings
from ivr.domain.call_recordings import TurnRecord
from ivr.testing.speech_audio import tone_pcm, write_wav

RATE = 8000


@dataclass(frozen=True)
class Said:
    """``words`` said by ``speaker`` from ``start`` seconds, one word every 0.5 s."""

    speaker: str
    start: float
    words: str


def recorded_call(unique_id: str, seconds: float, said: list[Said], *, agent_id: int | None = None,
                  queue: str = "general", analytics: dict | None = None,
                  started_at: datetime | None = None) -> int:
    """A complete, transcribed recording of ``seconds`` in the catalogue; its id."""
    now = started_at or datetime.now(timezone.utc)
    folder = Path(get_settings().recordings_dir) / call_recordings.CALLS_FOLDER / f"{now:%Y-%m-%d}"
    folder.mkdir(parents=True, exist_ok=True)
    for speaker in ("caller", "agent"):
        spans = [(s.start, s.start + 0.5 * len(s.words.split())) for s in said if s.speaker == speaker]
        write_wav(folder / f"{unique_id}-{speaker}.wav",
                  tone_pcm(seconds, spans, RATE, freq=440 if speaker == "caller" else 660), RATE)
    call_recordings.collect(now)
    call_recordings.collect(now + timedelta(seconds=get_settings().recording_stable_seconds + 1))
    with session_scope() as session:
        recording_id = session.scalar(select(CallRecording.id).where(CallRecording.unique_id == unique_id))
        session.execute(update(CallRecording).where(CallRecording.id == recording_id)
                        .values(agent_id=agent_id, queue=queue, started_at=now))
    turns = [TurnRecord(s.speaker, s.start, s.start + 0.5 * len(s.words.split()), s.words,
                        [(word, s.start + 0.5 * n, s.start + 0.5 * n + 0.45, 0.9)
                         for n, word in enumerate(s.words.split())]) for s in sorted(said, key=lambda s: s.start)]
    call_recordings.save_transcript(recording_id, turns, analytics or {}, now)
    return recording_id
