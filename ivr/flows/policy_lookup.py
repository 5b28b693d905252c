"""A verified caller's whole relationship: a summary of every policy, then any one in detail."""

from __future__ import annotations


from ivr.db.models import PolicyStatus
from ivr.config import get_settings
from ivr.domain.policies import PolicySummary, policies_of, summarise_relationship
from ivr.flows.menu import Conversation
from ivr.flows.prompts import P
from ivr.flows.verification import ensure_verified

STATUS_PROMPTS = {
    PolicyStatus.IN_FORCE: P.status_in_force,
    PolicyStatus.GRACE: P.status_grace,
    PolicyStatus.LAPSED: P.status_lapsed,
    PolicyStatus.TERMINATED: P.status_terminated,
}
BACK = "9"
MAX_LISTED = 8  # keys 1-8; 9 is back, 0 a person


def hear_policies(call: Conversation) -> None:
    """Summary first, then a menu to hear each policy in detail."""
    customer_id = ensure_verified(call)
    policies = policies_of(customer_id)
    if not policies:
        call.say(P.no_policies)
        return
    say_summary(call, policies)
    call.state.served = True
    while True:
        policy = choose_policy(call, policies, P.detail_menu, allow_back=True)
        if policy is None:
            return
        read_policy(call, policy)


def say_summary(call: Conversation, policies: list[PolicySummary]) -> None:
    """How many policies, how many in force, the nearest premium, what is at risk:
    from the policies already read for this call, without reading them again."""
    summary = summarise_relationship(policies, get_settings().today())
    call.say(P.you_have_policies)
    call.say_number(summary.policy_count)
    call.say(P.summary_in_force)
    call.say_number(summary.in_force_count)
    if summary.nearest_due is not None:
        call.say(P.nearest_due)
        call.say_date(summary.nearest_due.due_date)
        call.say(P.amount_due)
        call.say_amount(summary.nearest_due.amount)
    for risk in summary.at_risk:
        if risk.lapse_date is None:
            continue
        call.say(P.policy_ending)
        call.say_digits(risk.policy_no[-4:])
        call.say(P.lapses_on if risk.status is PolicyStatus.GRACE else P.lapsed_on)
        call.say_date(risk.lapse_date)
    call.journal.event("summary", "policies", str(summary.policy_count))


def choose_policy(call: Conversation, policies: list[PolicySummary], prompt: str,
                  allow_back: bool = False) -> PolicySummary | None:
    """A menu of the caller's policies by the last four digits of each."""
    listed = policies[:MAX_LISTED]
    if len(listed) == 1 and not allow_back:
        return listed[0]
    call.say(prompt)
    for position, policy in enumerate(listed, start=1):
        call.say(P.policy_ending)
        call.say_digits(policy.policy_no[-4:])
        call.say(P.press)
        call.say_digits(str(position))
    keys = "".join(str(i) for i in range(1, len(listed) + 1)) + (BACK if allow_back else "")
    key = call.choose(P.choose_policy_key, keys)
    if key == BACK:
        return None
    chosen = listed[int(key) - 1]
    call.state.policy_no = chosen.policy_no
    return chosen


def read_policy(call: Conversation, policy: PolicySummary) -> None:
    call.say(P.policy)
    call.say_digits(policy.policy_no)
    call.say(STATUS_PROMPTS[policy.status])
    if policy.premium_due and policy.next_due_date is not None:
        call.say(P.next_due_date)
        call.say_date(policy.next_due_date)
        call.say(P.amount_due)
        call.say_amount(policy.premium)
    call.journal.event("policy_read", "policy_no", policy.policy_no)
