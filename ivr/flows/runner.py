"""Runs one call's flow and ends its call record with the right disposition.

Outcomes, as the dialplan reads them from ``IVR_OUTCOME``:
* the flow returns          -> ``done``: the caller was self-served;
* ``TransferToAgent``       -> ``transfer`` with ``IVR_TRANSFER_REASON``;
* the caller hangs up       -> the record closes as ``abandoned_in_ivr``;
* the AGI connection breaks -> ``interrupted`` (Asterisk died, or our server cut the call while
  stopping: the dialplan hands the caller to a person);
* anything else goes wrong  -> an apology and ``transfer`` (reason ``error``), the database
  included: when the call record cannot even be opened the caller still hears the apology.
The dialplan sends every outcome but ``done`` to the agent queue, so a
server that dies mid-call still leaves the caller with a person. A transfer
names the queue and priority (``IVR_QUEUE``, ``IVR_PRIORITY``, from
ivr/domain/routing.py) and, when the caller has an advisor of record who is
free, their phone to ring first (``IVR_ADVISOR``); outside opening hours the caller is offered a
callback instead (ivr/flows/closed_hours.py) and the call ends ``done``.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta, timezone

from ivr.config import get_settings
from ivr.db.models import Disposition, utcnow
from ivr.domain.advisors import advisor_endpoint
from ivr.domain.calls import CallJournal, NewCall, close_interrupted_calls
from ivr.domain.routing import is_open, route
from ivr.flows.closed_hours import offer_callback
from ivr.flows.menu import Conversation, TransferToAgent
from ivr.flows.prompts import P, prompt_file
from ivr.flows.registry import FLOWS
from ivr.telephony.channel import Channel
from ivr.telephony.errors import ConnectionLost, Hangup
from ivr.telephony.fastagi import (ADVISOR_RING_VARIABLE, ADVISOR_VARIABLE, OUTCOME_VARIABLE, PRIORITY_VARIABLE,
                                   QUEUE_VARIABLE, TRANSFER_REASON_VARIABLE)

log = logging.getLogger(__name__)


# Record ids of the calls this process runs now, for close_interrupted_calls.
_running: set[int] = set()
_running_lock = threading.Lock()


def handle_call(channel: Channel, agi_server: str = "") -> None:
    """The entry point the FastAGI server (and process AGI scripts) call.

    ``agi_server`` names the FastAGI server in the call record (see :func:`watch_call_records`).
    """
    info = channel.info
    settings = get_settings()
    try:
        journal = CallJournal.open(NewCall(unique_id=info.unique_id, channel=info.channel,
                                           flow=info.flow, ani=info.caller_number,
                                           caller_name=info.caller_name, dnis=info.dnis,
                                           agi_server=agi_server))
    except Exception:
        log.exception("could not open the call record; the caller goes to an agent")
        _apologise(channel, settings.default_language, {})
        return
    with _running_lock:
        _running.add(journal.call_pk)
    call = Conversation(channel, journal, settings.default_language,
                        max_attempts=settings.max_attempts,
                        digit_timeout_ms=settings.digit_timeout_ms)
    try:
        _run(call)
    except Hangup as ended:
        journal.close(_disposition_after(ended, call))
        raise
    except Exception:
        log.exception("flow %r failed; the caller goes to an agent", info.flow)
        _apologise_and_transfer(call)
    finally:
        with _running_lock:
            _running.discard(journal.call_pk)


def _disposition_after(ended: Hangup, call: Conversation) -> Disposition:
    if call.state.served:
        return Disposition.SELF_SERVED
    return Disposition.INTERRUPTED if isinstance(ended, ConnectionLost) else Disposition.ABANDONED_IN_IVR


def watch_call_records(agi_server: str, every: float, stop: threading.Event) -> threading.Thread:
    """Close ``agi_server``'s records left open, now and every ``every`` seconds until ``stop``.

    At start-up no call runs yet, so every open record of this server is from a previous process
    that was killed or crashed. Later, a record is left open when the database was down as its call
    ended. Each server closes only its own (``Call.agi_server``), so several servers can share one
    database; calls opened in the last ``every`` seconds wait for the next round, as they may be
    starting right now.
    """
    try:
        close_interrupted_calls(agi_server, (), utcnow())
    except Exception as exc:  # a database down at start-up: the rounds below retry
        log.warning("could not close interrupted calls at start-up: %s", exc)

    def rounds() -> None:
        while not stop.wait(every):
            with _running_lock:
                running = frozenset(_running)
            try:
                close_interrupted_calls(agi_server, running, utcnow() - timedelta(seconds=every))
            except Exception as exc:
                log.warning("could not close interrupted calls: %s", exc)

    thread = threading.Thread(target=rounds, name="call-records", daemon=True)
    thread.start()
    return thread


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
    _apologise(call.channel, call.language, call.state.transfer_variables())
    try:
        call.journal.close(Disposition.TRANSFERRED, "error")
    except Exception as exc:  # watch_call_records closes it once the database is back
        log.error("could not close the call record: %s", exc)


def _apologise(channel: Channel, language: str, learned: dict[str, str]) -> None:
    """The technical-problem apology, then the caller to a person with what the IVR ``learned``
    (a claim number the agent goes on with, say)."""
    try:
        channel.play([prompt_file(language, P.technical_problem)])
        known = {name: value for name, value in learned.items() if value}
        for name, value in (known | {TRANSFER_REASON_VARIABLE: "error", OUTCOME_VARIABLE: "transfer"}).items():
            channel.set_variable(name, value)
    except Exception as exc:  # the boundary in fastagi flags the transfer again
        log.warning("could not apologise before the transfer: %s", exc)
