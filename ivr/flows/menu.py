"""``Conversation``: how every flow speaks and asks, with retries and 0-to-agent.

A flow says prompt keys and asks for entries; the conversation turns keys into
sound files in the caller's language, writes each step to the call record and
applies the house rules: an entry of ``0`` goes to a person at any menu, and
after ``max_attempts`` wrong or missing entries the caller goes to a person.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import NoReturn

from ivr.domain.calls import CallJournal
from ivr.flows import speech_zh
from ivr.flows.prompts import LANGUAGES, P, prompt_file
from ivr.telephony.channel import Channel

AGENT_KEY = "0"
REPEAT_KEY = "*"
MAX_REPEATS = 5

# Checks an entry; returns None when it is accepted, else the prompt key that
# tells the caller what was wrong.
EntryCheck = Callable[[str], str | None]


class TransferToAgent(Exception):
    """The caller needs a person; ``reason`` goes to the call record and the agent."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TooManyAttempts(TransferToAgent):
    """``max_attempts`` wrong or missing entries: a person by default; a flow
    that must not hand the call over (an unverified campaign call) catches it."""

    def __init__(self) -> None:
        super().__init__("too_many_attempts")


@dataclass
class CallState:
    """What the IVR has learned about the caller so far."""

    customer_id: int | None = None
    preferred_language: str = ""
    verified: bool = False
    policy_no: str = ""
    intent: str = ""
    claim_no: str = ""
    ticket_no: str = ""
    served: bool = False  # a self-service was completed (a later hangup is not an abandon)

    def transfer_variables(self) -> dict[str, str]:
        """Channel variables for the agent's screen. Every value is ours (ids,
        numbers we issued, fixed words), never caller text."""
        return {
            "IVR_CUSTOMER_ID": "" if self.customer_id is None else str(self.customer_id),
            "IVR_VERIFIED": "yes" if self.verified else "no",
            "IVR_POLICY_NO": self.policy_no,
            "IVR_INTENT": self.intent,
            "IVR_CLAIM_NO": self.claim_no,
            "IVR_TICKET_NO": self.ticket_no,
        }


@dataclass
class Conversation:
    channel: Channel
    journal: CallJournal
    language: str
    max_attempts: int = 3
    digit_timeout_ms: int = 6000
    state: CallState = field(default_factory=CallState)

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
        """Ask until an entry passes ``check``, at most ``max_attempts`` tries.

        ``*`` repeats the prompt, ``0`` goes to a person. An entry cut short by
        the timeout is incomplete input, never matched as a prefix. ``secret``
        entries (dates of birth, PINs) are recorded masked in the call record.
        """
        problem: str | None = None
        tries = repeats = 0
        while tries < self.max_attempts:
            if problem:
                self.say(problem)
            self.journal.event("prompt", prompt)
            self.journal.flush()
            entry = self.channel.collect_digits(prompt_file(self.language, prompt),
                                                self.digit_timeout_ms, max_digits)
            digits = entry.digits
            self.journal.event("input", name, "*" * len(digits) if secret else digits)
            if digits == AGENT_KEY:
                self.transfer("caller_pressed_0")
            if digits == REPEAT_KEY and repeats < MAX_REPEATS:
                repeats += 1
                problem = None
                continue
            tries += 1
            if digits == "":
                problem = P.no_input
            elif not entry.complete:
                problem = P.incomplete_entry
            else:
                problem = check(digits)
                if problem is None:
                    return digits
        self.say(problem or P.no_input, P.too_many_attempts)
        raise TooManyAttempts()

    def choose(self, prompt: str, keys: str) -> str:
        """A one-key menu: returns one of ``keys``; ``*`` repeats, ``0`` is a person."""
        return self.ask(prompt, name=f"menu:{prompt}", max_digits=1,
                        check=lambda key: None if key in keys else P.invalid_option)

    def transfer(self, reason: str) -> NoReturn:
        """Send the caller to a person now, with what the IVR learned."""
        raise TransferToAgent(reason)

    def play_recording(self, sound: str) -> bool:
        """Play a recording that may not exist (a name); False when it does not."""
        if not self.channel.sound_exists(sound):
            return False
        self._agent_if_pressed(self.channel.play([sound], AGENT_KEY))
        return True

    def _say_fragments(self, fragments: list[str]) -> None:
        self._agent_if_pressed(self.channel.play(self.sounds(*fragments), AGENT_KEY))

    def _agent_if_pressed(self, key: str) -> None:
        if key == AGENT_KEY:
            self.journal.event("input", "interrupt", key)
            self.transfer("caller_pressed_0")
