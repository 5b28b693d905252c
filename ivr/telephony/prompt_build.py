"""Build the hotline's prompts into WAV files Asterisk plays.

Each prompt becomes ``<out>/<language>/<id>.wav``: 8 kHz, mono, 16-bit PCM,
the format Asterisk's format_wav reads without transcoding. With ``<out>`` set
to ``<astdatadir>/sounds/hotline`` the flows play it as ``hotline/<language>/<id>``;
Asterisk falls back from ``sounds/<channel language>/<name>`` to
``sounds/<name>``, so the same name works whatever the channel language.

The audio of a prompt is, in order of preference:

1. a site's own recording, ``<overrides>/<language>/<id>.<ext>`` (WAV in any
   rate, width and channel count; MP3, OGG, FLAC ... when ffmpeg is installed,
   as pydub decodes them through it);
2. otherwise espeak-ng speaking the catalogue text, run as a command prefix so
   it can live elsewhere (the sandbox passes ``chroot <rootfs> espeak-ng``).

Either is converted with pydub (a mild low-pass first, so that resampling to
8 kHz does not fold high frequencies back as noise). A prompt whose source has
not changed (same text and voice, or same recording bytes) is not built again:
the hash of each built prompt is kept in ``<out>/<language>/.built.json``, and a
prompt that left the catalogue has its file removed.
"""

from __future__ import annotations

import hashlib
import io
import json
import shlex
import struct
import subprocess
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

with warnings.catch_warnings():
    # pydub warns at import when ffmpeg is absent; WAV needs none, and a
    # recording in another format says so when it cannot be read.
    warnings.simplefilter("ignore", RuntimeWarning)
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # stdlib until Python 3.13; the project pins 3.11
    from pydub import AudioSegment
    from pydub.exceptions import CouldntDecodeError
    from pydub.silence import detect_leading_silence

#: espeak-ng voice for each prompt language.
VOICES: dict[str, str] = {"en": "en-us", "zh": "cmn",
                          # Recorded names (ivr/flows/prompts/names.py): people and
                          # branches of a Chinese insurer, read in Mandarin.
                          "names": "cmn"}

ASTERISK_RATE = 8000
#: Bump when the audio processing changes, so every prompt is built again.
BUILD_RECIPE = "2"
MANIFEST = ".built.json"
#: Quieter than this is silence, for trimming fragments.
SILENCE_DBFS = -45.0


class PromptBuildError(RuntimeError):
    """espeak-ng failed, a recording cannot be read, or an override matches no prompt."""


@dataclass
class BuildReport:
    synthesised: list[str] = field(default_factory=list)
    overridden: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{len(self.synthesised)} synthesised, {len(self.overridden)} from site recordings, "
                f"{len(self.unchanged)} unchanged, {len(self.removed)} removed")


@dataclass(frozen=True)
class Pcm:
    """Raw little-endian signed PCM samples and their format."""

    samples: bytes
    rate: int
    channels: int
    width: int


def build_prompts(prompts: dict[str, dict[str, str]], out_dir: Path, *, espeak: str = "espeak-ng",
                  overrides_dir: Path | None = None, force: bool = False,
                  fragments: dict[str, frozenset[str]] | None = None,
                  progress: Callable[[str], None] = lambda line: None) -> BuildReport:
    """Build every prompt of every language in ``prompts`` under ``out_dir``.

    ``fragments``: per language, the ids played back to back (a number's 一, 千,
    二 ...), built without their silence. ``force`` builds unchanged prompts too;
    ``progress`` gets one line per built prompt.
    """
    report = BuildReport()
    total = sum(len(texts) for texts in prompts.values())
    done = 0
    for language, texts in prompts.items():
        voice = VOICES.get(language)
        if voice is None:
            raise PromptBuildError(f"no espeak-ng voice for language {language!r}; add it to VOICES")
        recordings = site_recordings(overrides_dir / language, texts) if overrides_dir else {}
        folder = out_dir / language
        folder.mkdir(parents=True, exist_ok=True)
        manifest = _read_manifest(folder)
        tight = (fragments or {}).get(language, frozenset())
        for prompt_id, text in texts.items():
            done += 1
            name = f"{language}/{prompt_id}"
            target = folder / f"{prompt_id}.wav"
            recording = recordings.get(prompt_id)
            trim = prompt_id in tight
            digest = (_source_hash(f"recording trim={trim}", recording.read_bytes()) if recording
                      else _source_hash(f"espeak-ng {voice} trim={trim}", text.encode()))
            if not force and manifest.get(prompt_id) == digest and target.exists():
                report.unchanged.append(name)
                continue
            if recording:
                audio, source, built = load_recording(recording), f"site recording {recording}", report.overridden
            else:
                audio, source, built = synthesise(text, voice, espeak), f"espeak-ng {voice}", report.synthesised
            if trim:
                audio = without_silence(audio)
            _write_atomically(target, asterisk_wav(audio))
            manifest[prompt_id] = digest
            _write_manifest(folder, manifest)
            built.append(name)
            progress(f"[{done}/{total}] {name}: {source}")
        for gone in sorted(set(manifest) - set(texts)):
            (folder / f"{gone}.wav").unlink(missing_ok=True)
            del manifest[gone]
            _write_manifest(folder, manifest)
            report.removed.append(f"{language}/{gone}")
            progress(f"removed {language}/{gone} (no longer in the catalogue)")
    return report


