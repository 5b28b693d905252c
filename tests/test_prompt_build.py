"""Prompt build: espeak-ng or a site recording becomes 8 kHz mono 16-bit WAV, built once per change."""

from __future__ import annotations

import os
import shlex
import shutil
import struct
import sys
import wave
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.cli import main
from ivr.config import get_settings, set_settings
from ivr.telephony.prompt_build import (PromptBuildError, asterisk_wav, build_prompts, load_recording,
                                        parse_wav, synthesise)

# Stands in for espeak-ng --stdout: a 22.05 kHz tone with a streaming header
# (sizes it cannot know, as espeak-ng writes to a pipe), counting its runs.
FAKE_ESPEAK = r'''
import math, os, struct, sys
runs = sys.argv[1]
count = int(open(runs).read()) + 1 if os.path.exists(runs) else 1
open(runs, "w").write(str(count))
sys.stdin.read()
cycle = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * i / 63))) for i in range(63))
samples = (cycle * 351)[:44100]
header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 0x7ffff024, b"WAVE", b"fmt ", 16, 1, 1, 22050, 44100, 2, 16, b"data", 0x7ffff000)
sys.stdout.buffer.write(header + samples)
'''


@pytest.fixture
def fake_espeak(tmp_path: Path) -> tuple[str, Path]:
    script = tmp_path / "fake_espeak.py"
    script.write_text(FAKE_ESPEAK)
    runs = tmp_path / "runs"
    return f"{shlex.quote(sys.executable)} -S {shlex.quote(str(script))} {shlex.quote(str(runs))}", runs


def wav_format(path: Path) -> tuple[int, int, int, int]:
    """(rate, channels, sample width, frames) of a WAV file."""
    with wave.open(str(path)) as wav:
        return wav.getframerate(), wav.getnchannels(), wav.getsampwidth(), wav.getnframes()


def write_wav(path: Path, rate: int, channels: int, seconds: float, silence: float = 0.0) -> None:
    """A site's recording: a square wave of ``seconds``, with ``silence`` before and after."""
    path.parent.mkdir(parents=True, exist_ok=True)
    period = (struct.pack("<h", 4000) * 10 + struct.pack("<h", -4000) * 10) * channels
    quiet = b"\0\0" * channels * int(rate * silence)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(quiet + (period * rate)[:2 * channels * int(rate * seconds)] + quiet)


def test_prompts_are_built_as_8khz_mono_16bit_wav(tmp_path: Path, fake_espeak) -> None:
    espeak, _ = fake_espeak
    report = build_prompts({"en": {"welcome": "Welcome."}, "zh": {"welcome": "欢迎。"}}, tmp_path / "out",
                           espeak=espeak)

    assert report.synthesised == ["en/welcome", "zh/welcome"]
    for language in ("en", "zh"):
        rate, channels, width, frames = wav_format(tmp_path / "out" / language / "welcome.wav")
        assert (rate, channels, width) == (8000, 1, 2)
        assert abs(frames - 8000) < 10  # one second of audio


def test_unchanged_prompts_are_not_built_again_unless_forced(tmp_path: Path, fake_espeak) -> None:
    espeak, runs = fake_espeak
    prompts = {"en": {"welcome": "Welcome.", "goodbye": "Goodbye."}}
    build_prompts(prompts, tmp_path, espeak=espeak)

    prompts["en"]["goodbye"] = "Goodbye, and thank you."
    report = build_prompts(prompts, tmp_path, espeak=espeak)
    assert report.synthesised == ["en/goodbye"]
    assert report.unchanged == ["en/welcome"]
    assert runs.read_text() == "3"

    assert build_prompts(prompts, tmp_path, espeak=espeak, force=True).synthesised == ["en/welcome", "en/goodbye"]
    assert runs.read_text() == "5"


def test_a_site_recording_replaces_the_synthetic_voice(tmp_path: Path, fake_espeak) -> None:
    espeak, runs = fake_espeak
    overrides, out = tmp_path / "prompts-custom", tmp_path / "out"
    prompts = {"zh": {"welcome": "欢迎。", "goodbye": "再见。"}}
    build_prompts(prompts, out, espeak=espeak, overrides_dir=overrides)
    write_wav(overrides / "zh" / "welcome.wav", 44100, 2, 0.5)

    lines: list[str] = []
    report = build_prompts(prompts, out, espeak=espeak, overrides_dir=overrides, progress=lines.append)

    assert report.overridden == ["zh/welcome"] and report.unchanged == ["zh/goodbye"]
    assert runs.read_text() == "2"  # espeak-ng ran for the first build only
    assert wav_format(out / "zh" / "welcome.wav") == (8000, 1, 2, 4000)  # the recording's half second
    assert lines == [f"[1/2] zh/welcome: site recording {overrides / 'zh' / 'welcome.wav'}"]

    (overrides / "zh" / "welcome.wav").unlink()
    assert build_prompts(prompts, out, espeak=espeak, overrides_dir=overrides).synthesised == ["zh/welcome"]


def test_a_recording_named_after_no_prompt_is_refused(tmp_path: Path, fake_espeak) -> None:
    write_wav(tmp_path / "custom" / "en" / "welcom.wav", 8000, 1, 0.1)
    with pytest.raises(PromptBuildError, match="welcom.wav matches no prompt id"):
        build_prompts({"en": {"welcome": "Welcome."}}, tmp_path / "out", espeak=fake_espeak[0],
                      overrides_dir=tmp_path / "custom")


def test_a_recording_pydub_cannot_read_says_why(tmp_path: Path) -> None:
    broken = tmp_path / "welcome.wav"
    broken.write_bytes(b"RIFF\0\0\0\0WAVEjunk")
    with pytest.raises(PromptBuildError, match="cannot read site recording"):
        load_recording(broken)


