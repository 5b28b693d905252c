"""Outside opening hours, a caller who needs a person is offered a callback instead of a queue.

``1`` books one on the caller's number (confirmed, or another they key);
``0``, "a person", means the same here, since a callback is the person we
can offer; ``9`` ends the call. A caller who keys nothing usable, or leaves
the number step with ``0`` or wrong entries, hears goodbye and no request is
stored: we call back only someone who asked. A second request from the same
number merges into the open one (ivr/domain/callbacks.py).
"""

from __future__ import annotations

from datetime import datetime, timezone

from ivr.domain.callbacks import request_callback
from ivr.flows.claim_report import ask_callback_number
from ivr.flows.menu import AGENT_KEY, Conversation, TransferToAgent
from ivr.flows.prompts import P

CALLBACK, END = "1", "9"


def offer_callback(call: Conversation, transfer_reason: str) -> None:
    """Instead of the queue: offer a callback, store it if asked for, say goodbye."""
    call.journal.event("closed", "callback_offer", transfer_reason)
    if _wants_callback(call):
        number = _callback_number(call)
        if number is not None:
            outcome = request_callback(number, call.state.customer_id, call.state.intent or transfer_reason,
                                       call.journal.unique_id, datetime.now(timezone.utc))
            call.journal.event("callback", "merged" if outcome.merged else "requested", str(outcome.request_id))
            call.state.served = True
            call.say(P.callback_booked)
    call.channel.play(call.sounds(P.goodbye))


def _wants_callback(call: Conversation) -> bool:
    try:
        return call.choose(P.closed_callback_offer, CALLBACK + END) == CALLBACK
    except TransferToAgent as asked:  # 0 (a person: the callback) or too many wrong entries
        return asked.reason == "caller_pressed_" + AGENT_KEY


def _callback_number(call: Conversation) -> str | None:
    try:
        return ask_callback_number(call)
    except TransferToAgent:
        return None
