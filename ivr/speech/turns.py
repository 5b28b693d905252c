"""Words as the recognizer heard them, and the conversation's turns built from them.

The data types live here, not in the engine, so that turns and analytics can
be used (and tested) without Vosk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: MixMonitor's two directions: "r" (what the caller said) and "t" (what the agent or IVR said).
CALLER = "caller"
AGENT = "agent"


@dataclass(frozen=True)
class Word:
    """One recognised word; times in seconds from the start of its recording."""

    text: str
    start: float
    end: float
    confidence: float


@dataclass(frozen=True)
class SpokenWord(Word):
    """A word and who said it, as stored with a call's transcript."""

    speaker: str


@dataclass(frozen=True)
class Turn:
    """What one speaker said without a pause of ``max_gap`` or the other speaker cutting in."""

    speaker: str
    start: float
    end: float
    text: str
    words: tuple[Word, ...]


def merge_turns(words_by_speaker: Mapping[str, Sequence[Word]], max_gap: float = 1.0) -> list[Turn]:
    """Every speaker's words in time order, each speaker's consecutive words joined into turns.

    The two directions are recorded (and recognised) separately, so this is
    where the conversation is put back together.
    """
    timeline = sorted(((word, speaker) for speaker, words in words_by_speaker.items() for word in words),
                      key=lambda item: (item[0].start, item[1]))
    groups: list[tuple[str, list[Word]]] = []
    for word, speaker in timeline:
        if groups and groups[-1][0] == speaker and word.start - groups[-1][1][-1].end < max_gap:
            groups[-1][1].append(word)
        else:
            groups.append((speaker, [word]))
    return [Turn(speaker, words[0].start, max(word.end for word in words), " ".join(word.text for word in words),
                 tuple(words)) for speaker, words in groups]
