"""The sales agents' internal line: agent code and PIN, then which of their
customers have a premium due in the next seven days."""

from __future__ import annotations

from datetime import datetime, timezone

from ivr.config import get_settings
from ivr.domain.sales_agents import PinOutcome, customers_due, verify_agent_pin
from ivr.flows.agent_check import AGENT_CODE_MAX_DIGITS
from ivr.flows.menu import Conversation
from ivr.flows.prompts import P

PIN_MAX_DIGITS = 12
DUE_WITHIN_DAYS = 7


def sales_agents_line(call: Conversation) -> None:
    call.state.intent = "sales_agent_line"
    code = call.ask(P.enter_own_agent_code, name="agent_code", max_digits=AGENT_CODE_MAX_DIGITS,
                    check=lambda _entry: None)

    def pin_accepted(entry: str) -> str | None:
        outcome = verify_agent_pin(code, entry, datetime.now(timezone.utc))
        call.journal.event("verification", "agent_pin", outcome.value)
        if outcome is PinOutcome.LOCKED:
            call.say(P.pin_locked)
            call.transfer("agent_pin_locked")
        return None if outcome is PinOutcome.OK else P.pin_wrong

    call.ask(P.enter_pin, name="agent_pin", max_digits=PIN_MAX_DIGITS, check=pin_accepted,
             secret=True)
    due = customers_due(code, get_settings().today(), DUE_WITHIN_DAYS)
    call.state.served = True
    if not due:
        call.say(P.none_due)
        return
    call.say(P.customers_due)
    call.say_number(len(due))
    for item in due:
        call.say(P.policy)
        call.say_digits(item.policy_no)
        call.say(P.next_due_date)
        call.say_date(item.due_date)
        call.say(P.amount_due)
        call.say_amount(item.amount)
