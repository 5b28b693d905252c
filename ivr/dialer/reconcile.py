"""Closing attempts whose outcome never arrived: the worker died, AMI dropped, Asterisk restarted.

An attempt still ``dialing`` ``campaign_reconcile_seconds`` after its
Originate is looked up in Asterisk by its ChannelId (``Status``, which the
``hotline`` manager user may run). A channel that still exists is a call in
progress (an answered reminder lasts minutes): it is left alone. One that does
not is over, and nobody recorded how: the attempt is closed as ``failed``, or,
when the OriginateResponse said the customer answered (``answered_at`` is
set), as ``answered`` with no message: the flow never spoke (the FastAGI
server was down), an abandoned call (``campaigns.abandoned_call``).
The same attempt is never dialed again; ``failed`` is not retried, so a
customer whose call was lost this way is next called in a later cycle or by a
retry another result planned. When AMI is down nothing is closed: the next run
tries again. With several Asterisks a run asks only its own (``dialled_via``) about the attempts
dialled through it: another Asterisk's live call is no channel here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from ivr.domain import campaign_dialing, campaigns
from ivr.domain.campaigns import AttemptStatus
from ivr.domain.errors import InvalidTransition
from ivr.telephony.errors import AmiError
from ivr.telephony.queues import QueueControl

__all__ = ["Reconciled", "reconcile_attempts"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reconciled:
    checked: int
    closed: int  # no channel left: closed as failed
    in_call: int  # the channel still exists
    ami_down: bool  # the run stopped early: AMI did not answer


def reconcile_attempts(now: datetime, ami: QueueControl, after: timedelta,
                       dialled_via: str | None = None) -> Reconciled:
    """Close the attempts dialing since before ``now - after`` whose channel Asterisk no longer has;
    only those dialled through ``dialled_via`` (the Asterisk ``ami`` reaches) when given."""
    checked = closed = in_call = 0
    for stuck in campaign_dialing.stuck_attempts(now - after, dialled_via):
        attempt_id, channel_id = stuck.attempt_id, stuck.channel_id
        try:
            alive = bool(channel_id) and ami.channel_exists(channel_id)
        except AmiError as error:
            log.warning("reconciliation stopped, AMI did not answer: attempt=%d error=%s", attempt_id, error)
            return Reconciled(checked, closed, in_call, ami_down=True)
        checked += 1
        if alive:
            in_call += 1
            continue
        status = AttemptStatus.FAILED if stuck.answered_at is None else AttemptStatus.ANSWERED
        try:
            campaigns.record_result(attempt_id, status, None, now, answered_at=stuck.answered_at)
        except InvalidTransition:  # its result came in meanwhile
            continue
        closed += 1
        log.warning("campaign attempt closed by reconciliation, no channel left: attempt=%d channel_id=%s "
                    "status=%s", attempt_id, channel_id, status.value)
    return Reconciled(checked, closed, in_call, ami_down=False)
