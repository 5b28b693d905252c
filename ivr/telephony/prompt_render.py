"""Render the hotline's prompts (ivr/flows/prompts.py) to WAV files Asterisk plays.

Each prompt becomes ``<out>/<language>/<key>.wav``: 8 kHz, mono, 16-bit PCM,
the format Asterisk's format_wav reads without transcoding. With ``<out>`` set
to ``<astdatadir>/sounds/hotline`` the flows play it as ``hotline/<language>/<key>``
(``prompt_file()``); Asterisk falls back from ``sounds/<channel language>/<name>``
to ``sounds/<name>``, so the same name works whatever the channel language.

Speech comes from espeak-ng, run as a command prefix so it can live elsewhere
(the sandbox passes ``chroot <rootfs> espeak-ng``). It writes 22.05 kHz audio,
which is low-pass filtered and resampled here with the standard library.
A prompt whose text and voice have not changed is not rendered again: the
hash of each rendered prompt is kept in ``<out>/<language>/.rendered.json``.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import struct
import subprocess
import warnings
from dataclasses import dataclass, field
from pathlib import Path

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # stdlib until Python 3.13; the project pins 3.11

#: espeak-ng voice for each prompt language.
VOICES: dict[str, str] = {"en": "en", "zh": "cmn"}

ASTERISK_RATE = 8000
#: Bump when the audio processing changes, so every prompt is rendered again.
RENDER_RECIPE = "1"
MANIFEST = ".rendered.json"


class PromptRenderError(RuntimeError):
    """espeak-ng failed or produced something that is not usable audio."""


@dataclass
class RenderReport:
    rendered: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Pcm:
    """Raw little-endian signed PCM samples and their format."""

    samples: bytes
    rate: int
    channels: int
    width: int


def render_prompts(prompts: dict[str, dict[str, str]], out_dir: Path,
                   espeak: str = "espeak-ng") -> RenderReport:
    """Render every prompt of every language under ``out_dir``, skipping unchanged ones."""
    report = RenderReport()
    for language, texts in prompts.items():
        voice = VOICES.get(language)
        if voice is None:
            raise PromptRenderError(f"no espeak-ng voice for language {language!r}; add it to VOICES")
        folder = out_dir / language
        folder.mkdir(parents=True, exist_ok=True)
        manifest = _read_manifest(folder)
        for key, text in texts.items():
            target = folder / f"{key}.wav"
            digest = _prompt_hash(text, voice)
            name = f"{language}/{key}"
            if manifest.get(key) == digest and target.exists():
                report.unchanged.append(name)
                continue
            wav = asterisk_wav(synthesise(text, voice, espeak))
            _write_atomically(target, wav)
            manifest[key] = digest
            _write_atomically(folder / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
            report.rendered.append(name)
    return report


def synthesise(text: str, voice: str, espeak: str = "espeak-ng") -> Pcm:
    """Speak ``text`` with espeak-ng (text on stdin, UTF-8) and return its audio."""
    command = shlex.split(espeak) + ["-v", voice, "-b", "1", "--stdout"]
    try:
        result = subprocess.run(command, input=text.encode("utf-8"), capture_output=True,
                                timeout=60, check=False)
    except FileNotFoundError as exc:
        raise PromptRenderError(f"cannot run {command[0]!r}: install espeak-ng or pass --espeak") from exc
    if result.returncode != 0:
        raise PromptRenderError(f"{shlex.join(command)} failed ({result.returncode}): "
                                f"{result.stderr.decode(errors='replace').strip()}")
    return parse_wav(result.stdout)


def parse_wav(data: bytes) -> Pcm:
    """The PCM in a RIFF/WAVE byte string.

    espeak-ng writing to a pipe cannot seek back to fill in the sizes, so its
    header claims a huge data chunk; the samples are whatever follows it.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise PromptRenderError("espeak-ng output is not a WAV file")
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        chunk_id, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if chunk_id == b"fmt ":
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, body)
            if tag != 1:
                raise PromptRenderError(f"WAV is not PCM (format tag {tag})")
            fmt = (rate, channels, bits // 8)
        elif chunk_id == b"data":
            if fmt is None:
                raise PromptRenderError("WAV data chunk before its fmt chunk")
            rate, channels, width = fmt
            samples = data[body:body + min(size, len(data) - body)]
            return Pcm(samples[:len(samples) - len(samples) % (channels * width)], rate, channels, width)
        pos = body + size + (size & 1)
    raise PromptRenderError("WAV has no data chunk")


def asterisk_wav(pcm: Pcm) -> bytes:
    """``pcm`` as an 8 kHz mono 16-bit WAV file."""
    samples = pcm.samples
    if pcm.width != 2:
        samples = audioop.lin2lin(samples, pcm.width, 2)
    if pcm.channels == 2:
        samples = audioop.tomono(samples, 2, 0.5, 0.5)
    elif pcm.channels != 1:
        raise PromptRenderError(f"cannot convert {pcm.channels}-channel audio")
    if pcm.rate != ASTERISK_RATE:
        # ratecv interpolates without filtering: take out what would alias
        # above 4 kHz first, with two passes of a [1 2 1]/4 smoothing filter.
        for _ in range(2):
            samples = _smooth(samples)
        samples, _ = audioop.ratecv(samples, 2, 1, pcm.rate, ASTERISK_RATE, None)
    return _wav_bytes(samples, ASTERISK_RATE)


def _smooth(samples: bytes) -> bytes:
    """y[n] = x[n-1]/4 + x[n]/2 + x[n+1]/4 on 16-bit mono samples."""
    if len(samples) < 4:
        return samples
    previous = samples[:2] + samples[:-2]
    following = samples[2:] + samples[-2:]
    outer = audioop.add(audioop.mul(previous, 2, 0.25), audioop.mul(following, 2, 0.25), 2)
    return audioop.add(outer, audioop.mul(samples, 2, 0.5), 2)


def _wav_bytes(samples: bytes, rate: int) -> bytes:
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(samples), b"WAVE", b"fmt ", 16,
                         1, 1, rate, rate * 2, 2, 16, b"data", len(samples))
    return header + samples


def _prompt_hash(text: str, voice: str) -> str:
    return hashlib.sha256(f"{RENDER_RECIPE}\0{voice}\0{text}".encode()).hexdigest()


def _read_manifest(folder: Path) -> dict[str, str]:
    try:
        return json.loads((folder / MANIFEST).read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
