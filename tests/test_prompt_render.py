"""Prompt rendering: espeak-ng output becomes 8 kHz mono WAV, rendered once per change."""

from __future__ import annotations

import math
import shlex
import struct
import sys
import wave
from pathlib import Path

import pytest

from ivr.telephony.prompt_render import PromptRenderError, asterisk_wav, parse_wav, render_prompts

# Stands in for espeak-ng --stdout: a 22.05 kHz tone with a streaming header
# (sizes it cannot know, as espeak-ng writes to a pipe), counting its runs.
FAKE_ESPEAK = r'''
import math, struct, sys
from pathlib import Path
runs = Path(sys.argv[1]); runs.write_text(str(int(runs.read_text() or 0) + 1) if runs.exists() else "1")
sys.stdin.read()
samples = b"".join(struct.pack("<h", int(8000 * math.sin(i / 10))) for i in range(22050))
header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 0x7ffff024, b"WAVE", b"fmt ", 16, 1, 1, 22050, 44100, 2, 16, b"data", 0x7ffff000)
sys.stdout.buffer.write(header + samples)
'''


@pytest.fixture
def fake_espeak(tmp_path: Path) -> tuple[str, Path]:
    script = tmp_path / "fake_espeak.py"
    script.write_text(FAKE_ESPEAK)
    runs = tmp_path / "runs"
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} {shlex.quote(str(runs))}", runs


def test_prompts_are_rendered_as_8khz_mono_16bit_wav(tmp_path: Path, fake_espeak) -> None:
    espeak, _ = fake_espeak
    report = render_prompts({"en": {"welcome": "Welcome."}}, tmp_path / "out", espeak)

    assert report.rendered == ["en/welcome"]
    with wave.open(str(tmp_path / "out" / "en" / "welcome.wav")) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        assert abs(wav.getnframes() - 8000) < 10  # one second of audio


def test_unchanged_prompts_are_not_rendered_again(tmp_path: Path, fake_espeak) -> None:
    espeak, runs = fake_espeak
    prompts = {"en": {"welcome": "Welcome.", "goodbye": "Goodbye."}}
    render_prompts(prompts, tmp_path, espeak)

    prompts["en"]["goodbye"] = "Goodbye, and thank you."
    report = render_prompts(prompts, tmp_path, espeak)

    assert report.rendered == ["en/goodbye"]
    assert report.unchanged == ["en/welcome"]
    assert runs.read_text() == "3"


def test_a_language_without_a_voice_is_refused(tmp_path: Path, fake_espeak) -> None:
    with pytest.raises(PromptRenderError, match="no espeak-ng voice"):
        render_prompts({"xx": {"welcome": "?"}}, tmp_path, fake_espeak[0])


def test_a_missing_espeak_is_reported_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(PromptRenderError, match="install espeak-ng or pass --espeak"):
        render_prompts({"en": {"welcome": "Welcome."}}, tmp_path, "/nonexistent/espeak-ng")


def test_stereo_8bit_audio_is_converted() -> None:
    stereo = bytes([128, 128, 200, 200] * 100)
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(stereo), b"WAVE", b"fmt ", 16,
                         1, 2, 8000, 16000, 2, 8, b"data", len(stereo))
    out = parse_wav(asterisk_wav(parse_wav(header + stereo)))
    assert (out.rate, out.channels, out.width, len(out.samples)) == (8000, 1, 2, 400)


def test_output_that_is_not_wav_is_refused() -> None:
    with pytest.raises(PromptRenderError, match="not a WAV"):
        parse_wav(b"espeak-ng: error")
