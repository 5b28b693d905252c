"""Recognition with the real Korean Vosk model, on espeak-ng speech recorded the way Asterisk records it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import vosk

from ivr.speech.audio import BadAudio, SpeechSetupError, for_recognizer, inspect
from ivr.speech.engine import load_model, model_folder, transcribe_file, transcribe_pcm
from ivr.speech.turns import AGENT
from ivr.testing.speech_audio import korean_model, spoken_parts_wav, spoken_wav

GREETING = "안녕하세요 보험료 납입 안내 입니다"  # "Hello, this is about paying your premium"
IDENTITY = "본인 확인 생년월일"  # "identity check, date of birth"
#: Listened for but never said: the recognizer must not hear them.
DISTRACTORS = ["해지", "취소", "환급금", "주민등록번호", "통화 녹음"]


@pytest.fixture(scope="module")
def model() -> vosk.Model:
    return korean_model()


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech")


def words_of(sentence: str) -> list[str]:
    return sentence.split()


@pytest.mark.parametrize("sentence", [GREETING, IDENTITY])
def test_a_korean_sentence_is_recognised_word_for_word_with_a_phrase_list(model, recordings, sentence) -> None:
    path = spoken_wav(sentence, recordings / f"{len(sentence)}-t.wav")
    words = transcribe_file(model, path, AGENT, phrases=words_of(sentence) + DISTRACTORS)
    assert [word.text for word in words] == words_of(sentence)
    assert all(word.speaker == AGENT and word.confidence > 0.5 for word in words)
    starts = [word.start for word in words]
    assert starts == sorted(starts) and all(word.end > word.start for word in words)
    assert words[-1].end <= for_recognizer(path).duration


def midpoints(words: list) -> list[tuple[str, float]]:
    return [(word.text, (word.start + word.end) / 2) for word in words]


def same_words_at(expected: list[tuple[str, float]], tolerance: float = 0.2) -> list:
    """``expected`` as a comparison: the same words, each centred within ``tolerance`` s."""
    return [(text, pytest.approx(middle, abs=tolerance)) for text, middle in expected]


def test_silence_before_the_speech_is_skipped_and_the_words_keep_their_times(model, recordings) -> None:
    phrases = words_of(GREETING) + DISTRACTORS
    at_once = transcribe_file(model, spoken_wav(GREETING, recordings / "now-t.wav"), AGENT, phrases=phrases)
    late = spoken_wav(GREETING, recordings / "late-t.wav", leading_silence=3.0)
    skipped = transcribe_file(model, late, AGENT, phrases=phrases)
    fed_whole = transcribe_file(model, late, AGENT, phrases=phrases, skip_silence=False)
    assert skipped[0].text == "안녕하세요"
    assert skipped[0].start == pytest.approx(at_once[0].start + 3.0, abs=0.1)
    assert midpoints(skipped) == same_words_at([(text, middle + 3.0) for text, middle in midpoints(at_once)])
    assert midpoints(skipped) == same_words_at(midpoints(fed_whole))


def test_a_long_pause_mid_call_is_not_fed_and_what_follows_is_timed_after_it(model, recordings, monkeypatch) -> None:
    first = inspect(spoken_wav(GREETING, recordings / "first.wav")).duration
    path = spoken_parts_wav([GREETING, 8.0, IDENTITY], recordings / "pause-t.wav")
    phrases = words_of(GREETING) + words_of(IDENTITY) + DISTRACTORS
    audio = for_recognizer(path)
    fed_whole = transcribe_pcm(model, audio.pcm, phrases=phrases, skip_silence=False)
    fed = feed_counter(monkeypatch)
    skipped = transcribe_pcm(model, audio.pcm, phrases=phrases)
    assert fed.seconds < audio.duration - 6.0  # most of the 8 s pause never reached Vosk
    after_pause = [word for word in skipped if word.start > first]
    assert after_pause[0].text == "본인" and after_pause[-1].text == "생년월일"
    assert after_pause[0].start == pytest.approx(first + 8.0, abs=0.2)
    assert midpoints(skipped) == same_words_at(midpoints(fed_whole))


class FedAudio:
    seconds = 0.0


def feed_counter(monkeypatch: pytest.MonkeyPatch) -> FedAudio:
    """Count the seconds of 16 kHz audio handed to Vosk from now on."""
    fed = FedAudio()

    class CountingRecognizer(vosk.KaldiRecognizer):
        def AcceptWaveform(self, data: bytes) -> int:  # noqa: N802 (Vosk's name)
            fed.seconds += len(data) / 32000
            return super().AcceptWaveform(data)

    monkeypatch.setattr(vosk, "KaldiRecognizer", CountingRecognizer)
    return fed


def test_without_a_phrase_list_the_whole_vocabulary_is_used(model, recordings) -> None:
    path = spoken_wav(GREETING, recordings / "free-t.wav", leading_silence=1.0)
    words = transcribe_file(model, path, AGENT)
    assert words, "the model heard nothing"
    assert all(0.8 <= word.start < word.end <= for_recognizer(path).duration for word in words)


def test_a_phrase_with_a_word_the_model_does_not_know_is_left_out_and_named(model, recordings, caplog) -> None:
    path = spoken_wav(GREETING, recordings / "oov-t.wav")
    with caplog.at_level(logging.WARNING, logger="ivr.speech.engine"):
        words = transcribe_file(model, path, AGENT, phrases=["안녕하세요", "상담입니다"])
    assert "상담입니다" in caplog.text
    assert [word.text for word in words][:1] == ["안녕하세요"]
    with pytest.raises(SpeechSetupError, match="vocabulary"):
        transcribe_file(model, path, AGENT, phrases=["상담입니다"])


def test_a_bad_recording_is_bad_audio_not_a_recognizer_crash(model, tmp_path: Path) -> None:
    path = tmp_path / "t.wav"
    path.write_text("not audio")
    with pytest.raises(BadAudio) as refused:
        transcribe_file(model, path, AGENT)
    assert refused.value.reason == "not_audio"


def test_the_model_is_loaded_once_per_process(model) -> None:
    folder = model_folder("")
    assert load_model(folder) is load_model(str(folder)) is model


@pytest.mark.parametrize("make", [lambda tmp: tmp / "nowhere", lambda tmp: tmp])
def test_a_missing_or_empty_model_folder_is_a_setup_error_naming_it(tmp_path: Path, make) -> None:
    folder = make(tmp_path)
    with pytest.raises(SpeechSetupError) as refused:
        load_model(folder)
    assert str(folder) in str(refused.value)
