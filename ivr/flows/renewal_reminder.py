"""The premium reminder a customer hears when they answer a campaign call.

The dialer's Originate sends the answered call to ``[hotline-outbound]`` with
the attempt's id in ``CAMPAIGN_ATTEMPT``. At once, in the customer's own
language: who is calling and why; then the birth year, before any policy
detail (wrong ``max_attempts`` times: a polite goodbye and nothing more);
then the amount and due date and the offer: 1 a person, 2 remind me later,
3 I have already paid, 9 stop calling me (``*`` repeats, ``0`` is a person
anywhere). However the call ends, the attempt gets its one result with the
key chosen: ``answered``, or ``customer_hung_up`` when they hang up first.

A campaign that detects answering machines (``detect_machines``) listens
first (Asterisk's AMD): a machine is hung up on without a word (it could be
anyone's: nothing about the policy is left on it) and the attempt is
``machine``, called again later like no answer; a person, or a verdict AMD
is not sure of, hears the reminder as soon as their greeting has ended.

The abandoned measure (docs/campaigns.md): just before the introduction is
streamed, the flow asks Asterisk how long ago the call was answered, on
Asterisk's clock (``Channel.time_since_answer``), and records it with the
result; a customer who wants a person (1, 0, or too many wrong keys at the
offer) when no agent is free hears that the advisers are busy, gets a
callback request, and the call ends politely rather than waiting in an empty
queue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from ivr.domain import campaigns
from ivr.domain.audit import IVR_ACTOR
from ivr.domain.callbacks import request_callback
from ivr.domain.campaigns import AttemptCallFacts, AttemptStatus
from ivr.domain.dnc import DncSource, opt_out
from ivr.domain.errors import InvalidTransition
from ivr.flows.menu import AGENT_KEY, Conversation, TooManyAttempts, TransferToAgent
from ivr.flows.prompts import P
from ivr.telephony.channel import AnsweredBy
from ivr.telephony.errors import Hangup

log = logging.getLogger(__name__)

ATTEMPT_VARIABLE = "CAMPAIGN_ATTEMPT"  # set on the channel by the dialer's Originate
ATTEMPT_ID_MAX_DIGITS = 18
BIRTH_YEAR_DIGITS = 4
INTENT = "renewal"  # no queue of its own: routing sends it to general (or vip)
CALLBACK_REASON = "campaign"  # a callback booked because no agent was free for a campaign call
AGENT, REMIND_LATER, ALREADY_PAID, STOP_CALLING = (campaigns.KEY_AGENT, campaigns.KEY_REMIND_LATER, "3",
                                                   campaigns.KEY_STOP_CALLING)
# "Remind me later": key -> how much later, as offered in P.remind_later_menu.
LATER = {"1": timedelta(days=1), "2": timedelta(days=3), "3": timedelta(days=7)}


class NoCampaignAttempt(ValueError):
    """The call carries no attempt id we can use: the boundary apologises and hands it to a person."""


@dataclass
class Progress:
    """What the attempt's result needs, kept however the call ends: the key chosen at the offer, when the
    message began and how long after answer (Asterisk's clock), and whether no agent was free."""

    key: str | None = None
    message_started_at: datetime | None = None
    message_delay_ms: int | None = None
    agent_unavailable: bool = False
    # With answering-machine detection: how long after answer the customer's greeting had ended (AMD's
    # verdict); the message's delay is counted from then, as a person hears it.
    greeting_ended_after: timedelta | None = None


def renewal_reminder(call: Conversation) -> None:
    facts = campaigns.attempt_call_facts(attempt_id_of(call))
    answered_at = datetime.now(timezone.utc)
    call.use_language(facts.language)
    call.state.customer_id, call.state.intent = facts.customer_id, INTENT
    call.journal.identified(facts.customer_id)
    call.journal.event("campaign", "attempt", str(facts.attempt_id))
    progress = Progress()
    status = AttemptStatus.ANSWERED
    try:
        try:
            if facts.detect_machines and answered_by_machine(call, progress):
                status = AttemptStatus.MACHINE
                return
            remind(call, facts, progress)
        except TransferToAgent as transfer:
            if progress.key is None and transfer.reason == "caller_pressed_0":
                progress.key = AGENT_KEY
            if agent_free(call):
                raise
            no_agent_free(call, facts, progress, transfer.reason)
    except Hangup:
        status = AttemptStatus.CUSTOMER_HUNG_UP
        raise
    finally:
        record_outcome(call, facts.attempt_id, status, progress, answered_at)


def attempt_id_of(call: Conversation) -> int:
    """The attempt id from the channel: digits only, as the dialer sets it."""
    value = call.channel.get_variable(ATTEMPT_VARIABLE)
    if not value.isdigit() or not value.isascii() or len(value) > ATTEMPT_ID_MAX_DIGITS:
        raise NoCampaignAttempt(f"{ATTEMPT_VARIABLE} is {value[:40]!r}, not an attempt id")
    return int(value)


def remind(call: Conversation, facts: AttemptCallFacts, progress: Progress) -> None:
    message_starts(call, progress)
    call.say(P.reminder_intro)
    if not birth_year_confirmed(call, facts):
        call.say(P.reminder_unverified)
        return
    call.say(P.reminder_policy_ending)
    call.say_digits(facts.policy_no[-4:])
    call.say(P.reminder_due_on)
    call.say_date(facts.cycle)
    call.say(P.amount_due)
    call.say_amount(facts.amount)
    progress.key = call.choose(P.reminder_menu, AGENT + REMIND_LATER + ALREADY_PAID + STOP_CALLING)
    call.journal.event("campaign", "key", progress.key)
    if progress.key == AGENT:
        call.transfer("customer_pressed_1")
    RESPONSES[progress.key](call, facts)
    call.state.served = True
    call.say(P.reminder_goodbye)


def answered_by_machine(call: Conversation, progress: Progress) -> bool:
    """Asterisk's AMD listens to the greeting. A detection that fails (AMD not loaded, say) counts as a
    person: the customer hears the reminder, who may be the one we called."""
    try:
        verdict = call.channel.detect_answering_machine()
    except Hangup:
        raise
    except Exception:
        log.exception("answering-machine detection failed (call %s); treated as a person", call.journal.unique_id)
        verdict = AnsweredBy.NOTSURE
    call.journal.event("campaign", "answered_by", verdict.value.lower())
    progress.greeting_ended_after = since_answer_or_none(call)
    return verdict is AnsweredBy.MACHINE


def message_starts(call: Conversation, progress: Progress) -> None:
    """Note when the message begins and how long after answer (after the greeting, when a campaign
    listens for machines), on Asterisk's clock. Unreadable: None, logged; the call goes on."""
    elapsed = since_answer_or_none(call)
    progress.message_started_at = datetime.now(timezone.utc)
    if elapsed is None:
        log.warning("campaign message delay unknown: Asterisk gave no answer time (call %s)",
                    call.journal.unique_id)
        return
    elapsed -= progress.greeting_ended_after or timedelta(0)
    progress.message_delay_ms = max(0, round(elapsed.total_seconds() * 1000))


def since_answer_or_none(call: Conversation) -> timedelta | None:
    """How long ago Asterisk answered the call, on its clock; None when it cannot say (a hangup is
    still a hangup)."""
    try:
        return call.channel.time_since_answer()
    except Hangup:
        raise
    except Exception:
        log.exception("time since answer not read (call %s)", call.journal.unique_id)
        return None


def agent_free(call: Conversation) -> bool:
    """Whether an agent can take the customer now (from the database); if the check fails, the queue."""
    try:
        return campaigns.agent_free_for(call.state.customer_id, INTENT, datetime.now(timezone.utc))
    except Exception:
        log.exception("agent availability not read (call %s); the customer goes to the queue",
                      call.journal.unique_id)
        return True


def no_agent_free(call: Conversation, facts: AttemptCallFacts, progress: Progress, reason: str) -> None:
    """Nobody can take the customer: a callback on the number we called, then say so and goodbye."""
    progress.agent_unavailable = True
    call.journal.event("campaign", "no_agent_free", reason)
    outcome = request_callback(facts.number, facts.customer_id, CALLBACK_REASON, call.journal.unique_id,
                               datetime.now(timezone.utc))
    call.journal.event("callback", "merged" if outcome.merged else "requested", str(outcome.request_id))
    call.state.served = True
    call.journal.event("prompt", P.reminder_advisers_busy)
    call.channel.play(call.sounds(P.reminder_advisers_busy))  # no 0-to-agent here: there is none


def birth_year_confirmed(call: Conversation, facts: AttemptCallFacts) -> bool:
    """The customer keys their birth year; ``max_attempts`` wrong entries end in False, not a transfer."""

    def matches(entry: str) -> str | None:
        passed = entry == f"{facts.birth_year:04d}"
        call.journal.event("verification", "birth_year", "passed" if passed else "failed")
        return None if passed else P.birth_year_wrong

    try:
        call.ask(P.enter_birth_year, name="birth_year", max_digits=BIRTH_YEAR_DIGITS, check=matches, secret=True)
    except TooManyAttempts:
        call.journal.event("campaign", "result", "unverified")
        return False
    call.state.verified = True
    call.state.policy_no = facts.policy_no
    call.journal.verified()
    return True


def remind_later(call: Conversation, facts: AttemptCallFacts) -> None:
    now = datetime.now(timezone.utc)
    wanted = now + LATER[call.choose(P.remind_later_menu, "".join(LATER))]
    moment = campaigns.remind_later(facts.attempt_id, wanted, now)
    if moment is None:
        call.journal.event("campaign", "remind_later", "no_attempts_left")
        call.say(P.remind_later_impossible)
        return
    call.journal.event("campaign", "remind_later", moment.isoformat())
    call.say(P.remind_later_booked)
    call.say_date(moment.astimezone(facts.zone).date())  # the customer's local day


def already_paid(call: Conversation, facts: AttemptCallFacts) -> None:
    campaigns.report_paid(facts.policy_id, facts.cycle, facts.attempt_id, datetime.now(timezone.utc))
    call.journal.event("campaign", "reported_paid", facts.policy_no)
    call.say(P.reminder_paid_thanks)


def stop_calling(call: Conversation, facts: AttemptCallFacts) -> None:
    opt_out(facts.number, facts.customer_id, DncSource.IVR_KEY_9, datetime.now(timezone.utc), actor=IVR_ACTOR)
    call.journal.event("campaign", "opted_out", "ivr_key_9")
    call.say(P.reminder_opted_out)


RESPONSES = {REMIND_LATER: remind_later, ALREADY_PAID: already_paid, STOP_CALLING: stop_calling}


def record_outcome(call: Conversation, attempt_id: int, status: AttemptStatus, progress: Progress,
                   answered_at: datetime) -> None:
    """The attempt's one result. A result already there (the dialer's, a repeated call) is logged, not raised:
    the customer on the line matters more than the bookkeeping."""
    call.journal.event("campaign", "outcome", f"{status.value}:{progress.key or ''}")
    if progress.message_delay_ms is not None:
        call.journal.event("campaign", "message_delay_ms", str(progress.message_delay_ms))
    try:
        campaigns.record_result(attempt_id, status, progress.key, datetime.now(timezone.utc),
                                answered_at=answered_at, message_started_at=progress.message_started_at,
                                message_delay_ms=progress.message_delay_ms,
                                agent_unavailable=progress.agent_unavailable)
    except InvalidTransition as exc:
        log.warning("campaign attempt %s result not recorded (call %s): %s", attempt_id,
                    call.journal.unique_id, exc)
