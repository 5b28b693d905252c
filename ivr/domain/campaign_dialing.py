"""What the dialer reads and writes around a dial: pacing slots, due attempts, releases and stuck calls.

``ivr/domain/campaigns.py`` holds the rules and the attempt's life
(``dial_decision``, ``begin_attempt``, ``record_result``); this module holds
the few extra statements the dialer needs, each one conditional so that any
number of workers may run them at once. Nothing here knows Celery or AMI.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, case, func, select, update

from ivr.db.models import AttemptStatus, Campaign, CampaignAttempt, CampaignState
from ivr.db.session import session_scope
from ivr.domain.campaigns import REACHED, abandoned_call
from ivr.domain.errors import NotFound

__all__ = ["DialSlot", "DialTarget", "RecentCalls", "StuckAttempt", "defer_attempt", "dial_target", "dialing_count",
           "due_attempts", "mark_answered", "recent_calls", "release_attempt", "running_campaigns", "stuck_attempts",
           "take_dial_slot"]

_SLOT_TRIES = 3  # a worker that keeps losing the slot to others says "rate" and looks again shortly


@dataclass(frozen=True)
class DialTarget:
    attempt_id: int
    campaign_id: int
    number: str


@dataclass(frozen=True)
class RecentCalls:
    """A campaign's latest answered calls, for pacing by abandoned rate."""

    answered: int
    abandoned: int


@dataclass(frozen=True)
class StuckAttempt:
    attempt_id: int
    channel_id: str
    answered_at: datetime | None  # the OriginateResponse said answered


@dataclass(frozen=True)
class DialSlot:
    """A pacing slot: taken, or why not and when to look again."""

    taken: bool
    reason: str = ""  # "rate", "channels" or "not_running" when not taken
    retry_at: datetime | None = None
    at: datetime | None = None  # taken: when the call may start (now, or a moment ahead)


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


def take_dial_slot(campaign_id: int, now: datetime, interval: timedelta, ahead: timedelta,
                   wait_for_channel: timedelta, max_channels: int | None = None) -> DialSlot:
    """Reserve the campaign's next originate slot, or say why not.

    A slot starts at ``max(next_dial_at, now)`` and moves ``next_dial_at``
    one ``interval`` past that start, so while there is demand the slots
    follow each other exactly one interval apart, whenever the workers
    arrive: a worker early by up to ``ahead`` books the next free start and
    waits for it; a late one starts now. The booking is one conditional
    UPDATE on the ``next_dial_at`` just read (and on the campaign running with
    fewer than ``max_channels`` attempts dialing), so of two workers only one
    gets each slot, across processes and machines; the one that lost reads
    again. The channel count does not include slots booked and not yet
    claimed: at most the few workers inside ``ahead`` can pass it, briefly.
    """
    channels = Campaign.max_channels if max_channels is None else case(
        (Campaign.max_channels < max_channels, Campaign.max_channels), else_=max_channels)
    for _ in range(_SLOT_TRIES):
        with session_scope() as session:
            campaign = session.get(Campaign, campaign_id)
            if campaign is None:
                raise NotFound(f"no campaign {campaign_id}", "campaign_not_found")
            if campaign.state is not CampaignState.RUNNING:
                return DialSlot(False, "not_running")
            booked = campaign.next_dial_at
            start = now if booked is None or booked < now else booked
            if start - now > ahead:
                return DialSlot(False, "rate", start - ahead)
            unchanged = Campaign.next_dial_at.is_(None) if booked is None else Campaign.next_dial_at == booked
            taken = session.execute(
                update(Campaign).where(Campaign.id == campaign_id, Campaign.state == CampaignState.RUNNING, unchanged,
                                       _dialing(campaign_id).scalar_subquery() < channels)
                .values(next_dial_at=start + interval).execution_options(synchronize_session=False)).rowcount
            if taken == 1:
                return DialSlot(True, at=start)
            session.expire_all()
            if session.scalar(select(Campaign.next_dial_at).where(Campaign.id == campaign_id)) == booked:
                return DialSlot(False, "channels", now + wait_for_channel)  # not a race: no channel free
    return DialSlot(False, "rate", now + interval)  # lost every try to busier workers: look again shortly


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
                                                             started_at=None, dialled_via="")
            .execution_options(synchronize_session=False)).rowcount == 1


def stuck_attempts(started_before: datetime, dialled_via: str | None = None, limit: int = 500) -> list[StuckAttempt]:
    """Attempts dialing since before ``started_before``, oldest first; with ``dialled_via``, only those
    dialled through that server (and those that name none, dialled before servers were named): another
    server's channels are unknown to this one's AMI."""
    via = [] if dialled_via is None else [CampaignAttempt.dialled_via.in_((dialled_via, ""))]
    with session_scope() as session:
        rows = session.execute(select(CampaignAttempt.id, CampaignAttempt.channel_id, CampaignAttempt.answered_at)
                               .where(CampaignAttempt.status == AttemptStatus.DIALING,
                                      CampaignAttempt.started_at < started_before, *via)
                               .order_by(CampaignAttempt.started_at, CampaignAttempt.id).limit(limit)).all()
    return [StuckAttempt(row.id, row.channel_id or "", row.answered_at) for row in rows]


def mark_answered(attempt_id: int, now: datetime) -> bool:
    """Note that the customer answered (the OriginateResponse said so) while the call is still dialing.

    The outbound flow records the result; if it never does (the FastAGI server was down), reconciliation
    closes the attempt as answered with no message: an abandoned call.
    """
    with session_scope() as session:
        return session.execute(update(CampaignAttempt).where(
            CampaignAttempt.id == attempt_id, CampaignAttempt.status == AttemptStatus.DIALING,
            CampaignAttempt.answered_at.is_(None)).values(answered_at=now)
            .execution_options(synchronize_session=False)).rowcount == 1


def recent_calls(campaign_id: int, since: datetime, limit: int) -> RecentCalls:
    """The campaign's latest ``limit`` answered calls that ended at or after ``since``, and how many of
    them were abandoned (``campaigns.abandoned_call``, the one definition)."""
    with session_scope() as session:
        latest = (select(CampaignAttempt.id, case((abandoned_call(), 1), else_=0).label("abandoned"))
                  .where(CampaignAttempt.campaign_id == campaign_id, CampaignAttempt.status.in_(REACHED),
                         CampaignAttempt.ended_at >= since)
                  .order_by(CampaignAttempt.ended_at.desc(), CampaignAttempt.id.desc()).limit(limit).subquery())
        answered, abandoned = session.execute(select(func.count(), func.coalesce(func.sum(latest.c.abandoned), 0))
                                              .select_from(latest)).one()
    return RecentCalls(int(answered), int(abandoned))


def _dialing(campaign_id: int) -> Select[tuple[int]]:
    return select(func.count()).select_from(CampaignAttempt).where(
        CampaignAttempt.campaign_id == campaign_id, CampaignAttempt.status == AttemptStatus.DIALING)
