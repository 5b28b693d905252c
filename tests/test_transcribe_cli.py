"""ivr transcribe: a batch with bad files transcribes the good ones and names each bad one with its reason."""

from __future__ import annotations

import struct
from pathlib import Path

from click.testing import CliRunner
from pydub import AudioSegment

from ivr.cli import main
from ivr.config import get_settings, set_settings
from ivr.testing.speech_audio import korean_model, spoken_wav

SENTENCE = "안녕하세요 보험료 납입 안내 입니다"


def test_a_batch_with_bad_files_transcribes_the_good_ones_and_names_the_bad(tmp_path: Path) -> None:
    korean_model()  # skipped (failed on CI) without the model
    set_settings(get_settings().replace(speech_phrases="안녕하세요,보험료,납입,안내,입니다"))
    good_8k = spoken_wav(SENTENCE, tmp_path / "good-8k.wav")
    stereo = tmp_path / "stereo-44k.wav"
    AudioSegment.from_wav(good_8k).set_frame_rate(44100).set_channels(2).export(stereo, format="wav")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n")
    truncated = tmp_path / "truncated.wav"
    data = good_8k.read_bytes()
    truncated.write_bytes(data[:44] + data[44:1044])  # the header promises far more than is there
    truncated.write_bytes(truncated.read_bytes()[:4] + struct.pack("<I", len(data) - 8) + truncated.read_bytes()[8:])

    result = CliRunner().invoke(main, ["transcribe", "--jobs", "2", str(good_8k), str(empty), str(text),
                                       str(truncated), str(stereo)])

    lines = {line.split(":", 1)[0]: line for line in result.output.splitlines() if line.startswith(str(tmp_path))}
    assert result.exit_code == 1, result.output
    assert "안녕하세요@" in lines[str(good_8k)] and "보험료@" in lines[str(good_8k)]
    assert "안녕하세요@" in lines[str(stereo)] and "보험료@" in lines[str(stereo)]
    assert f"{empty}: failed: empty" in lines[str(empty)]
    assert f"{text}: failed: not_audio" in lines[str(text)]
    assert f"{truncated}: failed: truncated" in lines[str(truncated)]
    assert "2 transcribed, 3 failed" in result.output
