"""报案, first notice of loss: policy, incident type and date, callback number,
a spoken description. The claim is saved as ``incomplete`` the moment the
policy is chosen and each answer is stored as it is given, so a caller who
hangs up at any point leaves everything captured so far, recording included."""

from __future__ import annotations

from datetime import date, datetime, timezone

from ivr.config import get_settings
from ivr.db.models import ProductLine
from ivr.domain import claims
from ivr.domain.claims import IncidentType
from ivr.domain.phones import InvalidPhoneNumber, normalise_phone, parse_ani
from ivr.domain.policies import PolicySummary, policies_of
from ivr.flows.menu import Conversation
from ivr.flows.policy_lookup import choose_policy
from ivr.flows.prompts import P
from ivr.flows.recording import record_caller
from ivr.flows.verification import ensure_verified

DATE_DIGITS = 8
PHONE_MAX_DIGITS = 20
DESCRIPTION_MAX_SECONDS = 120
CONFIRM, OTHER_NUMBER = "1", "2"
DATE_PROBLEMS = {"future": P.date_future, "before_cover": P.date_before_cover,
                 "after_cover": P.date_after_cover}
TYPE_MENUS = {ProductLine.MOTOR: P.claim_type_motor, ProductLine.LIFE: P.claim_type_life,
              ProductLine.HEALTH: P.claim_type_life}


def report_claim(call: Conversation) -> None:
    call.state.intent = "claim"
    customer_id = ensure_verified(call)
    policies = policies_of(customer_id)
    if not policies:
        call.say(P.no_policies)
        return
    policy = choose_policy(call, policies, P.choose_claim_policy)
    assert policy is not None  # no "back" key offered
    claim_no = claims.open_claim(policy.policy_no, customer_id, call.journal.unique_id).claim_no
    call.state.claim_no, call.state.policy_no = claim_no, policy.policy_no
    call.journal.event("claim", "opened", claim_no)
    claims.record_incident_type(claim_no, ask_incident_type(call, policy))
    claims.record_incident_date(claim_no, ask_incident_date(call, policy))
    claims.record_callback_number(claim_no, ask_callback_number(call))
    record_caller(call, "claims", claim_no, P.record_claim, DESCRIPTION_MAX_SECONDS,
                  remember=lambda path: claims.record_recording(claim_no, path))
    claims.submit_claim(claim_no, datetime.now(timezone.utc))
    call.journal.event("claim", "reported", claim_no)
    call.state.served = True
    for prompt in (P.claim_number_is, P.claim_number_again):
        call.say(prompt)
        call.say_digits(claim_no)
    call.say(P.claim_received)


def ask_incident_type(call: Conversation, policy: PolicySummary) -> IncidentType:
    types = claims.incident_types_for(policy.product_line)
    key = call.choose(TYPE_MENUS[policy.product_line], "".join(str(i) for i in range(1, len(types) + 1)))
    return types[int(key) - 1]


def ask_incident_date(call: Conversation, policy: PolicySummary) -> date:
    """YYYYMMDD, not in the future, within the policy's cover."""
    chosen: list[date] = []

    def acceptable(entry: str) -> str | None:
        try:
            incident = datetime.strptime(entry, "%Y%m%d").date()
        except ValueError:
            return P.date_invalid
        problem = claims.check_incident_date(policy.policy_no, incident, get_settings().today())
        if problem is not None:
            return DATE_PROBLEMS[problem]
        chosen.append(incident)
        return None

    call.ask(P.enter_incident_date, name="incident_date", max_digits=DATE_DIGITS, check=acceptable)
    return chosen[-1]


def ask_callback_number(call: Conversation) -> str:
    """The number we call back on: the caller's own, confirmed, or one they key."""
    country = get_settings().country_code
    own = parse_ani(call.channel.info.caller_number, country)
    if own is not None:
        call.say(P.callback_is)
        call.say_digits(own.e164.lstrip("+")[-4:])
        if call.choose(P.callback_confirm, CONFIRM + OTHER_NUMBER) == CONFIRM:
            return own.e164
    keyed: list[str] = []

    def valid_phone(entry: str) -> str | None:
        try:
            keyed.append(normalise_phone(entry, country).e164)
        except InvalidPhoneNumber:
            return P.phone_invalid
        return None

    call.ask(P.enter_callback_number, name="callback_number", max_digits=PHONE_MAX_DIGITS,
             check=valid_phone)
    return keyed[-1]
