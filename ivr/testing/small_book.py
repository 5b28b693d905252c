"""A tiny policy book for tests of the self-service domain: every case, nothing more."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from ivr.db.models import AgentStatus, Gender, PaymentFrequency, PhoneKind, PolicyStatus, ProductLine, Tier
from ivr.domain.book_import import AgentRow, Book, CustomerRow, PolicyRow
from ivr.domain.phones import normalise_phone

BIRTH_DATE = date(1980, 5, 17)
ACTIVE_AGENT, SUSPENDED_AGENT, TERMINATED_AGENT = "AG0001", "AG0025", "AG0008"
AGENT_PIN = "2468"


@dataclass
class SmallBook:
    """C1 holds motor policy M1 (2020-01-01 to 2030-12-31) and life policy L1 (from 2015, no end)."""

    customer_id: int = 0
    other_customer_id: int = 0
    motor_policy: str = "9900000001"
    life_policy: str = "9900000002"
    other_policy: str = "9900000003"  # C2's

    def rows(self) -> Book:
        agents = [AgentRow(ACTIVE_AGENT, "王伟", "02010000000000000001", "北京分公司", AgentStatus.ACTIVE,
                           pin=AGENT_PIN),
                  AgentRow(SUSPENDED_AGENT, "李娜", "02010000000000000025", "上海分公司", AgentStatus.SUSPENDED),
                  AgentRow(TERMINATED_AGENT, "张强", "02010000000000000008", "广东分公司", AgentStatus.TERMINATED,
                           pin="1357")]
        customers = [CustomerRow(f"C{n}", name, Gender.MALE, BIRTH_DATE, f"E{n:08d}", "en", Tier.STANDARD,
                                 ((PhoneKind.MOBILE, normalise_phone(mobile)),))
                     for n, name, mobile in ((1, "David Chen", "13800138001"), (2, "Li Ming", "13800138002"))]
        policies = [
            self._policy(self.motor_policy, "C1", ProductLine.MOTOR, date(2020, 1, 1), date(2030, 12, 31)),
            self._policy(self.life_policy, "C1", ProductLine.LIFE, date(2015, 3, 1), None),
            self._policy(self.other_policy, "C2", ProductLine.HEALTH, date(2019, 6, 1), None),
        ]
        return Book(agents=agents, customers=customers, policies=policies)

    @staticmethod
    def _policy(policy_no: str, customer_no: str, line: ProductLine, start: date, end: date | None) -> PolicyRow:
        return PolicyRow(policy_no, customer_no, line, "Plan", PolicyStatus.IN_FORCE, Decimal("100000.00"),
                         Decimal("500.00"), PaymentFrequency.ANNUAL, start, end, date(2026, 12, 1),
                         date(2026, 12, 1), ACTIVE_AGENT)
