"""``Conversation``: how every flow speaks and asks, with retries and 0-to-agent.

A flow says prompt keys and asks for entries; the conversation turns keys into
sound files in the caller's language, writes each step to the call record and
applies the house rules: an entry of ``0`` goes to a person at any menu, and
after ``max_attempts`` wrong or missing entries the caller goes to a person.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from ivr.domain.calls import CallJournal
from ivr.flows import speech_zh
from ivr.flows.prompts import LANGUAGES, P, prompt_file
from ivr.telephony.channel import Channel

AGENT_KEY = "0"

# Checks an entry; returns None when it is accepted, else the prompt key that
# tells the caller what was wrong.
EntryCheck = Callable[[str], str | None]


class TransferToAgent(Exception):
    """The caller needs a person; ``reason`` goes to the call record and the agent."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Conversation:
    channel: Channel
    journal: CallJournal
    language: str
    max_attempts: int = 3
    digit_timeout_ms: int = 6000

    def use_language(self, language: str) -> None:
        """Switch prompts and Asterisk's SAY commands to ``language`` if we speak it."""
        if language not in LANGUAGES or language == self.language:
            return
        self.language = language
        self.channel.set_language(language)
        self.journal.set_language(language)

    def sounds(self, *keys: str) -> list[str]:
        return [prompt_file(self.language, key) for key in keys]

    def say(self, *keys: str) -> None:
        """Play prompts; a caller who presses 0 meanwhile goes to a person."""
        for key in keys:
            self.journal.event("prompt", key)
            self._agent_if_pressed(self.channel.play(self.sounds(key), AGENT_KEY))

    # Mandarin numbers, digits, dates and amounts are our own fragments played
    # in one STREAM FILE list (Asterisk has no Mandarin sounds); English ones
    # are Asterisk's SAY commands. Either way 0 goes to a person.

    def say_number(self, number: int) -> None:
        if self.language == "zh":
            self._say_fragments(speech_zh.number_fragments(number))
            return
        self._agent_if_pressed(self.channel.say_number(number, AGENT_KEY))

    def say_digits(self, digits: str) -> None:
        if self.language == "zh":
            self._say_fragments(speech_zh.digits_fragments(digits))
            return
        self._agent_if_pressed(self.channel.say_digits(digits, AGENT_KEY))

    def say_date(self, day: date) -> None:
        if self.language == "zh":
            self._say_fragments(speech_zh.date_fragments(day))
            return
        self._agent_if_pressed(self.channel.say_date(day, AGENT_KEY))

    def say_amount(self, amount: Decimal) -> None:
        """Yuan as a number, then fen as two digits when there are any (zh: 元角分)."""
        if self.language == "zh":
            self._say_fragments(speech_zh.money_fragments(amount))
            return
        fen_total = int((amount * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))
        yuan, fen = divmod(fen_total, 100)
        self.say_number(yuan)
        if fen:
            self.say(P.point)
            self.say_digits(f"{fen:02d}")
        self.say(P.yuan)

    def ask(self, prompt: str, *, name: str, max_digits: int, check: EntryCheck,
            secret: bool = False) -> str:
        """Ask until an entry passes ``check``, at most ``max_attempts`` times.

        ``secret`` entries (dates of birth) are recorded masked in the call record.
        """
        problem: str | None = None
        for _attempt in range(self.max_attempts):
            if problem:
                self.say(problem)
            self.journal.event("prompt", prompt)
            self.journal.flush()
            entry = self.channel.collect_digits(prompt_file(self.language, prompt),
                                                self.digit_timeout_ms, max_digits)
            self.journal.event("input", name, "*" * len(entry) if secret else entry)
            if entry == AGENT_KEY:
                raise TransferToAgent("caller_pressed_0")
            problem = P.no_input if entry == "" else check(entry)
            if problem is None:
                return entry
        self.say(problem or P.no_input, P.too_many_attempts)
        raise TransferToAgent("too_many_attempts")

    def _say_fragments(self, fragments: list[str]) -> None:
        self._agent_if_pressed(self.channel.play(self.sounds(*fragments), AGENT_KEY))

    def _agent_if_pressed(self, key: str) -> None:
        if key == AGENT_KEY:
            self.journal.event("input", "interrupt", key)
            raise TransferToAgent("caller_pressed_0")
