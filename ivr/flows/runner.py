"""Runs one call's flow and ends its call record with the right disposition.

Outcomes, as the dialplan reads them from ``IVR_OUTCOME``:
* the flow returns          -> ``done``: the caller was self-served;
* ``TransferToAgent``       -> ``transfer`` with ``IVR_TRANSFER_REASON``;
* the caller hangs up       -> the record closes as ``abandoned_in_ivr``;
* anything else goes wrong  -> an apology and ``transfer`` (reason ``error``).
The dialplan sends every outcome but ``done`` to the agent queue, so a
server that dies mid-call still leaves the caller with a person. A transfer
names the queue and priority (``IVR_QUEUE``, ``IVR_PRIORITY``, from
ivr/domain/routing.py) and, when the caller has an advisor of record who is
free, their phone to ring first (``IVR_ADVISOR``); outside opening hours the caller is offered a
callback instead (ivr/flows/closed_hours.py) and the call ends ``done``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from ivr.config import get_settings
from ivr.db.models import Disposition
from ivr.domain.advisors import advisor_endpoint
from ivr.domain.calls import CallJournal, NewCall
from ivr.domain.routing import is_open, route
from ivr.flows.closed_hours import offer_callback
from ivr.flows.menu import Conversation, TransferToAgent
from ivr.flows.prompts import P
from ivr.flows.registry import FLOWS
from ivr.telephony.channel import Channel
from ivr.telephony.errors import Hangup
from ivr.telephony.fastagi import (ADVISOR_RING_VARIABLE, ADVISOR_VARIABLE, OUTCOME_VARIABLE, PRIORITY_VARIABLE,
                                   QUEUE_VARIABLE, TRANSFER_REASON_VARIABLE)

log = logging.getLogger(__name__)


def handle_call(channel: Channel) -> None:
    """The entry point the FastAGI server (and process AGI scripts) call."""
    info = channel.info
    journal = CallJournal.open(NewCall(unique_id=info.unique_id, channel=info.channel,
                                       flow=info.flow, ani=info.caller_number,
                                       caller_name=info.caller_name, dnis=info.dnis))
    settings = get_settings()
    call = Conversation(channel, journal, settings.default_language,
                        max_attempts=settings.max_attempts,
                        digit_timeout_ms=settings.digit_timeout_ms)
    try:
        _run(call)
    except Hangup:
        journal.close(Disposition.SELF_SERVED if call.state.served else Disposition.ABANDONED_IN_IVR)
        raise
    except Exception:
        log.exception("flow %r failed; the caller goes to an agent", info.flow)
        _apologise_and_transfer(call)


def _run(call: Conversation) -> None:
    flow = FLOWS.get(call.channel.info.flow)
    try:
        call.channel.answer()
        call.channel.set_language(call.language)
        call.journal.answered(call.language)
        if flow is None:
            log.warning("unknown flow %r requested", call.channel.info.flow)
            raise TransferToAgent("unknown_flow")
        flow(call)
    except TransferToAgent as transfer:
        if is_open(datetime.now(timezone.utc)):
            _transfer(call, transfer.reason)
            return
        offer_callback(call, transfer.reason)
    call.channel.set_variable(OUTCOME_VARIABLE, "done")
    call.journal.close(Disposition.SELF_SERVED, policy_no=call.state.policy_no)


def _transfer(call: Conversation, reason: str) -> None:
    """Hand over what the IVR learned (for the agent's screen), then the caller."""
    call.journal.event("transfer", "queue", reason)
    call.channel.play(call.sounds(P.transfer_to_agent))
    destination = route(call.state.customer_id, call.state.intent, datetime.now(timezone.utc))
    call.journal.event("route", destination.queue, destination.reason)
    variables = call.state.transfer_variables() | {QUEUE_VARIABLE: destination.queue,
                                                    PRIORITY_VARIABLE: str(destination.priority)}
    advisor = _advisor(call)
    if advisor:
        call.journal.event("advisor", "offered", advisor)
        variables |= {ADVISOR_VARIABLE: advisor, ADVISOR_RING_VARIABLE: str(get_settings().advisor_ring_seconds)}
    for name, value in variables.items():
        call.channel.set_variable(name, value)
    call.channel.set_variable(TRANSFER_REASON_VARIABLE, reason)
    call.channel.set_variable(OUTCOME_VARIABLE, "transfer")
    call.journal.close(Disposition.TRANSFERRED, reason, call.state.policy_no)


def _advisor(call: Conversation) -> str | None:
    """The caller's advisor of record to ring first, if free; never a reason to lose the transfer."""
    try:
        return advisor_endpoint(call.state.customer_id, datetime.now(timezone.utc))
    except Exception:
        log.exception("advisor of record look-up failed; the caller goes to the queue")
        return None


def _apologise_and_transfer(call: Conversation) -> None:
    """Best effort: the database or the channel may be what failed."""
    try:
        call.channel.play(call.sounds(P.technical_problem))
        call.channel.set_variable(TRANSFER_REASON_VARIABLE, "error")
        call.channel.set_variable(OUTCOME_VARIABLE, "transfer")
    except Exception as exc:  # the boundary in fastagi flags the transfer again
        log.warning("could not apologise before the transfer: %s", exc)
    try:
        call.journal.close(Disposition.TRANSFERRED, "error")
    except Exception as exc:
        log.error("could not close the call record: %s", exc)
