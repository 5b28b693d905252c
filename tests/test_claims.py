"""First notice of loss: saved from the first step, checked dates, numbers unique under load."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timezone

import pytest

from ivr.db.models import ClaimStatus, IncidentType, ProductLine
from ivr.domain import claims
from ivr.domain.errors import InvalidTransition, NotFound, ValidationError
from ivr.testing.small_book import SmallBook

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=timezone.utc)
TODAY = NOW.date()


def _open(book: SmallBook, policy_no: str | None = None) -> str:
    return claims.open_claim(policy_no or book.motor_policy, book.customer_id, "1700000001.1", NOW).claim_no


def test_incident_types_are_in_keypad_order_per_product_line() -> None:
    assert claims.incident_types_for(ProductLine.MOTOR) == [
        IncidentType.COLLISION, IncidentType.THEFT, IncidentType.GLASS, IncidentType.OTHER]
    for line in (ProductLine.LIFE, ProductLine.HEALTH):
        assert claims.incident_types_for(line) == [
            IncidentType.HOSPITALISATION, IncidentType.CRITICAL_ILLNESS, IncidentType.DEATH, IncidentType.OTHER]


def test_claim_is_saved_incomplete_with_a_twelve_digit_number_as_soon_as_it_is_opened(small_book: SmallBook) -> None:
    first, second = _open(small_book), _open(small_book)

    claim = claims.get_claim(first)
    assert claim is not None and claim.status is ClaimStatus.INCOMPLETE
    assert (first, second) == ("261121000001", "261121000002")
    assert (claim.policy_no, claim.customer_id, claim.call_unique_id) == (
        small_book.motor_policy, small_book.customer_id, "1700000001.1")
    assert claim.reported_at is None and claim.incident_type is None


def test_caller_who_hangs_up_mid_claim_leaves_incomplete_claim_with_what_was_captured(small_book: SmallBook) -> None:
    claim_no = _open(small_book)
    claims.record_incident_type(claim_no, IncidentType.GLASS)
    claims.record_incident_date(claim_no, date(2026, 11, 20))
    claims.record_callback_number(claim_no, "+8613800138001")
    claims.record_recording(claim_no, "ivr/claims/2026-11-21/261121000001-093000")

    claim = claims.get_claim(claim_no)

    assert claim is not None and claim.status is ClaimStatus.INCOMPLETE
    assert (claim.incident_type, claim.incident_date, claim.callback_number, claim.recording_path) == (
        IncidentType.GLASS, date(2026, 11, 20), "+8613800138001", "ivr/claims/2026-11-21/261121000001-093000")


def test_submitted_claim_is_reported_and_no_longer_changed_by_the_ivr(small_book: SmallBook) -> None:
    claim_no = _open(small_book)
    claims.record_incident_type(claim_no, IncidentType.COLLISION)
    claims.record_incident_date(claim_no, date(2026, 11, 20))

    assert claims.submit_claim(claim_no, NOW).claim_no == claim_no
    claim = claims.get_claim(claim_no)
    assert claim is not None and claim.status is ClaimStatus.REPORTED and claim.reported_at == NOW
    with pytest.raises(InvalidTransition) as error:
        claims.record_incident_date(claim_no, date(2026, 11, 19))
    assert (error.value.error_id, error.value.http_status) == ("claim_not_incomplete", 409)
    with pytest.raises(InvalidTransition):
        claims.submit_claim(claim_no, NOW)


def test_claim_without_incident_type_or_date_cannot_be_submitted(small_book: SmallBook) -> None:
    claim_no = _open(small_book)
    claims.record_incident_type(claim_no, IncidentType.THEFT)

    with pytest.raises(ValidationError) as error:
        claims.submit_claim(claim_no, NOW)

    assert error.value.error_id == "claim_incomplete"


def test_incident_type_must_fit_the_policy(small_book: SmallBook) -> None:
    claim_no = _open(small_book)

    with pytest.raises(ValidationError):
        claims.record_incident_type(claim_no, IncidentType.HOSPITALISATION)


def test_claim_only_on_a_policy_the_caller_holds(small_book: SmallBook) -> None:
    with pytest.raises(NotFound):
        claims.open_claim(small_book.other_policy, small_book.customer_id, None, NOW)
    with pytest.raises(NotFound):
        claims.open_claim("123", small_book.customer_id, None, NOW)


@pytest.mark.parametrize(("incident", "reason"), [
    (date(2026, 11, 22), "future"),
    (date(2019, 12, 31), "before_cover"),
    (date(2020, 1, 1), None),
    (TODAY, None),
])
def test_incident_date_must_be_past_and_within_cover(small_book: SmallBook, incident: date,
                                                     reason: str | None) -> None:
    assert claims.check_incident_date(small_book.motor_policy, incident, TODAY) == reason


def test_incident_after_the_cover_ended_is_refused(small_book: SmallBook) -> None:
    assert claims.check_incident_date(small_book.motor_policy, date(2031, 1, 1), date(2031, 2, 1)) == "after_cover"
    assert claims.check_incident_date(small_book.motor_policy, date(2030, 12, 31), date(2031, 2, 1)) is None


def test_callback_number_and_recording_path_are_checked(small_book: SmallBook) -> None:
    claim_no = _open(small_book)

    for number in ("13800138000", "+0123456789", "+86 138"):
        with pytest.raises(ValidationError):
            claims.record_callback_number(claim_no, number)
    for path in ("/etc/passwd", "../outside", "ivr/../../x", ""):
        with pytest.raises(ValidationError):
            claims.record_recording(claim_no, path)


def test_claim_numbers_stay_unique_when_many_calls_open_claims_at_once(small_book: SmallBook) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        numbers = list(pool.map(lambda _: _open(small_book), range(40)))

    assert len(set(numbers)) == 40
    assert sorted(numbers) == [f"261121{n:06d}" for n in range(1, 41)]


def test_claims_are_listed_newest_first_with_filters_and_pages(small_book: SmallBook) -> None:
    earlier = datetime(2026, 11, 19, 23, 59, tzinfo=timezone.utc)
    old = claims.open_claim(small_book.life_policy, small_book.customer_id, None, earlier).claim_no
    new = [_open(small_book) for _ in range(3)]
    claims.record_incident_type(new[0], IncidentType.THEFT)
    claims.record_incident_date(new[0], date(2026, 11, 1))
    claims.submit_claim(new[0], NOW)

    everything = claims.list_claims(per_page=2)
    reported = claims.list_claims(status=ClaimStatus.REPORTED)
    on_the_19th = claims.list_claims(date_from=date(2026, 11, 19), date_to=date(2026, 11, 19))

    assert [c.claim_no for c in everything.items] == [new[2], new[1]] and everything.total == 4
    assert [c.claim_no for c in claims.list_claims(page=2, per_page=2).items] == [new[0], old]
    assert [c.claim_no for c in reported.items] == [new[0]]
    assert [c.claim_no for c in on_the_19th.items] == [old]
    assert claims.list_claims(date_from=date(2026, 11, 22)).total == 0
