"""Dialing one campaign attempt: the dial-time rules, a pacing slot, the claim, the Originate, the outcome.

Exactly once: ``begin_attempt`` (planned -> dialing with a fresh ChannelId,
one conditional UPDATE) is committed *before* the Originate is sent. A
redelivered task, a second worker or a second beat finds the attempt no longer
planned and returns without dialing.

AMI faults: an Originate that never left this process (``AmiNotSent``: the
link was down) is released back to ``planned`` (the phone cannot have rung),
and the next tick offers it again. Any other fault after the claim (the link
dropped mid-action, no reply, no OriginateResponse) leaves the attempt in
``dialing``: the Originate may have gone out, so it is never sent again;
``reconcile`` asks Asterisk by ChannelId later and closes it.

When the call is answered the outbound flow (``CAMPAIGN_ATTEMPT`` channel
variable) records the result (the answer is noted here first, see
``await_result``); when it is not, ``await_result`` records the
OriginateResponse's reason (busy, no answer, ...), which plans a retry as a new
attempt row per ``campaigns.retry_after``.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ivr.config import Settings, get_settings
from ivr.dialer import pacing
from ivr.domain import campaign_dialing, campaigns
from ivr.domain.campaigns import AttemptStatus, DialAction
from ivr.domain.errors import InvalidTransition
from ivr.telephony.errors import AmiError, AmiNotSent
from ivr.telephony.queues import QueueControl

__all__ = ["ATTEMPT_VARIABLE", "OUTBOUND_CONTEXT", "OUTBOUND_EXTEN", "DialOutcome", "await_result",
           "dial_attempt", "dialled_via", "outbound_channel", "result_for_reason"]

log = logging.getLogger(__name__)

OUTBOUND_CONTEXT, OUTBOUND_EXTEN = "hotline-outbound", "s"  # asterisk-conf/extensions.conf
ATTEMPT_VARIABLE = "CAMPAIGN_ATTEMPT"  # read by the renewal_reminder flow
NUMBER_VARIABLE = "CAMPAIGN_NUMBER"  # [hotline-outbound] makes it the channel's caller id once answered
OUTCOME_MARGIN_S = 10  # wait this long past the ring time for the OriginateResponse
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
# OriginateResponse reasons (queues.ORIGINATE_REASONS) for a call that was not answered.
_UNANSWERED = {"busy": AttemptStatus.BUSY, "no answer": AttemptStatus.NO_ANSWER,
               "hung up": AttemptStatus.NO_ANSWER,  # rejected while ringing
               "congestion": AttemptStatus.CONGESTION, "failed": AttemptStatus.FAILED}
# Q.850 hangup causes (Asterisk's causes.h) of a call not answered. An unallocated or malformed number
# is never dialled again; busy, unanswered and congested calls are retried (campaigns.retry_after).
_BY_CAUSE = {17: AttemptStatus.BUSY,  # user busy (SIP 486, 600)
             18: AttemptStatus.NO_ANSWER, 19: AttemptStatus.NO_ANSWER,  # no response, no answer (408, 480)
             21: AttemptStatus.NO_ANSWER,  # rejected by the customer (603)
             1: AttemptStatus.INVALID_NUMBER, 3: AttemptStatus.INVALID_NUMBER,  # unallocated (404), no route
             22: AttemptStatus.INVALID_NUMBER, 28: AttemptStatus.INVALID_NUMBER,  # number changed (410), bad format (484)
             34: AttemptStatus.CONGESTION, 38: AttemptStatus.CONGESTION,  # circuit congestion, network out of order
             41: AttemptStatus.CONGESTION, 42: AttemptStatus.CONGESTION}  # temporary failure (503), switch congestion


@dataclass(frozen=True)
class DialOutcome:
    """What ``dial_attempt`` did: ``originated``, ``skipped``, ``wait``, ``hold``, ``paced``, ``lost_race``,
    ``ami_down`` (released, dial later) or ``unknown`` (left dialing for reconciliation)."""

    attempt_id: int
    action: str
    reason: str = ""
    retry_at: datetime | None = None  # wait, paced, ami_down: look again then
    channel_id: str = ""
    action_id: str = ""  # the Originate's ActionID, for await_result


def outbound_channel(number: str, trunk: str) -> str:
    """``PJSIP/<E.164>@<trunk>``; ValueError for anything but ``+`` and 7 to 15 digits."""
    if not _E164.match(number):
        raise ValueError(f"number {number!r} is not E.164 (+ and 7 to 15 digits)")
    return f"PJSIP/{number}@{trunk}"


def dialled_via(settings: Settings) -> str:
    """The Asterisk an attempt is dialled through, as the attempt records it: this worker's AMI address
    (``asterisk_host:ami_port``). With several Asterisks each worker has its own (docs/deployment.md);
    every worker of one Asterisk must name it by the same address, since reconciliation goes by it."""
    return f"{settings.asterisk_host}:{settings.ami_port}"


def new_channel_id() -> str:
    """A fresh AMI ChannelId: Asterisk takes it as the new channel's uniqueid."""
    return str(uuid.uuid4())


