"""What a verified caller may hear about their policies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import bindparam, select

from ivr.config import get_settings
from ivr.db.models import Policy, PolicyStatus, ProductLine
from ivr.db.session import fetch_all

# Policies for which a next premium can still be paid.
PAYABLE = (PolicyStatus.IN_FORCE, PolicyStatus.GRACE)
AT_RISK = (PolicyStatus.GRACE, PolicyStatus.LAPSED)
_ORDER = {PolicyStatus.IN_FORCE: 0, PolicyStatus.GRACE: 1, PolicyStatus.LAPSED: 2, PolicyStatus.TERMINATED: 3}


@dataclass(frozen=True)
class PolicySummary:
    policy_no: str
    product_line: ProductLine
    status: PolicyStatus
    next_due_date: date | None
    premium: Decimal
    start_date: date | None = None  # cover period, for claims
    end_date: date | None = None
    paid_to_date: date | None = None

    @property
    def premium_due(self) -> bool:
        """True when a next premium is due and can still be paid."""
        return self.status in PAYABLE and self.next_due_date is not None


@dataclass(frozen=True)
class PremiumDue:
    policy_no: str
    due_date: date
    amount: Decimal


@dataclass(frozen=True)
class PolicyAtRisk:
    """A policy in its grace period (``lapse_date``: the day it lapses) or lapsed (the day it did)."""

    policy_no: str
    status: PolicyStatus
    lapse_date: date | None  # None only when the book has neither a due nor a paid-to date


@dataclass(frozen=True)
class RelationshipSummary:
    """The customer's whole relationship in a few facts, read before any single policy."""

    policy_count: int
    in_force_count: int
    nearest_due: PremiumDue | None  # the next premium falling due, today or later
    at_risk: Sequence[PolicyAtRisk]  # by lapse date


def policies_of(customer_id: int) -> list[PolicySummary]:
    """The customer's policies, in force first, then by policy number (read on every call that
    hears them: one statement, no ORM objects)."""
    summaries = [PolicySummary(*row) for row in fetch_all(_SUMMARIES_OF_HOLDER, {"holder_id": customer_id})]
    return sorted(summaries, key=lambda s: (_ORDER[s.status], s.policy_no))


_SUMMARIES_OF_HOLDER = select(
    Policy.policy_no, Policy.product_line, Policy.status, Policy.next_due_date, Policy.premium, Policy.start_date,
    Policy.end_date, Policy.paid_to_date).where(Policy.holder_id == bindparam("holder_id"))


def relationship_summary(customer_id: int, today: date) -> RelationshipSummary:
    """How many policies, how many in force, the next premium due, and what is in grace or lapsed.

    Overdue premiums of policies in grace are not "due next": they are in
    ``at_risk`` with the date the policy lapses.
    """
    return summarise_relationship(policies_of(customer_id), today)


def summarise_relationship(policies: Sequence[PolicySummary], today: date) -> RelationshipSummary:
    """``relationship_summary`` of policies already read (the customer 360 reads them with the rest)."""
    upcoming = sorted((p.next_due_date, p.policy_no, p.premium) for p in policies
                      if p.premium_due and p.next_due_date is not None and p.next_due_date >= today)
    at_risk = [PolicyAtRisk(p.policy_no, p.status, lapse_date(p)) for p in policies if p.status in AT_RISK]
    return RelationshipSummary(
        policy_count=len(policies),
        in_force_count=sum(p.status is PolicyStatus.IN_FORCE for p in policies),
        nearest_due=PremiumDue(upcoming[0][1], upcoming[0][0], upcoming[0][2]) if upcoming else None,
        at_risk=tuple(sorted(at_risk, key=lambda r: (r.lapse_date or date.max, r.policy_no))))


def lapse_date(policy: PolicySummary) -> date | None:
    """The end of the grace period after the unpaid premium: when the policy lapses or lapsed."""
    unpaid_since = policy.next_due_date or policy.paid_to_date
    return None if unpaid_since is None else unpaid_since + timedelta(days=get_settings().grace_period_days)


def policy_summary(policy: Policy) -> PolicySummary:
    return PolicySummary(policy.policy_no, policy.product_line, policy.status, policy.next_due_date,
                         Decimal(policy.premium), policy.start_date, policy.end_date, policy.paid_to_date)
