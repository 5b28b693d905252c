"""The customer 360: finding a customer the way a caller describes themselves, and everything we know of them.

An agent searches by name, by any written form of a phone number, by policy
number, or by the last 4 characters of the national ID *with* the birth date
(the last 4 alone narrow a million customers to a few hundred: never enough to
open someone's record). ``customer_360`` reads the whole picture in a fixed
number of queries, however many policies or calls the customer has, and
returns frozen dataclasses: identity (the national ID's last 4 only; the rest
is never stored), policies, relationship summary, claims, complaints, callback
requests and the earlier calls with their IVR path. Docs: docs/console.md.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session, joinedload, selectinload

from ivr.config import get_settings
from ivr.db.models import (
    Call,
    aware_utc,
    CallbackRequest,
    CallbackStatus,
    Claim,
    ClaimStatus,
    Complaint,
    ComplaintStatus,
    ComplaintSubject,
    Customer,
    CustomerPhone,
    Disposition,
    Gender,
    IncidentType,
    IvrEvent,
    PaymentFrequency,
    PhoneKind,
    Policy,
    PolicyStatus,
    ProductLine,
    Tier,
    utcnow,
)
from ivr.db.session import session_scope
from ivr.domain.complaints import UNRESOLVED
from ivr.domain.errors import NotFound, ValidationError
from ivr.domain.ivr_path import DETAIL_KINDS, IvrPath, PathStep, summarise_path
from ivr.domain.paging import Page, fetch_page
from ivr.domain.phones import InvalidPhoneNumber, PhoneNumber, normalise_phone
from ivr.domain.policies import (
    AT_RISK,
    RelationshipSummary,
    lapse_date,
    policy_summary,
    summarise_relationship,
)
from ivr.domain.routing import VIP, decide, standing_of

MAX_HITS = 50  # a search finding more asks the agent to narrow it
CALLS_PER_PAGE = 20
RECENT_CLOSED = 10  # closed claims and complaints shown besides the open ones
RECENT_CALLBACKS = 10
CLOSED_CLAIMS = (ClaimStatus.REJECTED, ClaimStatus.PAID, ClaimStatus.CLOSED)
_ID_LAST4 = re.compile(r"^[0-9A-Z]{4}$")
_POLICY_ORDER = {status: rank for rank, status in enumerate(PolicyStatus)}  # in force, grace, lapsed, terminated


class SearchKind(str, enum.Enum):
    NAME = "name"
    PHONE = "phone"
    POLICY = "policy"
    NATIONAL_ID = "id"  # last 4 of the national ID, with the birth date


@dataclass(frozen=True)
class CustomerQuery:
    kind: SearchKind
    text: str
    birth_date: date | None = None  # required with NATIONAL_ID, ignored otherwise


@dataclass(frozen=True)
class CustomerHit:
    customer_id: int
    customer_no: str
    name: str
    birth_date: date
    national_id_last4: str
    tier: Tier
    phones: tuple[str, ...]  # E.164, with " ext N" where there is one
    policy_count: int


@dataclass(frozen=True)
class PhoneLine:
    kind: PhoneKind
    number: str  # E.164
    extension: str


@dataclass(frozen=True)
class Identity:
    customer_id: int
    customer_no: str
    name: str
    gender: Gender
    birth_date: date
    national_id_last4: str  # the only part of the ID we keep readable
    language: str
    tier: Tier
    vip: bool  # VIP by tier or by yearly premium, as routing treats them
    vip_reason: str  # "vip_tier", "vip_premium" or ""
    phones: tuple[PhoneLine, ...]


@dataclass(frozen=True)
class PolicyLine:
    policy_no: str
    product_line: ProductLine
    product_name: str
    status: PolicyStatus
    sum_insured: Decimal
    premium: Decimal
    payment_frequency: PaymentFrequency
    start_date: date
    end_date: date | None
    paid_to_date: date | None
    next_due_date: date | None
    lapse_date: date | None  # grace and lapsed policies: the day it lapses or lapsed
    sales_agent_code: str | None
    sales_agent_name: str | None

    @property
    def at_risk(self) -> bool:
        return self.status in AT_RISK


@dataclass(frozen=True)
class ClaimLine:
    claim_no: str
    policy_no: str
    status: ClaimStatus
    incident_type: IncidentType | None
    incident_date: date | None
    created_at: datetime
    reported_at: datetime | None
    open: bool


@dataclass(frozen=True)
class ComplaintLine:
    ticket_no: str
    subject: ComplaintSubject
    status: ComplaintStatus
    department: str
    policy_no: str | None
    due_at: datetime
    overdue: bool  # flagged, or unresolved and past its deadline now
    created_at: datetime
    open: bool


@dataclass(frozen=True)
class CallbackLine:
    number: str
    status: CallbackStatus
    reason: str
    request_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class CallRecord:
    unique_id: str
    started_at: datetime
    ended_at: datetime | None
    ani: str
    caller_name: str  # caller ID text: untrusted, shown as text only
    language: str
    disposition: Disposition
    transfer_reason: str
    identified: bool  # False: a call from one of their numbers in which nobody was identified
    path: IvrPath


@dataclass(frozen=True)
class Customer360:
    identity: Identity
    policies: Sequence[PolicyLine]  # in force first, then by number
    relationship: RelationshipSummary
    claims: Sequence[ClaimLine]  # open ones, then up to RECENT_CLOSED closed ones; newest first
    complaints: Sequence[ComplaintLine]  # the same
    callbacks: Sequence[CallbackLine]  # newest first, at most RECENT_CALLBACKS
    calls: Page[CallRecord]  # newest first


# --- search ------------------------------------------------------------------------------------------


def search_customers(query: CustomerQuery) -> list[CustomerHit]:
    """Customers matching the query, by name then id, at most ``MAX_HITS``; unknown gives []."""
    condition = _condition(query)
    with session_scope() as session:
        customers = session.scalars(select(Customer).options(selectinload(Customer.phones)).where(condition)
                                    .order_by(Customer.name, Customer.id).limit(MAX_HITS)).all()
        counts = _policy_counts(session, [c.id for c in customers])
        return [CustomerHit(c.id, c.customer_no, c.name, c.birth_date, c.national_id_last4, c.tier,
                            tuple(str(PhoneNumber(p.number, p.extension)) for p in c.phones), counts.get(c.id, 0))
                for c in customers]


def _condition(query: CustomerQuery) -> ColumnElement[bool]:
    """The WHERE clause of a search; a query that cannot find anyone sensibly is refused (400)."""
    text = unicodedata.normalize("NFKC", query.text).strip()
    if not text:
        raise ValidationError("type what to search for", "query_required")
    if query.kind is SearchKind.NAME:
        return Customer.name.icontains(" ".join(text.split()), autoescape=True)
    if query.kind is SearchKind.PHONE:
        try:
            number = normalise_phone(text, get_settings().country_code).e164  # any extension is ignored
        except InvalidPhoneNumber as error:
            raise ValidationError(str(error), "invalid_phone") from None
        return Customer.id.in_(select(CustomerPhone.customer_id).where(CustomerPhone.number == number))
    if query.kind is SearchKind.POLICY:
        return Customer.id.in_(select(Policy.holder_id).where(Policy.policy_no == text))
    last4 = text.upper()
    if not _ID_LAST4.match(last4):
        raise ValidationError("the national ID's last 4 are 4 digits or letters (X)", "invalid_id_last4")
    if query.birth_date is None:
        raise ValidationError("searching by national ID needs the last 4 and the birth date together",
                              "birth_date_required")
    return and_(Customer.national_id_last4 == last4, Customer.birth_date == query.birth_date)


def _policy_counts(session: Session, customer_ids: list[int]) -> dict[int, int]:
    if not customer_ids:
        return {}
    rows = session.execute(select(Policy.holder_id, func.count()).where(Policy.holder_id.in_(customer_ids))
                           .group_by(Policy.holder_id)).all()
    return {holder_id: count for holder_id, count in rows}


# --- the 360 -----------------------------------------------------------------------------------------


def customer_360(customer_id: int, today: date, calls_page: int = 1, calls_per_page: int = CALLS_PER_PAGE,
                 now: datetime | None = None) -> Customer360:
    """Everything about one customer, for the agent's screen (``today``: the centre's date)."""
    now = now or utcnow()
    with session_scope() as session:
        customer = session.scalar(select(Customer).where(Customer.id == customer_id).options(
            selectinload(Customer.phones), selectinload(Customer.policies).joinedload(Policy.sales_agent)))
        if customer is None:
            raise NotFound(f"no customer {customer_id}", "customer_not_found")
        numbers = sorted({phone.number for phone in customer.phones})
        policies = sorted(customer.policies, key=lambda p: (_POLICY_ORDER[p.status], p.policy_no))
        summaries = [policy_summary(p) for p in policies]
        return Customer360(
            identity=_identity(customer, today),
            policies=tuple(_policy_line(p, lapse_date(s) if s.status in AT_RISK else None)
                           for p, s in zip(policies, summaries, strict=True)),
            relationship=summarise_relationship(summaries, today),
            claims=_claims(session, customer_id),
            complaints=_complaints(session, customer_id, now),
            callbacks=_callbacks(session, customer_id, numbers),
            calls=fetch_page(session, _calls(customer_id, numbers), calls_page, calls_per_page, _call_record))


def call_record(unique_id: str) -> CallRecord | None:
    """One IVR call with its path in words (the call an agent has just been put through to)."""
    with session_scope() as session:
        call = session.scalar(select(Call).where(Call.unique_id == unique_id).options(
            selectinload(Call.events.and_(IvrEvent.kind.not_in(DETAIL_KINDS)))))
        return None if call is None else _call_record(call)


def _identity(customer: Customer, today: date) -> Identity:
    settings = get_settings()
    route = decide(standing_of(customer.id, today), "", Decimal(settings.vip_annual_premium), settings.vip_priority)
    vip = route.queue == VIP
    return Identity(customer.id, customer.customer_no, customer.name, customer.gender, customer.birth_date,
                    customer.national_id_last4, customer.language, customer.tier, vip, route.reason if vip else "",
                    tuple(PhoneLine(p.kind, p.number, p.extension)
                          for p in sorted(customer.phones, key=lambda p: (p.kind.value, p.number))))


def _policy_line(policy: Policy, lapses: date | None) -> PolicyLine:
    agent = policy.sales_agent
    return PolicyLine(policy.policy_no, policy.product_line, policy.product_name, policy.status,
                      Decimal(policy.sum_insured), Decimal(policy.premium), policy.payment_frequency,
                      policy.start_date, policy.end_date, policy.paid_to_date, policy.next_due_date, lapses,
                      agent.agent_code if agent else None, agent.name if agent else None)


def _claims(session: Session, customer_id: int) -> tuple[ClaimLine, ...]:
    query = (select(Claim).options(joinedload(Claim.policy)).where(Claim.customer_id == customer_id)
             .order_by(Claim.created_at.desc(), Claim.id.desc()))
    still_open = session.scalars(query.where(Claim.status.not_in(CLOSED_CLAIMS))).all()
    closed = session.scalars(query.where(Claim.status.in_(CLOSED_CLAIMS)).limit(RECENT_CLOSED)).all()
    return tuple(ClaimLine(c.claim_no, c.policy.policy_no, c.status, c.incident_type, c.incident_date,
                           c.created_at, c.reported_at, c.status not in CLOSED_CLAIMS)
                 for c in (*still_open, *closed))


def _complaints(session: Session, customer_id: int, now: datetime) -> tuple[ComplaintLine, ...]:
    query = (select(Complaint).options(joinedload(Complaint.policy)).where(Complaint.customer_id == customer_id)
             .order_by(Complaint.created_at.desc(), Complaint.id.desc()))
    still_open = session.scalars(query.where(Complaint.status != ComplaintStatus.CLOSED)).all()
    closed = session.scalars(query.where(Complaint.status == ComplaintStatus.CLOSED).limit(RECENT_CLOSED)).all()
    return tuple(ComplaintLine(c.ticket_no, c.subject, c.status, c.department,
                               c.policy.policy_no if c.policy else None, c.due_at,
                               c.overdue or (c.status in UNRESOLVED and c.due_at < now), c.created_at,
                               c.status is not ComplaintStatus.CLOSED)
                 for c in (*still_open, *closed))


def _callbacks(session: Session, customer_id: int, numbers: list[str]) -> tuple[CallbackLine, ...]:
    rows = session.scalars(select(CallbackRequest).where(_theirs(CallbackRequest.customer_id, customer_id,
                                                                 CallbackRequest.number, numbers))
                           .order_by(CallbackRequest.created_at.desc(), CallbackRequest.id.desc())
                           .limit(RECENT_CALLBACKS)).all()
    return tuple(CallbackLine(r.number, r.status, r.reason, r.request_count, r.created_at, r.updated_at)
                 for r in rows)


def _calls(customer_id: int, numbers: list[str]) -> Select[tuple[Call]]:
    """Their calls, and unidentified calls from their numbers; only the summary's steps are loaded."""
    return (select(Call).options(selectinload(Call.events.and_(IvrEvent.kind.not_in(DETAIL_KINDS))))
            .where(_theirs(Call.customer_id, customer_id, Call.ani_e164, numbers))
            .order_by(Call.started_at.desc(), Call.id.desc()))


def _theirs(owner: InstrumentedAttribute[int | None], customer_id: int, number: InstrumentedAttribute[str],
            numbers: list[str]) -> ColumnElement[bool]:
    """Rows of the customer, or of nobody known but from one of the customer's numbers.

    A shared number (a family landline) may show a relative's unidentified
    call; a call in which someone else was identified never shows here.
    """
    if not numbers:
        return owner == customer_id
    return or_(owner == customer_id, and_(owner.is_(None), number.in_(numbers)))


def _call_record(call: Call) -> CallRecord:
    return CallRecord(call.unique_id, aware_utc(call.started_at) or call.started_at, aware_utc(call.ended_at), call.ani, call.caller_name, call.language,
                      call.disposition, call.transfer_reason, call.customer_id is not None,
                      summarise_path((PathStep(e.kind, e.name, e.value) for e in call.events), call.verified))