def dial_attempt(attempt_id: int, now: datetime, ami: QueueControl, settings: Settings | None = None,
                 make_channel_id: Callable[[], str] = new_channel_id,
                 sleep: Callable[[float], None] = time.sleep) -> DialOutcome:
    """Dial a planned attempt if every rule allows it now; at most once, whoever else tries.

    The pacing slot may start a moment after ``now`` (``pacing.BOOK_AHEAD``): the call waits for it,
    counted from when this was called.
    """
    began = time.monotonic()
    settings = settings or get_settings()
    decision = campaigns.dial_decision(attempt_id, now)
    if decision.action is DialAction.SKIP:
        campaigns.skip_attempt(attempt_id, decision.reason, now)  # conditional: no-op when not planned
        return DialOutcome(attempt_id, "skipped", decision.reason)
    if decision.action is DialAction.HOLD:
        return DialOutcome(attempt_id, "hold", decision.reason)
    if decision.action is DialAction.WAIT:
        assert decision.wait_until is not None
        campaign_dialing.defer_attempt(attempt_id, decision.wait_until)
        return DialOutcome(attempt_id, "wait", decision.reason, decision.wait_until)
    target = campaign_dialing.dial_target(attempt_id)
    try:
        channel = outbound_channel(target.number, settings.outbound_trunk)
    except ValueError:
        campaigns.skip_attempt(attempt_id, "invalid_number", now)
        return DialOutcome(attempt_id, "skipped", "invalid_number")
    slot = pacing.take_slot(campaigns.get_campaign(target.campaign_id), now)
    if not slot.taken:
        return DialOutcome(attempt_id, "paced", slot.reason, slot.retry_at)
    assert slot.at is not None
    channel_id = make_channel_id()
    if not campaigns.begin_attempt(attempt_id, channel_id, slot.at, dialled_via(settings)):
        return DialOutcome(attempt_id, "lost_race", "already claimed")
    # Claimed first, then the wait: the Originate leaves at its slot, not a database round trip after it.
    sleep(max(0.0, (slot.at - now).total_seconds() - (time.monotonic() - began)))
    return _originate(target, channel, channel_id, slot.at, ami, settings)


def _originate(target: campaign_dialing.DialTarget, channel: str, channel_id: str, now: datetime,
               ami: QueueControl, settings: Settings) -> DialOutcome:
    attempt_id = target.attempt_id
    try:
        action_id = ami.originate(channel, OUTBOUND_CONTEXT, OUTBOUND_EXTEN, settings.outbound_caller_id,
                                  {ATTEMPT_VARIABLE: str(attempt_id), NUMBER_VARIABLE: target.number},
                                  timeout_s=settings.campaign_ring_seconds,
                                  channel_id=channel_id)
    except AmiNotSent as error:
        released = campaign_dialing.release_attempt(attempt_id, channel_id)
        log.warning("campaign originate not sent, attempt released: attempt=%d campaign=%d released=%s error=%s",
                    attempt_id, target.campaign_id, released, error)
        return DialOutcome(attempt_id, "ami_down", str(error), now + pacing.CHANNEL_WAIT)
    except AmiError as error:
        log.error("campaign originate outcome unknown, left dialing for reconciliation: attempt=%d campaign=%d "
                  "channel_id=%s error=%s", attempt_id, target.campaign_id, channel_id, error)
        return DialOutcome(attempt_id, "unknown", str(error), channel_id=channel_id)
    log.info("campaign originate sent: attempt=%d campaign=%d channel_id=%s action_id=%s",
             attempt_id, target.campaign_id, channel_id, action_id)
    return DialOutcome(attempt_id, "originated", channel_id=channel_id, action_id=action_id)


def result_for_reason(reason: str, cause: int | None = None) -> AttemptStatus:
    """The attempt's result for a call not answered: by its hangup cause when Asterisk gave one (a busy
    line's OriginateResponse says only "failed"), else by the OriginateResponse reason; unknown: failed."""
    return _BY_CAUSE.get(cause or 0) or _UNANSWERED.get(reason, AttemptStatus.FAILED)


def await_result(outcome: DialOutcome, ami: QueueControl, clock: Callable[[], datetime],
                 settings: Settings | None = None) -> AttemptStatus | None:
    """Wait for an originated attempt's OriginateResponse; record it when the call was not answered.

    None when answered (the flow records the result; the answer is noted on the
    attempt, so that reconciliation counts it as answered if the flow never
    does) or when no outcome came (left dialing: reconciliation closes it).
    """
    settings = settings or get_settings()
    try:
        result = ami.await_originate(outcome.action_id, timeout=settings.campaign_ring_seconds + OUTCOME_MARGIN_S)
    except AmiError as error:
        log.warning("no OriginateResponse, left dialing for reconciliation: attempt=%d channel_id=%s error=%s",
                    outcome.attempt_id, outcome.channel_id, error)
        return None
    if result.success:
        campaign_dialing.mark_answered(outcome.attempt_id, clock())
        return None
    status = result_for_reason(result.reason, result.cause)
    try:
        recorded = campaigns.record_result(outcome.attempt_id, status, None, clock())
    except InvalidTransition:  # reconciliation (or the flow) got there first
        return None
    log.info("campaign call not answered: attempt=%d channel_id=%s reason=%s cause=%s status=%s retry=%s",
             outcome.attempt_id, outcome.channel_id, result.reason, result.cause, status.value,
             recorded.retry_attempt_id)
    return status
