"""Wrong secrets lock a subject out across calls; a lock expires; a success forgives."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ivr.domain import lockouts
from ivr.domain.callers import VerificationResult, verify_birth_date
from ivr.testing.small_book import SmallBook

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc)
RIGHT_DATE, WRONG_DATE = "19800517", "19800518"


def _fail(times: int, now: datetime = NOW) -> list[datetime | None]:
    return [lockouts.record_failure("customer", "42", now, threshold=5, lock_minutes=30) for _ in range(times)]


def test_fifth_failure_locks_for_the_lock_time(database_url: str) -> None:
    results = _fail(5)

    assert results[:4] == [None] * 4
    assert results[4] == NOW + timedelta(minutes=30)
    assert lockouts.is_locked("customer", "42", NOW + timedelta(minutes=29)) == NOW + timedelta(minutes=30)


def test_lock_expires_and_failures_count_afresh(database_url: str) -> None:
    _fail(5)
    later = NOW + timedelta(minutes=30)

    assert lockouts.is_locked("customer", "42", later) is None
    assert _fail(4, later) == [None] * 4
    assert _fail(1, later)[0] == later + timedelta(minutes=30)


def test_failure_while_locked_does_not_extend_the_lock(database_url: str) -> None:
    _fail(5)

    assert _fail(1, NOW + timedelta(minutes=10))[0] == NOW + timedelta(minutes=30)


def test_success_forgets_earlier_failures(database_url: str) -> None:
    _fail(4)
    lockouts.record_success("customer", "42")

    assert _fail(4) == [None] * 4


def test_subjects_are_counted_apart(database_url: str) -> None:
    _fail(5)

    assert lockouts.is_locked("customer", "43", NOW) is None
    assert lockouts.is_locked("sales_agent", "42", NOW) is None


def test_right_birth_date_passes(small_book: SmallBook) -> None:
    result = verify_birth_date(small_book.customer_id, RIGHT_DATE, NOW)

    assert result is VerificationResult.PASSED and result


def test_five_wrong_birth_dates_across_calls_lock_self_service_for_30_minutes(small_book: SmallBook) -> None:
    results = [verify_birth_date(small_book.customer_id, WRONG_DATE, NOW + timedelta(minutes=i)) for i in range(5)]

    assert results == [VerificationResult.FAILED] * 4 + [VerificationResult.LOCKED]
    assert not results[0] and not results[4]
    assert verify_birth_date(small_book.customer_id, RIGHT_DATE, NOW + timedelta(minutes=33)) is (
        VerificationResult.LOCKED)
    assert verify_birth_date(small_book.customer_id, RIGHT_DATE, NOW + timedelta(minutes=34)) is (
        VerificationResult.PASSED)


def test_right_birth_date_resets_the_count_of_wrong_ones(small_book: SmallBook) -> None:
    for _ in range(4):
        verify_birth_date(small_book.customer_id, WRONG_DATE, NOW)
    verify_birth_date(small_book.customer_id, RIGHT_DATE, NOW)

    assert verify_birth_date(small_book.customer_id, WRONG_DATE, NOW) is VerificationResult.FAILED
