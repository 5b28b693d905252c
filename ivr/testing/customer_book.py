"""Customers for tests of the customer 360: a VIP with policies in every state, a namesake, a hostile name.

Written through the import path (``write_book``); claims, complaints, callbacks
and calls are made with the domain functions the IVR itself uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select

from ivr.db.models import (
    AgentStatus,
    Customer,
    Disposition,
    Gender,
    PaymentFrequency,
    PhoneKind,
    PolicyStatus,
    ProductLine,
    Tier,
)
from ivr.db.session import session_scope
from ivr.domain import claims, complaints
from ivr.domain.book_import import AgentRow, Book, CustomerRow, PolicyRow, write_book
from ivr.domain.callbacks import request_callback
from ivr.domain.calls import CallJournal, NewCall
from ivr.domain.customers import resident_id_check_digit
from ivr.domain.phones import normalise_phone

TODAY = date(2026, 11, 21)
WANG_FANG_BIRTH = date(1985, 3, 9)
_WANG_FANG_ID17 = "11010519850309002"
WANG_FANG_ID = _WANG_FANG_ID17 + resident_id_check_digit(_WANG_FANG_ID17)
WANG_FANG_LAST4 = WANG_FANG_ID[-4:]
HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_CALLER_NAME = '<img src=x onerror="alert(2)">'
AGENT_CODE, AGENT_NAME = "AG0001", "王伟"


@dataclass
class CustomerBook:
    """王芳 (C1, VIP): in-force life L1, motor M1 in grace, health H1 lapsed; mobile 139 1111 0001 and a
    work line with an extension. Wang Lei (C2): the same ID last 4, another birth date. C3: a hostile name."""

    ids: dict[str, int] = field(default_factory=dict)
    life_policy: str = "8800000001"
    motor_policy: str = "8800000002"
    health_policy: str = "8800000003"
    other_policy: str = "8800000004"

    def write(self) -> CustomerBook:
        with session_scope() as session:
            write_book(session, self._rows(), "test-salt")
            for number in ("C1", "C2", "C3"):
                self.ids[number] = session.scalar(select(Customer.id).where(Customer.customer_no == number))
        return self

    @property
    def wang_fang(self) -> int:
        return self.ids["C1"]

    def _rows(self) -> Book:
        def phones(*pairs: tuple[PhoneKind, str]) -> tuple:  # type: ignore[type-arg]
            return tuple((kind, normalise_phone(text)) for kind, text in pairs)

        customers = [
            CustomerRow("C1", "王芳", Gender.FEMALE, WANG_FANG_BIRTH, WANG_FANG_ID, "zh", Tier.VIP,
                        phones((PhoneKind.MOBILE, "13911110001"), (PhoneKind.WORK, "010-12345678 ext 801"))),
            CustomerRow("C2", "Wang Lei", Gender.MALE, date(1990, 1, 2), f"PA55{WANG_FANG_LAST4}", "en",
                        Tier.STANDARD, phones((PhoneKind.MOBILE, "13911110002"))),
            CustomerRow("C3", HOSTILE_NAME, Gender.UNKNOWN, date(1970, 7, 7), "E00000003", "en", Tier.STANDARD,
                        phones((PhoneKind.MOBILE, "13911110003"))),
        ]
        policies = [
            self._policy(self.life_policy, "C1", ProductLine.LIFE, PolicyStatus.IN_FORCE, date(2026, 12, 1)),
            self._policy(self.motor_policy, "C1", ProductLine.MOTOR, PolicyStatus.GRACE, date(2026, 10, 1)),
            self._policy(self.health_policy, "C1", ProductLine.HEALTH, PolicyStatus.LAPSED, date(2026, 6, 1)),
            self._policy(self.other_policy, "C2", ProductLine.LIFE, PolicyStatus.IN_FORCE, date(2027, 1, 1)),
        ]
        agents = [AgentRow(AGENT_CODE, AGENT_NAME, "02010000000000000001", "北京分公司", AgentStatus.ACTIVE)]
        return Book(agents=agents, customers=customers, policies=policies)

    @staticmethod
    def _policy(policy_no: str, customer_no: str, line: ProductLine, status: PolicyStatus,
                due: date) -> PolicyRow:
        return PolicyRow(policy_no, customer_no, line, f"{line.value.title()} Plan", status,
                         Decimal("300000.00"), Decimal("1200.00"), PaymentFrequency.ANNUAL, date(2020, 1, 1),
                         None, due, due, AGENT_CODE)


def report_claim(policy_no: str, customer_id: int, incident: date, now: datetime) -> str:
    """A claim as the IVR files it: opened, type and date given, submitted."""
    claim_no = claims.open_claim(policy_no, customer_id, None, now).claim_no
    claims.record_incident_type(claim_no, claims.IncidentType.COLLISION)
    claims.record_incident_date(claim_no, incident)
    claims.submit_claim(claim_no, now)
    return claim_no


def closed_complaint(customer_id: int, now: datetime) -> str:
    """A ticket taken round the whole loop."""
    ticket_no = complaints.open_complaint(complaints.ComplaintSubject.BILLING, customer_id, None, None, now).ticket_no
    for status, department in ((complaints.ComplaintStatus.ASSIGNED, "billing"),
                               (complaints.ComplaintStatus.RESOLVED, None),
                               (complaints.ComplaintStatus.INFORMED, None),
                               (complaints.ComplaintStatus.CLOSED, None)):
        complaints.transition(ticket_no, status, "lead.li", department=department, now=now)
    return ticket_no


def claim_call(unique_id: str, customer_id: int | None, ani: str = "13911110001", caller_name: str = "",
               claim_no: str = "261121000001") -> None:
    """A call that recognised the caller, verified them, reported a claim and went to a person."""
    journal = CallJournal.open(NewCall(unique_id, "PJSIP/trunk-0001", "hotline", ani, caller_name, "95519"))
    journal.event("prompt", "welcome")
    if customer_id is not None:
        journal.event("identification", "ani", "recognised")
        journal.identified(customer_id)
        journal.event("input", "birth_date", "********")
        journal.event("verification", "birth_date", "passed")
        journal.verified()
    journal.event("input", "main_menu", "2")
    journal.event("claim", "opened", claim_no)
    journal.event("transfer", "queue", "caller_pressed_0")
    journal.event("route", "claims", "claim+vip_tier")
    journal.close(Disposition.TRANSFERRED, "caller_pressed_0")


def open_callback(number: str, customer_id: int | None, now: datetime) -> None:
    request_callback(number, customer_id, "closed_hours", None, now)

