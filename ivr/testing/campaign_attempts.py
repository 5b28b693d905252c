"""Campaign attempts for the campaign tests: their ids, calls made through the domain as the dialer would, and
a time zone in which it is noon, inside any calling window."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from ivr.db.models import AttemptStatus, CampaignAttempt
from ivr.db.session import session_scope
from ivr.domain import campaigns


def attempt_ids(campaign_id: int) -> list[int]:
    """The campaign's attempts, oldest first."""
    with session_scope() as session:
        return list(session.scalars(select(CampaignAttempt.id).where(CampaignAttempt.campaign_id == campaign_id)
                                    .order_by(CampaignAttempt.id)))


def call(attempt_id: int, at: datetime, status: AttemptStatus | None, key: str | None = None) -> None:
    """Dial the attempt at ``at`` and record ``status`` and ``key`` 30 s later (None: still ringing or talking)."""
    assert campaigns.begin_attempt(attempt_id, f"chan-{attempt_id}", at)
    if status is not None:
        campaigns.record_result(attempt_id, status, key, at + timedelta(seconds=30))


def noon_zone(now: datetime) -> str:
    """An IANA zone (Etc/GMT±N) in which ``now`` is between 12:00 and 13:00 local time."""
    offset = 12 - now.astimezone(timezone.utc).hour  # -11 .. +12
    return f"Etc/GMT{-offset:+d}" if offset else "UTC"  # Etc/GMT-8 is UTC+8