def site_recordings(folder: Path, texts: dict[str, str]) -> dict[str, Path]:
    """prompt id -> the site's recording of it in ``folder`` (any audio file named ``<id>.<ext>``).

    A file that matches no prompt id, or two files for one id, is an error:
    a misnamed recording must not silently leave the synthetic voice in place.
    """
    if not folder.is_dir():
        return {}
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        prompt_id = path.stem
        if prompt_id not in texts:
            raise PromptBuildError(f"site recording {path} matches no prompt id of {folder.name}")
        if prompt_id in found:
            raise PromptBuildError(f"two site recordings for {folder.name}/{prompt_id}: "
                                   f"{found[prompt_id].name} and {path.name}; keep one")
        found[prompt_id] = path
    return found


def load_recording(path: Path) -> AudioSegment:
    """A site's recording, in any format pydub reads (WAV natively, others through ffmpeg)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # "Couldn't find ffprobe": see below
            return AudioSegment.from_file(str(path))
    except (CouldntDecodeError, OSError, IndexError) as exc:
        raise PromptBuildError(f"cannot read site recording {path}: {exc} "
                               "(WAV is read directly; other formats need ffmpeg installed)") from exc


def synthesise(text: str, voice: str, espeak: str = "espeak-ng") -> AudioSegment:
    """Speak ``text`` with espeak-ng (text on stdin, UTF-8) and return its audio."""
    command = shlex.split(espeak) + ["-v", voice, "-b", "1", "--stdout"]
    try:
        result = subprocess.run(command, input=text.encode("utf-8"), capture_output=True,
                                timeout=60, check=False)
    except FileNotFoundError as exc:
        raise PromptBuildError(f"cannot run {command[0]!r}: install espeak-ng or pass --espeak") from exc
    if result.returncode != 0:
        raise PromptBuildError(f"{shlex.join(command)} failed ({result.returncode}): "
                               f"{result.stderr.decode(errors='replace').strip()}")
    pcm = parse_wav(result.stdout)
    return AudioSegment(data=pcm.samples, sample_width=pcm.width, frame_rate=pcm.rate, channels=pcm.channels)


def parse_wav(data: bytes) -> Pcm:
    """The PCM in a RIFF/WAVE byte string.

    espeak-ng writing to a pipe cannot seek back to fill in the sizes, so its
    header claims a huge data chunk; the samples are whatever follows it.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise PromptBuildError("espeak-ng output is not a WAV file")
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        chunk_id, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if chunk_id == b"fmt ":
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, body)
            if tag != 1:
                raise PromptBuildError(f"WAV is not PCM (format tag {tag})")
            fmt = (rate, channels, bits // 8)
        elif chunk_id == b"data":
            if fmt is None:
                raise PromptBuildError("WAV data chunk before its fmt chunk")
            rate, channels, width = fmt
            samples = data[body:body + min(size, len(data) - body)]
            return Pcm(samples[:len(samples) - len(samples) % (channels * width)], rate, channels, width)
        pos = body + size + (size & 1)
    raise PromptBuildError("WAV has no data chunk")


def without_silence(audio: AudioSegment, keep_ms: int = 20) -> AudioSegment:
    """``audio`` without its leading and trailing silence (espeak-ng ends each
    utterance with 300 ms of it), but ``keep_ms`` at each end."""
    start = max(0, detect_leading_silence(audio, SILENCE_DBFS, 5) - keep_ms)
    end = max(start, len(audio) - max(0, detect_leading_silence(audio.reverse(), SILENCE_DBFS, 5) - keep_ms))
    return audio[start:end]


def asterisk_wav(audio: AudioSegment) -> bytes:
    """``audio`` as an 8 kHz mono 16-bit PCM WAV file."""
    audio = audio.set_channels(1).set_sample_width(2)
    if audio.frame_rate != ASTERISK_RATE:
        # pydub resamples by interpolation without filtering: take out what
        # would alias above 4 kHz first, with two passes of a [1 2 1]/4 filter.
        smoothed = _smooth(_smooth(audio.raw_data))
        audio = AudioSegment(data=smoothed, sample_width=2, frame_rate=audio.frame_rate, channels=1)
        audio = audio.set_frame_rate(ASTERISK_RATE)
    out = io.BytesIO()
    audio.export(out, format="wav")
    return out.getvalue()


def _smooth(samples: bytes) -> bytes:
    """y[n] = x[n-1]/4 + x[n]/2 + x[n+1]/4 on 16-bit mono samples."""
    if len(samples) < 4:
        return samples
    previous = samples[:2] + samples[:-2]
    following = samples[2:] + samples[-2:]
    outer = audioop.add(audioop.mul(previous, 2, 0.25), audioop.mul(following, 2, 0.25), 2)
    return audioop.add(outer, audioop.mul(samples, 2, 0.5), 2)


def _source_hash(kind: str, source: bytes) -> str:
    return hashlib.sha256(f"{BUILD_RECIPE}\0{kind}\0".encode() + source).hexdigest()


def _read_manifest(folder: Path) -> dict[str, str]:
    try:
        return json.loads((folder / MANIFEST).read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _write_manifest(folder: Path, manifest: dict[str, str]) -> None:
    _write_atomically(folder / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
