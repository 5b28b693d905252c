"""Recordings are checked before conversion, and the recognizer only ever gets 16 kHz mono 16-bit PCM."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from ivr.speech.audio import (RECOGNIZER_RATE, BadAudio, Span, SpeechSetupError, for_recognizer, inspect,
                              require_ffmpeg, stereo_for_playback, voice_activity)
from ivr.testing.speech_audio import left_only, rms, tone_pcm, write_wav


def asterisk_recording(path: Path, seconds: float = 2.0, loud: tuple[float, float] = (0.5, 1.5)) -> Path:
    """What MixMonitor leaves once the call has ended: 8 kHz mono 16-bit PCM."""
    return write_wav(path, tone_pcm(seconds, [loud], rate=8000), 8000)


def patched(path: Path, offset: int, value: int) -> Path:
    """``path`` with the 32-bit little-endian header field at ``offset`` set to ``value``."""
    data = bytearray(path.read_bytes())
    data[offset:offset + 4] = struct.pack("<I", value)
    path.write_bytes(bytes(data))
    return path


def only_span(pcm: bytes) -> Span:
    spans = voice_activity(pcm)
    assert len(spans) == 1, spans
    return spans[0]


def test_an_8khz_asterisk_recording_becomes_16khz_mono_16bit_with_the_same_timing(tmp_path: Path) -> None:
    path = asterisk_recording(tmp_path / "r.wav", 2.5, (1.0, 2.0))
    info = inspect(path)
    assert (info.channels, info.sample_width, info.frame_rate, info.encoding) == (1, 2, 8000, "pcm")
    assert info.duration == pytest.approx(2.5)
    audio = for_recognizer(path)
    assert len(audio.pcm) == pytest.approx(2.5 * RECOGNIZER_RATE * 2, abs=4)
    assert audio.duration == pytest.approx(2.5, abs=0.01)
    speech = only_span(audio.pcm)
    assert (speech.start, speech.end) == (pytest.approx(1.0, abs=0.04), pytest.approx(2.0, abs=0.04))


def test_stereo_44khz_is_mixed_down_or_one_side_is_taken(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "upload.wav", left_only(tone_pcm(2.0, [(0.5, 1.5)], rate=44100)), 44100, channels=2)
    mixed, left, right = (for_recognizer(path, channel=side) for side in (None, 0, 1))
    for audio in (mixed, left, right):
        assert audio.duration == pytest.approx(2.0, abs=0.01)
    speech = only_span(left.pcm)
    assert (speech.start, speech.end) == (pytest.approx(0.5, abs=0.04), pytest.approx(1.5, abs=0.04))
    assert voice_activity(right.pcm) == []
    assert rms(mixed.pcm) == pytest.approx(rms(left.pcm) / 2, rel=0.05)
    with pytest.raises(ValueError, match="no channel 2"):
        for_recognizer(path, channel=2)


def test_8bit_audio_is_unsigned_so_its_silence_stays_silent(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "quiet.wav", b"\x80" * 22050, 22050, width=1)
    audio = for_recognizer(path)
    assert audio.duration == pytest.approx(1.0, abs=0.01)
    assert rms(audio.pcm) == 0


def alaw_wav(path: Path) -> Path:
    """A 1-second A-law WAV (format tag 6): what a dialplan writing wav49 or alaw could leave."""
    samples = b"\xd5" * 8000
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(samples), b"WAVE", b"fmt ", 16, 6, 1, 8000,
                         8000, 1, 8, b"data", len(samples))
    path.write_bytes(header + samples)
    return path


def asterisk_still_writing(path: Path) -> Path:
    """A recording of a call still going on: format_wav writes 0 for both sizes until it closes the file."""
    return patched(patched(asterisk_recording(path), 4, 0), 40, 0)


def data_size_zero(path: Path) -> Path:
    return patched(asterisk_recording(path), 40, 0)


def cut_in_half(path: Path) -> Path:
    data = asterisk_recording(path).read_bytes()
    path.write_bytes(data[:len(data) // 2])
    return path


def header_says_more(path: Path) -> Path:
    """RIFF size right for the file, data size promising a second more than there is."""
    asterisk_recording(path)
    return patched(path, 40, 3 * 8000 * 2)


def text_renamed(path: Path) -> Path:
    path.write_text("policy,premium\nP-1,120.00\n")
    return path


def zero_bytes(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def header_only(path: Path) -> Path:
    return write_wav(path, b"", 8000)


def header_cut_short(path: Path) -> Path:
    path.write_bytes(asterisk_recording(path).read_bytes()[:30])
    return patched(path, 4, 22)


@pytest.mark.parametrize("make, reason, says", [
    (zero_bytes, "empty", "empty (0 bytes)"),
    (header_only, "empty", "no audio samples"),
    (text_renamed, "not_audio", "not a WAV file"),
    (alaw_wav, "unsupported_encoding", "not PCM"),
    (asterisk_still_writing, "truncated", "still being written"),
    (data_size_zero, "truncated", "still being written"),
    (cut_in_half, "truncated", "the file has only"),
    (header_says_more, "truncated", "the header says 3.00 s of audio, the file holds 2.00 s"),
    (header_cut_short, "truncated", "cut short"),
])
def test_a_bad_recording_is_refused_with_its_reason_and_the_file_named(tmp_path: Path, make, reason, says) -> None:
    path = make(tmp_path / "call-1712-r.wav")
    for check in (inspect, for_recognizer):
        with pytest.raises(BadAudio) as refused:
            check(path)
        assert refused.value.reason == reason
        assert str(path) in str(refused.value) and says in str(refused.value)


def test_a_missing_recording_is_refused_as_missing(tmp_path: Path) -> None:
    with pytest.raises(BadAudio) as refused:
        for_recognizer(tmp_path / "gone.wav")
    assert refused.value.reason == "missing" and "gone.wav" in str(refused.value)


def test_a_recording_over_the_limits_is_refused_as_too_long(tmp_path: Path) -> None:
    path = asterisk_recording(tmp_path / "long.wav", seconds=3.0)
    assert inspect(path, max_seconds=3.0, max_bytes=48044).duration == pytest.approx(3.0)
    for limits in ({"max_seconds": 2.9}, {"max_bytes": 48043}):
        with pytest.raises(BadAudio) as refused:
            for_recognizer(path, **limits)
        assert refused.value.reason == "too_long"


def test_both_directions_become_one_stereo_file_caller_left_agent_right(tmp_path: Path) -> None:
    caller = asterisk_recording(tmp_path / "r.wav", seconds=1.0, loud=(0.2, 0.8))
    agent = asterisk_recording(tmp_path / "t.wav", seconds=3.0, loud=(1.5, 2.5))
    info = stereo_for_playback(caller, agent, tmp_path / "call.wav")
    assert (info.channels, info.frame_rate, info.sample_width) == (2, 8000, 2)
    assert info.duration == pytest.approx(3.0)
    left, right = (for_recognizer(tmp_path / "call.wav", channel=side) for side in (0, 1))
    assert only_span(left.pcm).start == pytest.approx(0.2, abs=0.04)
    assert only_span(right.pcm).start == pytest.approx(1.5, abs=0.04)
    assert not (tmp_path / "call.wav.part").exists()


def test_speech_activity_bridges_short_pauses_and_ignores_clicks() -> None:
    pcm = tone_pcm(6.0, [(1.0, 2.0), (2.2, 3.0), (4.0, 4.03), (5.0, 5.5)])
    spans = voice_activity(pcm)
    assert [(round(span.start, 2), round(span.end, 2)) for span in spans] == [(0.99, 3.0), (4.98, 5.52)]


def test_a_missing_ffmpeg_is_a_setup_error_that_says_how_to_install_it(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SpeechSetupError, match="apt-get install ffmpeg"):
        require_ffmpeg()

