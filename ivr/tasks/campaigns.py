"""Campaign tasks: beat runs ``plan_campaigns``, ``campaign_tick`` and ``reconcile_attempts``; the tick
enqueues ``dial_attempt``.

Planning (the full selection of every running campaign) runs on its own,
slower schedule (``campaign_plan_minutes``), so a running campaign picks up
each day what has fallen due: the daily renewal campaign. A campaign is also
planned at once when it is started (``ivr campaigns start``, the campaign
page). The tick only enqueues the due attempts pacing allows.

Every task takes ids (JSON) and is safe to run twice: ``dial_attempt`` claims
its attempt with ``begin_attempt`` (one conditional UPDATE, committed before
the Originate), so a redelivery (``task_acks_late``), a second worker or a
second beat finds it claimed and dials nothing. Countdowns are within one
tick, far below Redis's visibility timeout (``broker_visibility_timeout``).

AMI inside a worker: one ``AmiLink`` per worker process, made on first use
(after the fork) and kept; it logs in again by itself after a drop, and each
login enqueues a reconciliation. While it is down, an Originate is not sent
(``AmiNotSent``): the attempt goes back to planned and the next tick offers it
again.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

from celery import Task, shared_task

from ivr.config import get_settings
from ivr.db.models import utcnow
from ivr.tasks import CAMPAIGN_TICK, PLAN_CAMPAIGNS, RECONCILE_ATTEMPTS
from ivr.dialer import pacing
from ivr.dialer.dial import await_result, dial_attempt as dial_one, dialled_via
from ivr.dialer.reconcile import reconcile_attempts as reconcile
from ivr.domain import campaign_dialing, campaigns
from ivr.domain.errors import InvalidTransition
from ivr.telephony.ami_link import AmiLink
from ivr.telephony.queues import QueueControl

log = logging.getLogger(__name__)

DIAL_ATTEMPT = "hotline.dial_attempt"
FIRST_LOGIN_WAIT_S = 5.0  # a fresh worker waits this long for its first AMI login before dialing

clock = utcnow  # the tasks' time; tests set a fixed one
_control: QueueControl | None = None
_control_lock = threading.Lock()


def worker_ami() -> QueueControl:
    """The worker process's AMI link (queue control over it), started on first use and kept."""
    global _control
    with _control_lock:
        if _control is None:
            link = AmiLink(get_settings())
            link.on_connected(lambda: reconcile_attempts.delay())
            link.start()
            deadline = time.monotonic() + FIRST_LOGIN_WAIT_S
            while not link.status().connected and time.monotonic() < deadline:
                time.sleep(0.1)
            _control = QueueControl(link)
        return _control


@shared_task(name=PLAN_CAMPAIGNS, bind=True)
def plan_campaigns(self: Task) -> dict[str, int]:
    """Select what has fallen due for every running campaign: new first attempts (idempotent)."""
    now = clock()
    planned: dict[str, int] = {}
    for campaign_id in campaign_dialing.running_campaigns():
        try:
            counts = campaigns.plan_attempts(campaign_id, now)
        except InvalidTransition:  # stopped meanwhile
            continue
        planned[str(campaign_id)] = counts.planned
        log.info("campaign planned: campaign=%d selected=%d planned=%d already_planned=%d task_id=%s",
                 campaign_id, counts.selected, counts.planned, counts.already_planned, self.request.id)
    return planned


@shared_task(name=CAMPAIGN_TICK, bind=True)
def campaign_tick(self: Task) -> dict[str, Any]:
    """Enqueue every running campaign's due attempts, as many as its pacing (and throttle) allows now."""
    settings, now = get_settings(), clock()
    enqueued: dict[str, int] = {}
    for campaign_id in campaign_dialing.running_campaigns():
        campaign = campaigns.get_campaign(campaign_id)
        limits = pacing.campaign_throttle(campaign, now)
        count = pacing.batch_size(limits.max_channels, campaign_dialing.dialing_count(campaign_id),
                                  limits.calls_per_second, settings.campaign_tick_seconds)
        due = campaign_dialing.due_attempts(campaign_id, now, count)
        if limits.mode != "full":
            log.warning("campaign slowed by its abandoned rate: campaign=%d rate=%.4f mode=%s channels=%d cps=%.3f",
                        campaign_id, limits.abandoned_rate, limits.mode, limits.max_channels,
                        limits.calls_per_second)
        for attempt_id, countdown in zip(due, pacing.countdowns(len(due), limits.calls_per_second)):
            # Not run within the tick (workers behind): dropped, since the next tick offers it again.
            dial_attempt.apply_async((attempt_id,), countdown=countdown,
                                     expires=countdown + settings.campaign_tick_seconds)
        enqueued[str(campaign_id)] = len(due)
    log.info("campaign tick: enqueued=%s task_id=%s", enqueued, self.request.id)
    return enqueued


@shared_task(name=DIAL_ATTEMPT, bind=True)
def dial_attempt(self: Task, attempt_id: int) -> dict[str, Any]:
    """Dial one attempt if the rules and pacing allow it now, then record a call not answered.

    Redelivered, it finds the attempt claimed and returns ``skipped``
    (``already_dialing``) without dialing.
    """
    ami = worker_ami()
    outcome = dial_one(attempt_id, clock(), ami)
    result = None
    if outcome.action == "originated":
        status = await_result(outcome, ami, clock)
        result = status.value if status else None
    log.info("dial attempt: attempt=%d action=%s reason=%s channel_id=%s result=%s task_id=%s",
             attempt_id, outcome.action, outcome.reason, outcome.channel_id, result, self.request.id)
    return {"attempt_id": attempt_id, "action": outcome.action, "reason": outcome.reason,
            "channel_id": outcome.channel_id, "result": result,
            "retry_at": outcome.retry_at.isoformat() if outcome.retry_at else None}


@shared_task(name=RECONCILE_ATTEMPTS, bind=True)
def reconcile_attempts(self: Task) -> dict[str, Any]:
    """Close attempts left dialing whose channel this worker's Asterisk no longer has (by ChannelId)."""
    settings = get_settings()
    done = reconcile(clock(), worker_ami(), timedelta(seconds=settings.campaign_reconcile_seconds),
                     dialled_via(settings))
    log.info("campaign reconciliation: checked=%d closed=%d in_call=%d ami_down=%s task_id=%s",
             done.checked, done.closed, done.in_call, done.ami_down, self.request.id)
    return {"checked": done.checked, "closed": done.closed, "in_call": done.in_call, "ami_down": done.ami_down}
