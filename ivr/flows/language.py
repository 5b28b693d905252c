"""Choosing the language: Mandarin first, English second."""

from __future__ import annotations

from ivr.flows.menu import Conversation
from ivr.flows.prompts import LANGUAGES, P, prompt_file

# Key -> language, in the order the caller hears them (1 Mandarin, 2 English).
LANGUAGE_KEYS = {str(position): language for position, language in enumerate(LANGUAGES, start=1)}


def choose_language(call: Conversation) -> None:
    """Each language offers itself in its own voice. The offer is the hint:
    after three tries without a choice the caller goes to a person."""
    sounds = [prompt_file(language, P.language_choice) for language in LANGUAGES]
    for _attempt in range(call.max_attempts):
        call.journal.event("prompt", P.language_choice)
        key = call.channel.play(sounds[:-1], "".join(LANGUAGE_KEYS) + "0")
        if not key:
            call.journal.flush()
            key = call.channel.collect_digits(sounds[-1], call.digit_timeout_ms, 1).digits
        call.journal.event("input", "language", key)
        if key in LANGUAGE_KEYS:
            call.use_language(LANGUAGE_KEYS[key])
            return
        if key == "0":
            call.transfer("caller_pressed_0")
    call.transfer("too_many_attempts")
