"""Campaign attempts for the campaign page's tests: their ids, and calls made through the domain as the dialer would."""

from __future__ import annotations

from datetime import datetime, timedelta

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
