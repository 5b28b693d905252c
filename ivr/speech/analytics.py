"""What a call's transcript and voice activity say about it: timing, script adherence, risk words, redaction.

Pure functions over turns (ivr/speech/turns.py) and each direction's voice
activity (ivr/speech/audio.py ``voice_activity``); the rules (required script
items, forbidden phrases, complaint and churn keywords) are the caller's.

Matching works on tokens, not on the text's spacing: Han characters are one
token each (a Mandarin model writes 欢迎 致电 where the script says 欢迎致电),
other scripts (Korean, English) are split at spaces.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from difflib import SequenceMatcher

from ivr.speech.audio import Span
from ivr.speech.turns import AGENT, Turn, Word

#: What a redacted run of digits reads as.
REDACTED_DIGITS = "[redacted:digits]"
#: This many digits in a row (a card, account, ID or phone number) are redacted.
MIN_REDACTED_DIGITS = 6


# -- timing -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CallTimes:
    """Seconds of the call by who was speaking; silence is when nobody was."""

    duration: float
    talk_seconds: dict[str, float]
    silence_seconds: float
    longest_silence: float
    overtalk_seconds: float

    @property
    def silence_ratio(self) -> float:
        return self.silence_seconds / self.duration if self.duration else 0.0


def call_times(activity: Mapping[str, Sequence[Span]], duration: float) -> CallTimes:
    """Talk, silence and overtalk from each direction's voice activity over ``duration`` seconds."""
    merged = {speaker: _merged(spans, duration) for speaker, spans in activity.items()}
    silence = overtalk = longest = 0.0
    for start, end, speaking in _coverage(merged.values(), duration):
        if speaking == 0:
            silence += end - start
            longest = max(longest, end - start)
        elif speaking > 1:
            overtalk += end - start
    return CallTimes(duration, {speaker: round(sum(span.seconds for span in spans), 3)
                                for speaker, spans in merged.items()},
                     round(silence, 3), round(longest, 3), round(overtalk, 3))


def _merged(spans: Iterable[Span], duration: float) -> list[Span]:
    """``spans`` within the call, overlapping ones joined (one speaker cannot overtalk themself)."""
    out: list[Span] = []
    for span in sorted(spans, key=lambda span: span.start):
        start, end = max(0.0, span.start), min(duration, span.end)
        if end <= start:
            continue
        if out and start <= out[-1].end:
            out[-1] = Span(out[-1].start, max(out[-1].end, end))
        else:
            out.append(Span(start, end))
    return out


def _coverage(speakers: Iterable[list[Span]], duration: float) -> list[tuple[float, float, int]]:
    """The call cut into stretches, each with how many speakers were speaking in it."""
    changes = sorted((time, step) for spans in speakers for span in spans
                     for time, step in ((span.start, 1), (span.end, -1)))
    stretches: list[tuple[float, float, int]] = []
    now, speaking = 0.0, 0
    for time, step in changes + [(duration, 0)]:
        if time > now:
            stretches.append((now, time, speaking))
            now = time
        speaking += step
    return stretches


def words_per_minute(words: Sequence[Word], talk_seconds: float) -> float:
    """Speaking rate over the time the speaker was actually speaking (pauses are not slowness)."""
    return round(len(words) * 60 / talk_seconds, 1) if talk_seconds else 0.0


# -- phrases ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PhraseHit:
    """Where a phrase (or something close enough to it) was said."""

    phrase: str
    speaker: str
    start: float
    score: float


@dataclass(frozen=True)
class ScriptItem:
    """One required script item: said or not, how closely, and when."""

    name: str
    found: bool
    score: float
    hit: PhraseHit | None


@dataclass(frozen=True)
class _Token:
    text: str
    start: float
    speaker: str


_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_PUNCTUATION = re.compile(r"[^\w\s]")


def _split(text: str) -> list[str]:
    """``text`` as match tokens: Han characters one by one, other words whole, lower case, no punctuation."""
    spaced = _HAN.sub(lambda han: f" {han.group()} ", _PUNCTUATION.sub(" ", text.lower()))
    return spaced.split()


def _tokens(turns: Iterable[Turn], speaker: str | None) -> list[_Token]:
    return [_Token(piece, word.start, turn.speaker) for turn in turns if speaker in (None, turn.speaker)
            for word in turn.words for piece in _split(word.text)]


def _best_match(tokens: Sequence[_Token], phrase: str, threshold: float) -> PhraseHit | None:
    """The stretch of ``tokens`` most like ``phrase`` (SequenceMatcher ratio over its characters), if
    at least ``threshold`` like it: the cheap upper bounds rule most windows out before the ratio is worked out.

    Windows one token shorter and longer than the phrase are tried too, for a
    word the recognizer split in two or ran together.
    """
    wanted = _split(phrase)
    if not wanted or not tokens:
        return None
    matcher = SequenceMatcher(None, autojunk=False)
    matcher.set_seq2("".join(wanted))
    best: PhraseHit | None = None
    for size in dict.fromkeys((len(wanted), max(1, len(wanted) - 1), len(wanted) + 1)):  # the phrase's own first
        for first in range(max(1, len(tokens) - size + 1)):
            window = tokens[first:first + size]
            matcher.set_seq1("".join(token.text for token in window))
            floor = max(threshold, best.score if best else 0.0)
            if matcher.real_quick_ratio() < floor or matcher.quick_ratio() < floor:
                continue
            score = round(matcher.ratio(), 3)
            if score >= threshold and (best is None or score > best.score):
                best = PhraseHit(phrase, window[0].speaker, window[0].start, score)
    return best


