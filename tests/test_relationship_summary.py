"""The summary a verified caller hears first: all their policies, what is due, what is at risk."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from ivr.db.models import Policy, PolicyStatus
from ivr.db.session import session_scope
from ivr.domain.policies import PolicyAtRisk, PremiumDue, policies_of, relationship_summary
from ivr.testing.small_book import SmallBook

TODAY = date(2026, 11, 21)


def _set(policy_no: str, status: PolicyStatus, next_due: date | None, paid_to: date | None = None,
         premium: str = "500.00") -> None:
    with session_scope() as session:
        policy = session.scalar(select(Policy).where(Policy.policy_no == policy_no))
        assert policy is not None
        policy.status, policy.next_due_date, policy.paid_to_date = status, next_due, paid_to
        policy.premium = Decimal(premium)


def test_summary_counts_policies_and_names_the_nearest_premium_due(small_book: SmallBook) -> None:
    _set(small_book.motor_policy, PolicyStatus.IN_FORCE, TODAY + timedelta(days=20))
    _set(small_book.life_policy, PolicyStatus.IN_FORCE, TODAY + timedelta(days=5), premium="1234.50")

    summary = relationship_summary(small_book.customer_id, TODAY)

    assert (summary.policy_count, summary.in_force_count) == (2, 2)
    assert summary.nearest_due == PremiumDue(small_book.life_policy, TODAY + timedelta(days=5), Decimal("1234.50"))
    assert list(summary.at_risk) == []


def test_policy_in_grace_is_at_risk_with_the_day_it_lapses(small_book: SmallBook) -> None:
    _set(small_book.motor_policy, PolicyStatus.IN_FORCE, TODAY + timedelta(days=20))
    _set(small_book.life_policy, PolicyStatus.GRACE, date(2026, 11, 1))

    summary = relationship_summary(small_book.customer_id, TODAY)

    assert summary.in_force_count == 1
    assert summary.nearest_due is not None and summary.nearest_due.policy_no == small_book.motor_policy
    assert list(summary.at_risk) == [PolicyAtRisk(small_book.life_policy, PolicyStatus.GRACE, date(2026, 12, 31))]


def test_lapsed_policy_gives_the_day_it_lapsed_from_its_paid_to_date(small_book: SmallBook) -> None:
    _set(small_book.motor_policy, PolicyStatus.LAPSED, None, paid_to=date(2026, 1, 10))
    _set(small_book.life_policy, PolicyStatus.LAPSED, date(2025, 6, 1))

    summary = relationship_summary(small_book.customer_id, TODAY)

    assert summary.in_force_count == 0 and summary.nearest_due is None
    assert list(summary.at_risk) == [PolicyAtRisk(small_book.life_policy, PolicyStatus.LAPSED, date(2025, 7, 31)),
                                     PolicyAtRisk(small_book.motor_policy, PolicyStatus.LAPSED, date(2026, 3, 11))]


def test_terminated_policy_is_counted_but_neither_due_nor_at_risk(small_book: SmallBook) -> None:
    _set(small_book.motor_policy, PolicyStatus.TERMINATED, TODAY + timedelta(days=3))
    _set(small_book.life_policy, PolicyStatus.IN_FORCE, None)

    summary = relationship_summary(small_book.customer_id, TODAY)

    assert (summary.policy_count, summary.in_force_count, summary.nearest_due) == (2, 1, None)
    assert list(summary.at_risk) == []


def test_policy_summaries_carry_the_cover_period(small_book: SmallBook) -> None:
    motor = next(p for p in policies_of(small_book.customer_id) if p.policy_no == small_book.motor_policy)

    assert (motor.start_date, motor.end_date) == (date(2020, 1, 1), date(2030, 12, 31))
