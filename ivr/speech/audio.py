"""Recordings in, checked PCM out: the one place that reads audio files for speech.

Asterisk's MixMonitor writes one WAV per direction (8 kHz, mono, 16-bit PCM)
and fills in the header's sizes only when it closes the file, so a header with
a zero size means "still being written", not "empty". Every file is checked
(``inspect``) before a byte of it is converted, and what reaches the recognizer
is always 16 kHz mono 16-bit little-endian PCM (``for_recognizer``): Vosk
given anything else does not fail, it hears noise.

Voice activity (``voice_activity``) lives here too because both the engine
(to skip silence) and the analytics (talk, silence, overtalk) need the same
answer to "when was this direction speaking".
"""

from __future__ import annotations

import shutil
import warnings
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

with warnings.catch_warnings():
    # pydub warns at import when ffmpeg is absent; WAV needs none (require_ffmpeg
    # is the check for callers that decode other formats).
    warnings.simplefilter("ignore", RuntimeWarning)
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # stdlib until Python 3.13; the project pins 3.11
    from pydub import AudioSegment

#: What the recognizer is always given.
RECOGNIZER_RATE = 16000
RECOGNIZER_WIDTH = 2
#: Quieter than this (RMS of a frame, dB below full scale) is not speech.
SILENCE_DBFS = -40.0

Reason = Literal["missing", "empty", "not_audio", "unsupported_encoding", "truncated", "too_long"]


class BadAudio(ValueError):
    """A recording that cannot be transcribed; ``reason`` is a stable code to store and count."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class SpeechSetupError(RuntimeError):
    """The machine is not set up for speech (no ffmpeg, no usable model): fix the install, not the file."""


@dataclass(frozen=True)
class AudioInfo:
    """What a WAV header says, once it has been checked against the file."""

    path: Path
    channels: int
    sample_width: int  # bytes per sample
    frame_rate: int
    frames: int
    encoding: str = "pcm"

    @property
    def duration(self) -> float:
        return self.frames / self.frame_rate


@dataclass(frozen=True)
class RecognizerAudio:
    """16 kHz mono 16-bit little-endian PCM, the only audio the engine accepts."""

    pcm: bytes

    @property
    def duration(self) -> float:
        return len(self.pcm) / (RECOGNIZER_RATE * RECOGNIZER_WIDTH)


@dataclass(frozen=True)
class Span:
    """A stretch of time in seconds from the start of the recording."""

    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def inspect(path: Path | str, *, max_seconds: float | None = None, max_bytes: int | None = None) -> AudioInfo:
    """Check that ``path`` is a complete PCM WAV within the limits, and say what it holds.

    Raises BadAudio with the reason code, so that a task can record why a
    recording was not transcribed instead of failing on it again and again.
    """
    path = Path(path)
    if not path.is_file():
        raise BadAudio("missing", f"{path}: no such file")
    size = path.stat().st_size
    if size == 0:
        raise BadAudio("empty", f"{path}: the file is empty (0 bytes)")
    if max_bytes is not None and size > max_bytes:
        raise BadAudio("too_long", f"{path}: {size} bytes, over the limit of {max_bytes}")
    with path.open("rb") as file:
        _check_riff_header(path, file.read(12), size)
        file.seek(0)
        info, data_start = _read_wav_header(path, file)
    if info.frames == 0:
        if size > data_start:
            raise BadAudio("truncated", f"{path}: the header says no audio but {size - data_start} bytes "
                                        "follow it: still being written")
        raise BadAudio("empty", f"{path}: a WAV header with no audio samples")
    if data_start + info.frames * info.channels * info.sample_width > size:
        held = (size - data_start) / (info.channels * info.sample_width * info.frame_rate)
        raise BadAudio("truncated", f"{path}: the header says {info.duration:.2f} s of audio, "
                                    f"the file holds {held:.2f} s")
    if max_seconds is not None and info.duration > max_seconds:
        raise BadAudio("too_long", f"{path}: {info.duration:.0f} s of audio, over the limit of {max_seconds:.0f} s")
    return info


def _check_riff_header(path: Path, head: bytes, size: int) -> None:
    """Refuse what is not RIFF/WAVE, and a RIFF size Asterisk has not filled in yet."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise BadAudio("not_audio", f"{path}: not a WAV file (no RIFF/WAVE header)")
    riff_size = int.from_bytes(head[4:8], "little")
    if riff_size == 0:
        raise BadAudio("truncated", f"{path}: the RIFF size is 0: still being written")
    if riff_size + 8 > size:
        raise BadAudio("truncated", f"{path}: the header says {riff_size + 8} bytes, the file has only {size}")


