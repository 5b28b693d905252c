"""What a verified caller may hear about their policies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from ivr.db.models import Policy, PolicyStatus, ProductLine
from ivr.db.session import session_scope

# Policies for which a next premium can still be paid.
PAYABLE = (PolicyStatus.IN_FORCE, PolicyStatus.GRACE)


@dataclass(frozen=True)
class PolicySummary:
    policy_no: str
    product_line: ProductLine
    status: PolicyStatus
    next_due_date: date | None
    premium: Decimal

    @property
    def premium_due(self) -> bool:
        """True when a next premium is due and can still be paid."""
        return self.status in PAYABLE and self.next_due_date is not None


def policies_of(customer_id: int) -> list[PolicySummary]:
    """The customer's policies, in force first, then by policy number."""
    order = {PolicyStatus.IN_FORCE: 0, PolicyStatus.GRACE: 1,
             PolicyStatus.LAPSED: 2, PolicyStatus.TERMINATED: 3}
    with session_scope() as session:
        rows = session.scalars(select(Policy).where(Policy.holder_id == customer_id)).all()
        summaries = [PolicySummary(p.policy_no, p.product_line, p.status, p.next_due_date,
                                   Decimal(p.premium)) for p in rows]
    return sorted(summaries, key=lambda s: (order[s.status], s.policy_no))