def test_a_prompt_that_left_the_catalogue_is_removed(tmp_path: Path, fake_espeak) -> None:
    espeak, _ = fake_espeak
    build_prompts({"en": {"welcome": "Welcome.", "old": "Old."}}, tmp_path, espeak=espeak)
    report = build_prompts({"en": {"welcome": "Welcome."}}, tmp_path, espeak=espeak)
    assert report.removed == ["en/old"]
    assert not (tmp_path / "en" / "old.wav").exists()


def test_a_language_without_a_voice_is_refused(tmp_path: Path, fake_espeak) -> None:
    with pytest.raises(PromptBuildError, match="no espeak-ng voice"):
        build_prompts({"xx": {"welcome": "?"}}, tmp_path, espeak=fake_espeak[0])


def test_a_missing_espeak_is_reported_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(PromptBuildError, match="install espeak-ng or pass --espeak"):
        build_prompts({"en": {"welcome": "Welcome."}}, tmp_path, espeak="/nonexistent/espeak-ng")


def test_stereo_8bit_audio_is_converted(tmp_path: Path) -> None:
    stereo = bytes([128, 128, 200, 200] * 100)
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(stereo), b"WAVE", b"fmt ", 16,
                         1, 2, 8000, 16000, 2, 8, b"data", len(stereo))
    (tmp_path / "in.wav").write_bytes(header + stereo)
    out = parse_wav(asterisk_wav(load_recording(tmp_path / "in.wav")))
    assert (out.rate, out.channels, out.width, len(out.samples)) == (8000, 1, 2, 400)


def test_output_that_is_not_wav_is_refused() -> None:
    with pytest.raises(PromptBuildError, match="not a WAV"):
        parse_wav(b"espeak-ng: error")


@pytest.mark.skipif(shutil.which("espeak-ng") is None and os.environ.get("CI") != "true",  # on CI: fail
                    reason="espeak-ng is not installed on this machine (the sandbox has its own)")
@pytest.mark.parametrize("voice, text", [("cmn", "一千二百三十四元五角"), ("en-us", "Welcome.")])
def test_espeak_ng_speaks_both_voices(voice: str, text: str) -> None:
    audio = synthesise(text, voice)
    assert audio.duration_seconds > 0.5
    assert parse_wav(asterisk_wav(audio)).rate == 8000


@pytest.fixture
def settings_for(tmp_path: Path):
    previous = get_settings()
    set_settings(previous.replace(prompt_sounds_dir=str(tmp_path / "sounds"),
                                  prompt_overrides_dir=str(tmp_path / "custom")))
    yield tmp_path
    set_settings(previous)


def test_build_command_builds_one_language_with_progress(settings_for: Path, fake_espeak, monkeypatch) -> None:
    monkeypatch.setattr("ivr.flows.prompts.PROMPTS", {"zh": {"goodbye": "再见。"},
                                                      "en": {"welcome": "Welcome.", "goodbye": "Goodbye."}})
    monkeypatch.setattr("ivr.flows.prompts.check.catalogue_problems", lambda: [])
    write_wav(settings_for / "custom" / "en" / "goodbye.wav", 16000, 1, 0.25)
    result = CliRunner().invoke(main, ["prompts", "build", "--language", "en", "--espeak", fake_espeak[0]])

    assert result.exit_code == 0, result.output
    assert "en/goodbye: site recording" in result.output
    assert wav_format(settings_for / "sounds" / "en" / "goodbye.wav") == (8000, 1, 2, 2000)
    assert not (settings_for / "sounds" / "zh").exists()
    assert result.output.splitlines()[-1] == (f"prompts in {settings_for / 'sounds'}: 1 synthesised, "
                                              "1 from site recordings, 0 unchanged, 0 removed")


def test_build_command_fails_listing_prompts_a_flow_uses_but_a_catalogue_lacks(
        settings_for: Path, fake_espeak, monkeypatch) -> None:
    monkeypatch.setattr("ivr.flows.prompts.check.catalogue_problems",
                        lambda: ["P.brand_new (used at ivr/flows/new.py:3) is missing from zh.toml"])
    result = CliRunner().invoke(main, ["prompts", "build", "--espeak", fake_espeak[0]])

    assert result.exit_code == 1
    assert "P.brand_new (used at ivr/flows/new.py:3) is missing from zh.toml" in result.output
    assert not (settings_for / "sounds").exists()


def test_build_command_refuses_a_language_we_do_not_speak(settings_for: Path, fake_espeak) -> None:
    result = CliRunner().invoke(main, ["prompts", "build", "--language", "fr", "--espeak", fake_espeak[0]])
    assert result.exit_code == 2
    assert "we speak zh, en" in result.output


def test_fragments_played_back_to_back_lose_their_silence(tmp_path: Path, fake_espeak) -> None:
    write_wav(tmp_path / "custom" / "zh" / "zh_1.wav", 8000, 1, 0.2, silence=0.3)
    prompts = {"zh": {"zh_1": "一", "welcome": "欢迎。"}}

    build_prompts(prompts, tmp_path / "out", espeak=fake_espeak[0], overrides_dir=tmp_path / "custom",
                  fragments={"zh": frozenset({"zh_1"})})

    assert abs(wav_format(tmp_path / "out" / "zh" / "zh_1.wav")[3] - 8000 * 0.24) < 80  # 200 ms + 2 x 20 ms
    assert abs(wav_format(tmp_path / "out" / "zh" / "welcome.wav")[3] - 8000) < 10  # sentences keep theirs
