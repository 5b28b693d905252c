"""Who is calling, and proof that it is them, before any policy detail is spoken."""

from __future__ import annotations

from ivr.domain.callers import KnownCaller, identify_by_phone, identify_by_policy, verify_birth_date
from ivr.flows.menu import Conversation
from ivr.flows.prompts import P

POLICY_NUMBER_MAX_DIGITS = 20
BIRTH_DATE_DIGITS = 8


def identify(call: Conversation) -> KnownCaller:
    """Recognise the caller by number, or ask for a policy number."""
    known = identify_by_phone(call.channel.info.caller_number)
    if known is not None:
        call.journal.identified(known.customer_id)
        call.journal.event("identification", "ani", "recognised")
        call.use_language(known.language)
        call.say(P.welcome_known)
        return known
    call.journal.event("identification", "ani", "not_recognised")
    call.say(P.welcome)
    found: list[KnownCaller] = []

    def policy_exists(entry: str) -> str | None:
        holder = identify_by_policy(entry)
        if holder is None:
            return P.policy_not_found
        found.append(holder)
        return None

    call.ask(P.enter_policy_number, name="policy_number",
             max_digits=POLICY_NUMBER_MAX_DIGITS, check=policy_exists)
    caller = found[-1]
    call.journal.identified(caller.customer_id)
    call.journal.event("identification", "policy_number", "found")
    call.use_language(caller.language)
    return caller


def verify(call: Conversation, caller: KnownCaller) -> None:
    """Ask for the date of birth; three wrong answers go to a person."""

    def matches_birth_date(entry: str) -> str | None:
        passed = verify_birth_date(caller.customer_id, entry)
        call.journal.event("verification", "birth_date", "passed" if passed else "failed")
        return None if passed else P.birth_date_wrong

    call.ask(P.enter_birth_date, name="birth_date", max_digits=BIRTH_DATE_DIGITS,
             check=matches_birth_date, secret=True)
    call.journal.verified()
    call.say(P.verified)
