"""Per-call analytics: who spoke when, whether the script was followed, risk words, digits redacted."""

from __future__ import annotations

import pytest
import vosk

from ivr.speech.analytics import (REDACTED_DIGITS, call_times, check_script, find_phrases, keyword_hits,
                                  redact_digits, redact_words, words_per_minute)
from ivr.speech.audio import Span, voice_activity
from ivr.speech.engine import transcribe_file
from ivr.speech.turns import AGENT, CALLER, SpokenWord, Turn, Word, merge_turns
from ivr.testing.speech_audio import korean_model, spoken_wav, tone_pcm


def said(speaker: str, text: str, start: float, seconds_per_word: float = 0.4) -> list[SpokenWord]:
    """``text`` as recognised words, one every ``seconds_per_word`` from ``start``."""
    return [SpokenWord(word, round(start + n * seconds_per_word, 3), round(start + (n + 1) * seconds_per_word - 0.05, 3),
                       0.9, speaker) for n, word in enumerate(text.split())]


def conversation(*lines: list[SpokenWord]) -> list[Turn]:
    by_speaker: dict[str, list[Word]] = {}
    for words in lines:
        for word in words:
            by_speaker.setdefault(word.speaker, []).append(word)
    return merge_turns(by_speaker)


# -- timing -------------------------------------------------------------------------------------------

def test_talk_silence_and_overtalk_from_each_directions_activity() -> None:
    times = call_times({CALLER: [Span(0, 10), Span(20, 25)], AGENT: [Span(9, 18), Span(24, 30)]}, duration=40)
    assert times.talk_seconds == {CALLER: 15, AGENT: 15}
    assert times.overtalk_seconds == 2  # 9-10 and 24-25
    assert times.silence_seconds == 12  # 18-20 and 30-40
    assert times.longest_silence == 10
    assert times.silence_ratio == pytest.approx(0.3)


def test_overlapping_spans_of_one_speaker_are_not_overtalk_and_nothing_counts_past_the_end() -> None:
    times = call_times({CALLER: [Span(0, 6), Span(4, 8), Span(9, 15)], AGENT: []}, duration=12)
    assert times.talk_seconds == {CALLER: 11, AGENT: 0}
    assert times.overtalk_seconds == 0
    assert (times.silence_seconds, times.longest_silence) == (1, 1)


def test_the_times_of_a_constructed_recording_come_out_of_its_voice_activity() -> None:
    caller_loud = [(0.5, 4.0), (7.0, 8.0)]
    agent_loud = [(3.5, 6.0), (7.5, 9.0)]
    activity = {CALLER: voice_activity(tone_pcm(12.0, caller_loud)), AGENT: voice_activity(tone_pcm(12.0, agent_loud))}
    times = call_times(activity, duration=12.0)
    assert times.talk_seconds[CALLER] == pytest.approx(4.5, abs=0.1)
    assert times.talk_seconds[AGENT] == pytest.approx(4.0, abs=0.1)
    assert times.overtalk_seconds == pytest.approx(1.0, abs=0.1)  # 3.5-4.0 and 7.5-8.0
    assert times.silence_seconds == pytest.approx(4.5, abs=0.1)  # 0-0.5, 6-7, 9-12
    assert times.longest_silence == pytest.approx(3.0, abs=0.1)
    assert times.silence_ratio == pytest.approx(4.5 / 12, abs=0.01)


def test_agent_speaking_rate_is_words_per_minute_of_agent_talk() -> None:
    words = said(AGENT, " ".join(["word"] * 30), 0.0)
    assert words_per_minute(words, talk_seconds=15.0) == 120.0
    assert words_per_minute([], talk_seconds=0.0) == 0.0


def test_words_become_turns_in_time_order_split_at_pauses_and_at_the_other_speaker() -> None:
    turns = conversation(said(AGENT, "hello how can I help", 0.0), said(CALLER, "my policy lapsed", 2.5),
                         said(AGENT, "let me check", 4.0), said(AGENT, "it is in grace", 7.0))
    assert [(turn.speaker, turn.text) for turn in turns] == [
        (AGENT, "hello how can I help"), (CALLER, "my policy lapsed"), (AGENT, "let me check"),
        (AGENT, "it is in grace")]
    assert (turns[1].start, turns[1].end) == (2.5, 3.65)
    assert len(turns[0].words) == 5


# -- script adherence and risk words ------------------------------------------------------------------

SCRIPT = {
    "greeting": ["thank you for calling hotline insurance"],
    "recording notice": ["this call is recorded", "this call may be recorded"],
    "consent": ["do you agree to the terms"],
}


def test_script_items_said_with_recognition_slips_are_found_and_the_missing_one_is_not() -> None:
    turns = conversation(
        said(AGENT, "thank you for calling hotline insurence my name is Lee", 0.0),
        said(CALLER, "hi", 5.0),
        said(AGENT, "this call may be recorded for quality", 6.0),
        said(CALLER, "do you agree to the terms", 10.0),  # the caller saying it is not the agent asking
    )
    items = {item.name: item for item in check_script(turns, SCRIPT)}
    assert items["greeting"].found and 0.8 <= items["greeting"].score < 1.0
    assert items["greeting"].hit.start == 0.0
    assert items["recording notice"].found and items["recording notice"].score == 1.0
    assert items["recording notice"].hit.phrase == "this call may be recorded"
    assert items["recording notice"].hit.start == 6.0
    assert (items["consent"].found, items["consent"].score, items["consent"].hit) == (False, 0.0, None)