def _read_wav_header(path: Path, file: BinaryIO) -> tuple[AudioInfo, int]:
    """The format from the stdlib's parser, and where the samples start."""
    try:
        reader = wave.open(file, "rb")
    except wave.Error as exc:
        # The stdlib reads only PCM; anything else (A-law, float, extensible ...)
        # is "unknown format: <tag>".
        if str(exc).startswith("unknown format"):
            raise BadAudio("unsupported_encoding", f"{path}: not PCM ({exc}); "
                                                   "record in wav (16-bit PCM)") from exc
        raise BadAudio("not_audio", f"{path}: unreadable WAV header: {exc}") from exc
    except EOFError as exc:
        raise BadAudio("truncated", f"{path}: the WAV header is cut short") from exc
    with reader:
        # wave stops reading at the data chunk's header: the file is now at the first sample.
        data_start = file.tell()
        info = AudioInfo(path, reader.getnchannels(), reader.getsampwidth(), reader.getframerate(),
                         reader.getnframes())
    if info.channels < 1 or info.frame_rate < 1 or info.sample_width not in (1, 2, 3, 4):
        raise BadAudio("unsupported_encoding", f"{path}: {info.channels} channels, "
                                               f"{info.sample_width * 8}-bit, {info.frame_rate} Hz")
    return info, data_start


def for_recognizer(path: Path | str, *, channel: int | None = None,
                   max_seconds: float | None = None, max_bytes: int | None = None) -> RecognizerAudio:
    """The recording as 16 kHz mono 16-bit PCM, checked first and converted once.

    Stereo is mixed down unless ``channel`` (0 = left) picks one side.
    """
    info = inspect(path, max_seconds=max_seconds, max_bytes=max_bytes)
    audio = _load(info)
    if channel is not None:
        if not 0 <= channel < info.channels:
            raise ValueError(f"{info.path}: no channel {channel} in {info.channels}-channel audio")
        audio = audio.split_to_mono()[channel]
    audio = audio.set_sample_width(RECOGNIZER_WIDTH).set_channels(1).set_frame_rate(RECOGNIZER_RATE)
    if (audio.channels, audio.sample_width, audio.frame_rate) != (1, RECOGNIZER_WIDTH, RECOGNIZER_RATE):
        raise BadAudio("unsupported_encoding", f"{info.path}: converted to {audio.channels} channels, "
                                               f"{audio.sample_width * 8}-bit, {audio.frame_rate} Hz, "
                                               "not 16 kHz mono 16-bit")
    return RecognizerAudio(audio.raw_data)


def _load(info: AudioInfo) -> AudioSegment:
    """The checked file's samples as a pydub segment."""
    with wave.open(str(info.path), "rb") as reader:
        frames = reader.readframes(info.frames)
    if info.sample_width == 1:
        frames = audioop.bias(frames, 1, -128)  # 8-bit WAV is unsigned; pydub's raw constructor expects signed
    return AudioSegment(data=frames, sample_width=info.sample_width, frame_rate=info.frame_rate,
                        channels=info.channels)


def stereo_for_playback(caller_path: Path | str, agent_path: Path | str, out_path: Path | str) -> AudioInfo:
    """Both directions of a call as one stereo WAV (caller left, agent right) for the browser.

    The shorter direction is padded with silence, so the two stay in step.
    """
    caller, agent = (_load(inspect(path)).set_sample_width(2).set_channels(1) for path in (caller_path, agent_path))
    rate = max(caller.frame_rate, agent.frame_rate)
    caller, agent = caller.set_frame_rate(rate), agent.set_frame_rate(rate)
    frames = max(int(caller.frame_count()), int(agent.frame_count()))
    caller, agent = (_padded(side, frames) for side in (caller, agent))
    out_path = Path(out_path)
    partial = out_path.with_name(out_path.name + ".part")
    AudioSegment.from_mono_audiosegments(caller, agent).export(str(partial), format="wav")
    partial.replace(out_path)  # a browser never gets half a file
    return inspect(out_path)


def _padded(audio: AudioSegment, frames: int) -> AudioSegment:
    missing = frames - int(audio.frame_count())
    return audio + AudioSegment(data=b"\0" * (missing * audio.frame_width), sample_width=audio.sample_width,
                                frame_rate=audio.frame_rate, channels=audio.channels)


def voice_activity(pcm: bytes, rate: int = RECOGNIZER_RATE, *, threshold_dbfs: float = SILENCE_DBFS,
                   frame_seconds: float = 0.03, bridge_seconds: float = 0.3,
                   min_speech_seconds: float = 0.1) -> list[Span]:
    """When mono 16-bit ``pcm`` is speaking: frames louder than ``threshold_dbfs``.

    Pauses shorter than ``bridge_seconds`` are part of the speech around them
    (breaths between words), and bursts shorter than ``min_speech_seconds``
    (clicks, line pops) are not speech.
    """
    frame_bytes = max(2, int(rate * frame_seconds) * 2)
    threshold = 32768 * 10 ** (threshold_dbfs / 20)
    spans: list[Span] = []
    for offset in range(0, len(pcm) - len(pcm) % 2, frame_bytes):
        if audioop.rms(pcm[offset:offset + frame_bytes], 2) <= threshold:
            continue
        start, end = offset / 2 / rate, min(offset + frame_bytes, len(pcm)) / 2 / rate
        if spans and start - spans[-1].end < bridge_seconds:
            spans[-1] = Span(spans[-1].start, end)
        else:
            spans.append(Span(start, end))
    return [span for span in spans if span.seconds >= min_speech_seconds]


def require_ffmpeg() -> None:
    """Fail at start-up, with the fix, when ffmpeg is missing (pydub needs it for anything but WAV)."""
    if shutil.which("ffmpeg") is None:
        raise SpeechSetupError("ffmpeg is not installed: apt-get install ffmpeg")