def find_phrases(turns: Sequence[Turn], phrases: Sequence[str], speaker: str | None = AGENT,
                 threshold: float = 0.8) -> list[PhraseHit]:
    """The phrases (forbidden ones, say) that ``speaker`` (None: anyone) said, each at its closest match."""
    tokens = _tokens(turns, speaker)
    hits = (_best_match(tokens, phrase, threshold) for phrase in phrases)
    return [hit for hit in hits if hit]


def check_script(turns: Sequence[Turn], required: Mapping[str, Sequence[str]], speaker: str = AGENT,
                 threshold: float = 0.8) -> list[ScriptItem]:
    """Each required item (name -> acceptable phrasings): did ``speaker`` say one of them closely enough?

    Fuzzy, because the recognizer gets words slightly wrong and agents
    paraphrase; ``threshold`` is the SequenceMatcher ratio that counts as said
    (an item not said has score 0).
    """
    tokens = _tokens(turns, speaker)
    items = []
    for name, phrasings in required.items():
        hits = [hit for hit in (_best_match(tokens, phrasing, threshold) for phrasing in phrasings) if hit]
        best = max(hits, key=lambda hit: hit.score, default=None)
        items.append(ScriptItem(name, best is not None, best.score if best else 0.0, best))
    return items


def keyword_hits(turns: Sequence[Turn], keywords: Sequence[str], speaker: str | None = None) -> list[PhraseHit]:
    """Every place a keyword (投诉, 退保, 监管 ...) occurs exactly, spaces between words ignored.

    Exact, unlike ``find_phrases``: a complaint or churn flag must not fire on
    a near miss.
    """
    wanted = {keyword: "".join(keyword.lower().split()) for keyword in keywords if keyword.strip()}
    hits = []
    for turn in turns:
        if speaker not in (None, turn.speaker):
            continue
        letters, starts = _letters(turn.words)
        for keyword, letters_wanted in wanted.items():
            hits += [PhraseHit(keyword, turn.speaker, starts[found.start()], 1.0)
                     for found in re.finditer(re.escape(letters_wanted), letters)]
    return sorted(hits, key=lambda hit: hit.start)


def _letters(words: Sequence[Word]) -> tuple[str, list[float]]:
    """The words' text run together in lower case, and the start time of the word each character is in."""
    letters, starts = [], []
    for word in words:
        text = "".join(word.text.lower().split())
        letters.append(text)
        starts += [word.start] * len(text)
    return "".join(letters), starts


# -- redaction ----------------------------------------------------------------------------------------

_DIGIT_CHARACTER = "0-9０-９零〇一二三四五六七八九幺"
_ENGLISH_DIGIT = r"\b(?:zero|one|two|three|four|five|six|seven|eight|nine)\b"
_KOREAN_DIGITS = "영공일이삼사오육칠팔구"
#: One spoken digit, or a Korean word made only of digit syllables (일이삼, as a model may write it).
_DIGIT = (rf"(?:[{_DIGIT_CHARACTER}]|{_ENGLISH_DIGIT}"
          rf"|(?<![가-힣])[{_KOREAN_DIGITS}]+(?![가-힣]))")
_DIGIT_RUN = re.compile(rf"{_DIGIT}(?:[\s\-]*{_DIGIT})*", re.IGNORECASE)
_ONE_DIGIT = re.compile(rf"[{_DIGIT_CHARACTER}{_KOREAN_DIGITS}]|{_ENGLISH_DIGIT}", re.IGNORECASE)


@dataclass(frozen=True)
class Redaction:
    """Text with its long digit runs replaced; ``spans`` are where they were in the original."""

    text: str
    spans: tuple[tuple[int, int], ...]

    @property
    def count(self) -> int:
        return len(self.spans)


def redact_digits(text: str) -> Redaction:
    """``text`` with every run of 6 or more spoken digits replaced by ``[redacted:digits]``.

    Digits count in any of the hotline's languages, and mixed: 1 2 3, 一二三 or
    幺三八, one two three, 일 이 삼 (Korean digit words only when they stand
    alone, since 이, 사, 오 ... are also syllables of ordinary words). Commas
    and points end a run, so an amount (1,500,000) stays readable.
    """
    spans = tuple((run.start(), run.end()) for run in _DIGIT_RUN.finditer(text)
                  if len(_ONE_DIGIT.findall(run.group())) >= MIN_REDACTED_DIGITS)
    pieces, last = [], 0
    for start, end in spans:
        pieces += [text[last:start], REDACTED_DIGITS]
        last = end
    return Redaction("".join(pieces) + text[last:], spans)


def redact_words(words: Sequence[Word]) -> tuple[list[Word], int]:
    """``words`` with each run of digits spoken as separate words made one redacted word; and how many runs.

    Redact before the words are stored or turned into turns: the digits must
    not reach the database.
    """
    starts, position = [], 0
    for word in words:
        starts.append(position)
        position += len(word.text) + 1
    redaction = redact_digits(" ".join(word.text for word in words))
    out: list[Word] = []
    index = 0
    for start, end in redaction.spans:
        while index < len(words) and starts[index] + len(words[index].text) <= start:
            out.append(words[index])
            index += 1
        group = []
        while index < len(words) and starts[index] < end:
            group.append(words[index])
            index += 1
        out.append(_redacted(group))
    return out + list(words[index:]), redaction.count


def _redacted(group: Sequence[Word]) -> Word:
    """One word in place of the ``group`` that held a digit run (text around the run kept)."""
    text = redact_digits(" ".join(word.text for word in group)).text
    return replace(group[0], text=text, end=group[-1].end, confidence=min(word.confidence for word in group))
