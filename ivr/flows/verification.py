"""Who is calling, and proof that it is them, before any policy detail is spoken."""

from __future__ import annotations

from ivr.domain.callers import (
    VerificationResult,
    identify_by_phone,
    identify_by_policy,
    verify_birth_date,
)
from ivr.flows.menu import Conversation
from ivr.flows.prompts import P

POLICY_NUMBER_MAX_DIGITS = 20
BIRTH_DATE_DIGITS = 8


def recognise(call: Conversation) -> bool:
    """Recognise the caller by their number alone, without asking anything."""
    known = identify_by_phone(call.channel.info.caller_number)
    if known is None:
        call.journal.event("identification", "ani", "not_recognised")
        return False
    call.state.customer_id = known.customer_id
    call.state.preferred_language = known.language
    call.journal.identified(known.customer_id)
    call.journal.event("identification", "ani", "recognised")
    return True


def ensure_identified(call: Conversation) -> int:
    """The caller's customer id, asking for a policy number if the ANI did not tell."""
    if call.state.customer_id is not None:
        return call.state.customer_id

    def policy_exists(entry: str) -> str | None:
        holder = identify_by_policy(entry)
        if holder is None:
            return P.policy_not_found
        call.state.customer_id = holder.customer_id
        call.state.policy_no = entry
        return None

    call.ask(P.enter_policy_number, name="policy_number",
             max_digits=POLICY_NUMBER_MAX_DIGITS, check=policy_exists)
    assert call.state.customer_id is not None
    call.journal.identified(call.state.customer_id)
    call.journal.event("identification", "policy_number", "found")
    return call.state.customer_id


def ensure_verified(call: Conversation) -> int:
    """The verified caller's customer id; three wrong dates of birth, or a
    locked policy, go to a person."""
    customer_id = ensure_identified(call)
    if call.state.verified:
        return customer_id

    def matches_birth_date(entry: str) -> str | None:
        result = verify_birth_date(customer_id, entry)
        call.journal.event("verification", "birth_date", result.value)
        if result is VerificationResult.LOCKED:
            call.say(P.verification_locked)
            call.transfer("verification_locked")
        return None if result is VerificationResult.PASSED else P.birth_date_wrong

    call.ask(P.enter_birth_date, name="birth_date", max_digits=BIRTH_DATE_DIGITS,
             check=matches_birth_date, secret=True)
    call.state.verified = True
    call.journal.verified()
    call.say(P.verified)
    return customer_id
