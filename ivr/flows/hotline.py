"""The hotline (95519): recognise, verify, then hear every policy."""

from __future__ import annotations

from ivr.flows.menu import Conversation
from ivr.flows.policy_lookup import read_policies
from ivr.flows.prompts import P
from ivr.flows.verification import identify, verify


def hotline(call: Conversation) -> None:
    caller = identify(call)
    verify(call, caller)
    read_policies(call, caller.customer_id)
    call.say(P.goodbye)
