"""Every sentence the hotline speaks, in every language, in one place.

Prompts are rendered to 8 kHz WAV files by ``ivr prompts render`` (espeak-ng)
into Asterisk's sounds folder as ``hotline/<language>/<key>``; numbers, digits
and dates are spoken by Asterisk's own SAY commands in the channel language.
To change a wording, edit it here and re-render.
"""

from __future__ import annotations

LANGUAGES = ("en",)

PROMPTS: dict[str, dict[str, str]] = {
    "en": {
        "welcome": "Welcome to the customer service hotline.",
        "welcome_known": "Welcome back. We recognised your phone number.",
        "enter_policy_number": "Please key in your policy number, followed by the hash key. "
                               "To speak to an agent, press zero.",
        "policy_not_found": "Sorry, we could not find that policy number.",
        "enter_birth_date": "For your security, please key in your date of birth, as year, month and day, "
                            "eight digits, followed by the hash key.",
        "birth_date_wrong": "Sorry, that date of birth does not match our records.",
        "no_input": "Sorry, we did not receive your entry.",
        "verified": "Thank you. Your identity is verified.",
        "you_have_policies": "Number of policies on your record:",
        "policy": "Policy number",
        "status_in_force": "is in force.",
        "status_grace": "is in its grace period. Please pay the premium soon to keep your cover.",
        "status_lapsed": "has lapsed.",
        "status_terminated": "has been terminated.",
        "next_due_date": "The next premium is due on",
        "amount_due": "The amount due is",
        "yuan": "yuan",
        "point": "point",
        "no_premium_due": "No further premium is due.",
        "no_policies": "We found no policies on your record.",
        "transfer_to_agent": "Please hold while we connect you to an agent.",
        "too_many_attempts": "We are unable to complete this automatically.",
        "goodbye": "Thank you for calling. Goodbye.",
        "technical_problem": "Sorry, we have a technical problem. Please hold for an agent.",
    },
}


def prompt_file(language: str, key: str) -> str:
    """The Asterisk sound name (no extension) for a prompt key."""
    if key not in PROMPTS.get(language, {}):
        raise KeyError(f"no prompt {key!r} in language {language!r}")
    return f"hotline/{language}/{key}"
