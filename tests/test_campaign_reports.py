"""The campaign page's timeline: calls started per hour, by how they ended, hours without calls included."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ivr.db.models import AttemptStatus, CampaignAttempt, CampaignState
from ivr.db.session import session_scope
from ivr.domain import campaign_reports, campaigns
from ivr.domain.campaigns import CampaignSpec
from ivr.domain.errors import NotFound, ValidationError
from ivr.testing.campaign_attempts import attempt_ids, call
from ivr.testing.small_book import SmallBook

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai, inside the window


def _planned_campaign(name: str = "due") -> list[int]:
    """A running campaign with its first attempts planned; their ids (one per small-book policy)."""
    campaign_id = campaigns.create_campaign(CampaignSpec(name=name, message="premium due", due_within_days=30),
                                            "tester", NOW).id
    campaigns.start_campaign(campaign_id, NOW)
    campaigns.plan_attempts(campaign_id, NOW)
    return attempt_ids(campaign_id)


def _campaign_of(attempt_id: int) -> int:
    with session_scope() as session:
        attempt = session.get(CampaignAttempt, attempt_id)
        assert attempt is not None
        return attempt.campaign_id


def test_calls_count_in_the_hour_they_started_by_their_status_now(small_book: SmallBook) -> None:
    first, second, third = _planned_campaign()
    call(first, NOW + timedelta(minutes=5), AttemptStatus.ANSWERED, "1")
    call(second, NOW + timedelta(minutes=59, seconds=59), AttemptStatus.BUSY)
    call(third, NOW + timedelta(hours=2, minutes=1), None)

    timeline = campaign_reports.calls_by_hour(_campaign_of(first), NOW + timedelta(hours=2, minutes=30), 4)

    assert [slot.hour for slot in timeline.hours] == [NOW - timedelta(hours=1) + n * timedelta(hours=1)
                                                     for n in range(4)]
    assert [slot.by_status for slot in timeline.hours] == [{}, {"answered": 1, "busy": 1}, {}, {"dialing": 1}]
    assert [slot.total for slot in timeline.hours] == [0, 2, 0, 1]
    assert (timeline.first, timeline.last) == (NOW - timedelta(hours=1), NOW + timedelta(hours=2))


def test_calls_outside_the_hours_asked_for_and_undialled_attempts_are_left_out(small_book: SmallBook) -> None:
    first, second, third = _planned_campaign()
    call(first, NOW - timedelta(hours=3), AttemptStatus.NO_ANSWER)  # before the first hour
    call(second, NOW + timedelta(hours=1), AttemptStatus.ANSWERED)  # after the last
    campaigns.skip_attempt(third, "do_not_call", NOW)

    timeline = campaign_reports.calls_by_hour(_campaign_of(first), NOW + timedelta(minutes=59), 2)

    assert [slot.total for slot in timeline.hours] == [0, 0]


def test_another_campaigns_calls_are_not_counted(small_book: SmallBook) -> None:
    mine = _planned_campaign("mine")
    call(mine[0], NOW, AttemptStatus.ANSWERED)
    other_campaign = campaigns.create_campaign(CampaignSpec(name="other", message="m", include_grace=True),
                                               "tester", NOW).id

    assert campaign_reports.calls_by_hour(other_campaign, NOW, 1).hours[0].by_status == {}
    assert campaign_reports.calls_by_hour(_campaign_of(mine[0]), NOW, 1).hours[0].by_status == {"answered": 1}


def test_an_unknown_campaign_or_a_silly_span_is_refused(database_url: str) -> None:
    with pytest.raises(NotFound) as unknown:
        campaign_reports.calls_by_hour(404, NOW, 24)
    assert unknown.value.error_id == "campaign_not_found"
    for hours in (0, campaign_reports.MAX_TIMELINE_HOURS + 1):
        with pytest.raises(ValidationError) as refused:
            campaign_reports.calls_by_hour(404, NOW, hours)
        assert refused.value.error_id == "invalid_hours"


def test_the_moves_offered_follow_the_campaigns_state() -> None:
    assert campaign_reports.campaign_moves(CampaignState.DRAFT) == ("start", "stop")
    assert campaign_reports.campaign_moves(CampaignState.RUNNING) == ("pause", "stop")
    assert campaign_reports.campaign_moves(CampaignState.PAUSED) == ("start", "stop")
    assert campaign_reports.campaign_moves(CampaignState.STOPPED) == ()
