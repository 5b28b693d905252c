"""The main menu: every self-service of the hotline, one key each."""

from __future__ import annotations

from collections.abc import Callable

from ivr.flows.agent_check import check_sales_agent
from ivr.flows.claim_report import report_claim
from ivr.flows.complaint import make_complaint
from ivr.flows.internal_line import sales_agents_line
from ivr.flows.menu import Conversation
from ivr.flows.policy_lookup import hear_policies
from ivr.flows.prompts import P

SERVICES: dict[str, Callable[[Conversation], None]] = {
    "1": hear_policies,
    "2": report_claim,
    "3": make_complaint,
    "4": check_sales_agent,
    "8": sales_agents_line,
}
END_CALL = "9"


def main_menu(call: Conversation) -> None:
    """Offer the services until the caller ends the call (9) or hangs up."""
    while True:
        key = call.choose(P.main_menu, "".join(SERVICES) + END_CALL)
        if key == END_CALL:
            return
        SERVICES[key](call)