def test_mandarin_is_matched_by_character_whatever_the_recognizer_s_word_breaks() -> None:
    turns = conversation(said(AGENT, "您好 欢迎 致电 本次 通话 将 被 录音", 1.0))
    items = {item.name: item for item in check_script(turns, {"notice": ["本次通话将被录音"],
                                                              "identity": ["请问您是本人吗"]})}
    assert items["notice"].found and items["notice"].score == 1.0 and items["notice"].hit.start == 2.2
    assert not items["identity"].found


def test_forbidden_phrases_are_found_with_their_time() -> None:
    turns = conversation(said(AGENT, "this plan has guaranteed returns of ten percent", 3.0))
    hits = find_phrases(turns, ["guaranteed returns", "no risk at all"])
    assert [(hit.phrase, hit.start, hit.score) for hit in hits] == [("guaranteed returns", 4.2, 1.0)]
    assert find_phrases(turns, ["guaranteed returns"], speaker=CALLER) == []


def test_complaint_and_churn_keywords_are_exact_even_across_the_recognizer_s_word_breaks() -> None:
    turns = conversation(said(CALLER, "我 要 投诉 你们", 2.0), said(AGENT, "好的", 4.0),
                         said(CALLER, "我 想 退 保", 6.0), said(AGENT, "投诉 请 按 一", 9.0))
    hits = keyword_hits(turns, ["投诉", "退保", "监管"], speaker=CALLER)
    assert [(hit.phrase, hit.speaker, hit.start) for hit in hits] == [("投诉", CALLER, 2.8), ("退保", CALLER, 6.8)]
    assert len(keyword_hits(turns, ["投诉"])) == 2
    assert keyword_hits(turns, ["投拆"]) == []  # one character off is not a complaint


# -- the real Korean model ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model() -> vosk.Model:
    return korean_model()


def test_script_adherence_on_a_real_korean_transcript(model, tmp_path) -> None:
    greeting = "안녕하세요 보험료 납입 안내 입니다"
    path = spoken_wav(greeting, tmp_path / "t.wav")
    words = transcribe_file(model, path, AGENT,
                            phrases=greeting.split() + ["본인", "확인", "해지", "취소", "환급금"])
    items = {item.name: item for item in check_script(merge_turns({AGENT: words}), {
        "premium notice": ["보험료 납입 안내"], "identity check": ["본인 확인"]})}
    assert items["premium notice"].found
    assert items["premium notice"].hit.start == next(word.start for word in words if word.text == "보험료")
    assert not items["identity check"].found


# -- redaction --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, redacted", [
    ("my card is 4 1 1 1 2 2 2 2 thanks", f"my card is {REDACTED_DIGITS} thanks"),
    ("my number is one two three four five six seven", f"my number is {REDACTED_DIGITS}"),
    ("Zero One Nine Eight Seven Six", REDACTED_DIGITS),
    ("我的电话是一三八 一二三四 五六七八", f"我的电话是{REDACTED_DIGITS}"),
    ("幺三八零零一二 谢谢", f"{REDACTED_DIGITS} 谢谢"),
    ("전화번호는 공일공 일이삼사 오육칠팔 입니다", f"전화번호는 {REDACTED_DIGITS} 입니다"),
    ("생년월일 팔 공 일 이 일 오", f"생년월일 {REDACTED_DIGITS}"),
    ("order 123-456-789", f"order {REDACTED_DIGITS}"),
])
def test_runs_of_six_or_more_spoken_digits_are_redacted(text, redacted) -> None:
    result = redact_digits(text)
    assert result.text == redacted and result.count == 1


@pytest.mark.parametrize("text", [
    "policy 12345 is fine",  # five digits
    "one two three four five",
    "이 보험 사 오",  # 이, 사, 오 as ordinary words, not six of them
    "premium 1,500,000 won",  # an amount, read with its commas
    "一下 一起 统一",
])
def test_shorter_runs_amounts_and_ordinary_words_are_left_alone(text) -> None:
    result = redact_digits(text)
    assert (result.text, result.count) == (text, 0)


def test_two_runs_are_both_redacted_and_their_places_reported() -> None:
    text = "card 411122223333 and phone 13800138000"
    result = redact_digits(text)
    assert result.text == f"card {REDACTED_DIGITS} and phone {REDACTED_DIGITS}"
    assert [text[start:end] for start, end in result.spans] == ["411122223333", "13800138000"]


def test_digits_spoken_as_words_become_one_redacted_word_spanning_them() -> None:
    words = said(CALLER, "제 번호는 공일공 일이삼사 오육칠팔 입니다", 1.0)
    redacted, count = redact_words(words)
    assert count == 1
    assert [word.text for word in redacted] == ["제", "번호는", REDACTED_DIGITS, "입니다"]
    assert (redacted[2].start, redacted[2].end, redacted[2].speaker) == (words[2].start, words[4].end, CALLER)
    assert redact_words(said(CALLER, "one two three", 0.0)) == (said(CALLER, "one two three", 0.0), 0)
