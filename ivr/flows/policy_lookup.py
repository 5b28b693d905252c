"""Reading a verified caller their policies: status, next due date, amount."""

from __future__ import annotations

from ivr.db.models import PolicyStatus
from ivr.domain.policies import PolicySummary, policies_of
from ivr.flows.menu import Conversation
from ivr.flows.prompts import P

STATUS_PROMPTS = {
    PolicyStatus.IN_FORCE: P.status_in_force,
    PolicyStatus.GRACE: P.status_grace,
    PolicyStatus.LAPSED: P.status_lapsed,
    PolicyStatus.TERMINATED: P.status_terminated,
}


def read_policies(call: Conversation, customer_id: int) -> None:
    """Say how many policies the customer has, then each one in turn."""
    policies = policies_of(customer_id)
    if not policies:
        call.say(P.no_policies)
        return
    call.say(P.you_have_policies)
    call.say_number(len(policies))
    for policy in policies:
        read_policy(call, policy)


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
