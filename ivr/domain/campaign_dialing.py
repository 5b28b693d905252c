"""What the dialer reads and writes around a dial: pacing slots, due attempts, releases and stuck calls.

``ivr/domain/campaigns.py`` holds the rules and the attempt's life
(``dial_decision``, ``begin_attempt``, ``record_result``); this module holds
the few extra statements the dialer needs, each one conditional so that any
number of workers may run them at once. Nothing here knows Celery or AMI.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, func, or_, select, update

from ivr.db.models import AttemptStatus, Campaign, CampaignAttempt, CampaignState
from ivr.db.session import session_scope
from ivr.domain.errors import NotFound

__all__ = ["DialSlot", "DialTarget", "defer_attempt", "dial_target", "dialing_count", "due_attempts",
           "release_attempt", "running_campaigns", "stuck_attempts", "take_dial_slot"]


@dataclass(frozen=True)
class DialTarget:
    attempt_id: int
    campaign_id: int
    number: str


@dataclass(frozen=True)
class DialSlot:
    """A pacing slot: taken, or why not and when to look again."""

    taken: bool
    reason: str = ""  # "rate", "channels" or "not_running" when not taken
    retry_at: datetime | None = None


def running_campaigns() -> list[int]:
    with session_scope() as session:
        return list(session.scalars(select(Campaign.id).where(Campaign.state == CampaignState.RUNNING)
                                    .order_by(Campaign.id)))


def dial_target(attempt_id: int) -> DialTarget:
    with session_scope() as session:
        attempt = session.get(CampaignAttempt, attempt_id)
        if attempt is None:
            raise NotFound(f"no campaign attempt {attempt_id}", "attempt_not_found")
        return DialTarget(attempt.id, attempt.campaign_id, attempt.number)


def dialing_count(campaign_id: int) -> int:
    """Attempts of the campaign in ``dialing``: ringing, or answered and not yet ended (the flow ends them)."""
    with session_scope() as session:
        return session.scalar(_dialing(campaign_id)) or 0


def take_dial_slot(campaign_id: int, now: datetime, interval: timedelta, wait_for_channel: timedelta) -> DialSlot:
    """Take the campaign's next originate slot, or say why not.

    One conditional UPDATE: the campaign is running, its ``next_dial_at`` is
    unset or past, and fewer than ``max_channels`` of its attempts are
    dialing; it sets ``next_dial_at = now + interval``. Of two workers only one
    takes a slot, so the rate holds across processes and machines. The next
    slot counts from ``now``, never from an earlier slot, so a late worker
    never catches up with a burst.
    """
    with session_scope() as session:
        taken = session.execute(
            update(Campaign).where(Campaign.id == campaign_id, Campaign.state == CampaignState.RUNNING,
                                   or_(Campaign.next_dial_at.is_(None), Campaign.next_dial_at <= now),
                                   _dialing(campaign_id).scalar_subquery() < Campaign.max_channels)
            .values(next_dial_at=now + interval).execution_options(synchronize_session=False)).rowcount
        if taken == 1:
            return DialSlot(True)
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise NotFound(f"no campaign {campaign_id}", "campaign_not_found")
        if campaign.state is not CampaignState.RUNNING:
            return DialSlot(False, "not_running")
        if campaign.next_dial_at is not None and campaign.next_dial_at > now:
            return DialSlot(False, "rate", campaign.next_dial_at)
        return DialSlot(False, "channels", now + wait_for_channel)


def due_attempts(campaign_id: int, now: datetime, limit: int) -> list[int]:
    """Up to ``limit`` planned attempts whose ``not_before`` has come, oldest first."""
    if limit <= 0:
        return []
    with session_scope() as session:
        return list(session.scalars(
            select(CampaignAttempt.id).where(CampaignAttempt.campaign_id == campaign_id,
                                             CampaignAttempt.status == AttemptStatus.PLANNED,
                                             CampaignAttempt.not_before <= now)
            .order_by(CampaignAttempt.not_before, CampaignAttempt.id).limit(limit)))


def defer_attempt(attempt_id: int, until: datetime) -> bool:
    """Move a planned attempt's ``not_before`` to ``until`` (the window opens, the gap ends), so the
    tick stops offering it before then. ``dial_decision`` reads the same column, so this changes no rule."""
    with session_scope() as session:
        return session.execute(update(CampaignAttempt).where(
            CampaignAttempt.id == attempt_id, CampaignAttempt.status == AttemptStatus.PLANNED,
            CampaignAttempt.not_before < until).values(not_before=until)
            .execution_options(synchronize_session=False)).rowcount == 1


def release_attempt(attempt_id: int, channel_id: str) -> bool:
    """Put back to ``planned`` an attempt claimed as ``channel_id`` whose Originate was never sent.

    Only for an action that never left the process (``AmiNotSent``): the
    customer's phone cannot have rung, so dialing it later is the first call,
    not a second. Conditional on the channel id, so only the claimer releases.
    """
    with session_scope() as session:
        return session.execute(update(CampaignAttempt).where(
            CampaignAttempt.id == attempt_id, CampaignAttempt.status == AttemptStatus.DIALING,
            CampaignAttempt.channel_id == channel_id).values(status=AttemptStatus.PLANNED, channel_id=None,
                                                             started_at=None)
            .execution_options(synchronize_session=False)).rowcount == 1


def stuck_attempts(started_before: datetime, limit: int = 500) -> list[tuple[int, str]]:
    """(attempt id, channel id) of attempts dialing since before ``started_before``, oldest first."""
    with session_scope() as session:
        rows = session.execute(select(CampaignAttempt.id, CampaignAttempt.channel_id).where(
            CampaignAttempt.status == AttemptStatus.DIALING, CampaignAttempt.started_at < started_before)
            .order_by(CampaignAttempt.started_at, CampaignAttempt.id).limit(limit)).all()
    return [(row.id, row.channel_id or "") for row in rows]


def _dialing(campaign_id: int) -> Select[tuple[int]]:
    return select(func.count()).select_from(CampaignAttempt).where(
        CampaignAttempt.campaign_id == campaign_id, CampaignAttempt.status == AttemptStatus.DIALING)
