"""One recorded call from its two direction files to a stored transcript and its analytics.

Claimed first (pending -> running, ``call_recordings.claim_transcription``),
so a second worker or a redelivered task does nothing. Each direction is
checked and converted (``audio.for_recognizer``), transcribed with the
process's one model, its long digit runs redacted, the two merged into turns
in time order; the analytics (talk, silence, overtalk, speaking rate, script
adherence, forbidden phrases, keywords) come from the same words and voice
activity. A bad file is stored as a failure with its reason; the recording is
kept and the batch goes on.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import asdict
from functools import cache
from pathlib import Path
from typing import Any

from ivr.config import get_settings
from ivr.db.models import utcnow
from ivr.domain import call_recordings
from ivr.domain.call_recordings import TurnRecord
from ivr.speech import analytics
from ivr.speech.audio import BadAudio, for_recognizer, stereo_for_playback, voice_activity
from ivr.speech.engine import load_model, model_folder, transcribe_pcm
from ivr.speech.turns import AGENT, CALLER, Turn, Word, merge_turns

__all__ = ["load_rules", "transcribe_recording"]

log = logging.getLogger(__name__)

DEFAULT_RULES = Path(__file__).with_name("rules.toml")


@cache
def load_rules(path: str = "") -> dict[str, Any]:
    """The analytics rules (``speech_rules_file``, else the packaged ``rules.toml``)."""
    with Path(path or DEFAULT_RULES).open("rb") as fh:
        return tomllib.load(fh)


def transcribe_recording(recording_id: int) -> str:
    """``done``, ``failed`` (a bad file, reason stored) or ``skipped`` (not pending, or taken by another)."""
    if not call_recordings.claim_transcription(recording_id):
        return "skipped"
    row = call_recordings.get_recording(recording_id)
    files = call_recordings.files_of(row.base_path)
    settings = get_settings()
    try:
        model = load_model(model_folder(settings.vosk_model_path))
        phrases = [p.strip() for p in settings.speech_phrases.split(",") if p.strip()] or None
        words, activity, duration = {}, {}, 0.0
        for speaker, path in ((CALLER, files.caller), (AGENT, files.agent)):
            audio = for_recognizer(path, max_seconds=settings.recording_max_seconds)
            spoken = transcribe_pcm(model, audio.pcm, phrases=phrases)
            words[speaker], _ = analytics.redact_words(spoken)
            activity[speaker] = voice_activity(audio.pcm)
            duration = max(duration, audio.duration)
        stereo_for_playback(files.caller, files.agent, files.playback)
    except BadAudio as error:
        call_recordings.fail_transcription(recording_id, error.reason, str(error))
        return "failed"
    except Exception as error:  # the model, ffmpeg, a full disk: visible to quality staff, never silent
        call_recordings.fail_transcription(recording_id, "error", f"{type(error).__name__}: {error}")
        log.exception("recording transcription error: recording=%d", recording_id)
        return "failed"
    turns = merge_turns(words)
    call_recordings.save_transcript(recording_id, [_stored(turn) for turn in turns],
                                    call_analytics(turns, words, activity, duration, row.call_type), utcnow())
    return "done"


def call_analytics(turns: list[Turn], words: dict[str, list[Word]], activity: dict[str, Any], duration: float,
                   call_type: str) -> dict[str, Any]:
    """The call's figures and findings, as stored with it (JSON)."""
    rules = load_rules(get_settings().speech_rules_file)
    times = analytics.call_times(activity, duration)
    script = analytics.check_script(turns, rules.get("required", {}).get(call_type, {}))
    return {
        "duration": round(duration, 2), "talk_seconds": {k: round(v, 2) for k, v in times.talk_seconds.items()},
        "silence_ratio": round(times.silence_ratio, 4), "longest_silence": round(times.longest_silence, 2),
        "overtalk_seconds": round(times.overtalk_seconds, 2),
        "agent_words_per_minute": round(analytics.words_per_minute(words.get(AGENT, []),
                                                                     times.talk_seconds.get(AGENT, 0.0)), 1),
        "script": [{"item": item.name, "found": item.found, "score": round(item.score, 3),
                    "at": item.hit.start if item.hit else None} for item in script],
        "script_adherence": round(sum(item.found for item in script) / len(script), 3) if script else None,
        "forbidden": [asdict(hit) for hit in analytics.find_phrases(turns, rules.get("forbidden", []))],
        "keywords": {name: [asdict(hit) for hit in analytics.keyword_hits(turns, words_)]
                     for name, words_ in rules.get("keywords", {}).items()},
    }


def _stored(turn: Turn) -> TurnRecord:
    return TurnRecord(turn.speaker, turn.start, turn.end, turn.text,
                      [(w.text, round(w.start, 2), round(w.end, 2), round(w.confidence, 3)) for w in turn.words])
