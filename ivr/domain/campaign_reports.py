"""Read-only figures of campaigns for the console's campaign page (docs/console.md, "The campaign page").

``campaign_figures`` (ivr/domain/campaigns.py) gives a campaign's totals;
this module adds what the page charts over time: the calls started each hour,
by how they ended so far. Counting is done by the database (GROUP BY the
hour), so a campaign of many thousand attempts costs one small result set.
Nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from ivr.db.models import AttemptStatus, Campaign, CampaignAttempt, CampaignState
from ivr.db.session import session_scope
from ivr.domain import campaigns
from ivr.domain.errors import NotFound, ValidationError

__all__ = ["HourOfCalls", "MAX_TIMELINE_HOURS", "Timeline", "campaign_moves", "calls_by_hour"]

MAX_TIMELINE_HOURS = 24 * 14
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class HourOfCalls:
    """Calls started in one hour (UTC, from ``hour`` for an hour), by their status now."""

    hour: datetime
    by_status: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


@dataclass(frozen=True)
class Timeline:
    """Every hour from ``first`` to ``last`` (both included), hours without calls too, oldest first."""

    campaign_id: int
    first: datetime
    last: datetime
    hours: tuple[HourOfCalls, ...]


def calls_by_hour(campaign_id: int, until: datetime, hours: int) -> Timeline:
    """The campaign's calls started in the ``hours`` hours up to ``until``'s hour, per hour and status.

    A call counts in the hour its dial began (``started_at``); its status is
    where it stands now (``dialing`` while it rings or talks). Planned and
    skipped attempts were never dialled, so they are not here: the figures
    count them.
    """
    if not 1 <= hours <= MAX_TIMELINE_HOURS:
        raise ValidationError(f"hours must be 1 to {MAX_TIMELINE_HOURS}, not {hours}", "invalid_hours")
    last = until.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    first = last - (hours - 1) * HOUR
    counts: dict[datetime, dict[str, int]] = {}
    with session_scope() as session:
        if session.get(Campaign, campaign_id) is None:
            raise NotFound(f"no campaign {campaign_id}", "campaign_not_found")
        hour = _hour_of(session, CampaignAttempt.started_at).label("hour")
        rows = session.execute(
            select(hour, CampaignAttempt.status, func.count())
            .where(CampaignAttempt.campaign_id == campaign_id, CampaignAttempt.started_at >= first,
                   CampaignAttempt.started_at < last + HOUR)
            .group_by(hour, CampaignAttempt.status))
        for started, status, count in rows:
            counts.setdefault(_as_utc_hour(started), {})[AttemptStatus(status).value] = count
    slots = tuple(HourOfCalls(first + n * HOUR, counts.get(first + n * HOUR, {})) for n in range(hours))
    return Timeline(campaign_id, first, last, slots)


def campaign_moves(state: CampaignState) -> tuple[str, ...]:
    """The moves (start, pause, stop) the campaign's state allows, in that order, for the page's buttons.

    The rule is the domain's own table (read here rather than copied); the
    move itself checks it again (InvalidTransition), so a page left open
    cannot do what is no longer allowed.
    """
    return tuple(move for move, (allowed, _) in campaigns._TRANSITIONS.items() if state in allowed)


def _hour_of(session: Session, moment: ColumnElement[Any]) -> ColumnElement[Any]:
    """SQL for the UTC hour a timestamp falls in, on PostgreSQL (timestamptz) and SQLite (UTC text)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("hour", func.timezone("UTC", moment))
    return func.strftime("%Y-%m-%d %H:00:00", moment)


def _as_utc_hour(value: datetime | str) -> datetime:
    """The hour from either database as an aware UTC datetime (SQLite gives text, PostgreSQL a naive UTC time)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
