"""报案, first notice of loss: a claim saved step by step, as the caller gives each answer.

The claim exists (status ``incomplete``, with its number) from the moment the
caller chose the policy, and every answer is stored at once, so a caller who
hangs up leaves everything captured so far. ``submit_claim`` makes it
``reported``; from then on claims handlers, not the IVR, change it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, joinedload

from ivr.db.models import Claim, ClaimStatus, IncidentType, Policy, ProductLine, utcnow
from ivr.db.session import session_scope
from ivr.domain import audit, values
from ivr.domain.errors import InvalidTransition, NotFound, ValidationError
from ivr.domain.numbering import next_number
from ivr.domain.paging import Page, fetch_page, within_days

__all__ = ["ClaimRef", "ClaimStatus", "ClaimView", "IncidentType", "check_incident_date", "get_claim",
           "incident_types_for", "list_claims", "open_claim", "record_callback_number", "record_incident_date",
           "record_incident_type", "record_recording", "submit_claim"]

# Keypad order: the first type is key 1.
_MOTOR_INCIDENTS = [IncidentType.COLLISION, IncidentType.THEFT, IncidentType.GLASS, IncidentType.OTHER]
_PERSON_INCIDENTS = [IncidentType.HOSPITALISATION, IncidentType.CRITICAL_ILLNESS, IncidentType.DEATH,
                     IncidentType.OTHER]


@dataclass(frozen=True)
class ClaimRef:
    claim_no: str


@dataclass(frozen=True)
class ClaimView:
    claim_no: str
    status: ClaimStatus
    policy_no: str
    customer_id: int
    customer_no: str
    call_unique_id: str | None
    incident_type: IncidentType | None
    incident_date: date | None
    callback_number: str | None
    recording_path: str | None
    created_at: datetime
    updated_at: datetime
    reported_at: datetime | None


def incident_types_for(product_line: ProductLine) -> list[IncidentType]:
    """The incident types a caller may choose for a policy of this line, in keypad order (1..4)."""
    return list(_MOTOR_INCIDENTS if product_line is ProductLine.MOTOR else _PERSON_INCIDENTS)


def open_claim(policy_no: str, customer_id: int, call_unique_id: str | None,
               now: datetime | None = None) -> ClaimRef:
    """A new ``incomplete`` claim on the customer's policy, with its number (YYMMDD + 6 digits)."""
    now = now or utcnow()
    with session_scope() as session:
        policy = session.scalar(select(Policy).where(Policy.policy_no == policy_no))
        if policy is None or policy.holder_id != customer_id:
            raise NotFound(f"customer {customer_id} holds no policy {policy_no}", "policy_not_found")
        claim = Claim(claim_no=next_number(session, "claim", f"{now:%y%m%d}", 6), policy_id=policy.id,
                      customer_id=customer_id, call_unique_id=call_unique_id, status=ClaimStatus.INCOMPLETE,
                      created_at=now, updated_at=now)
        session.add(claim)
        _audit(session, claim, "opened", now, policy_no=policy_no)
        return ClaimRef(claim.claim_no)


def check_incident_date(policy_no: str, incident: date, today: date) -> str | None:
    """Why the incident date cannot be right, or None: ``future``, ``before_cover`` or ``after_cover``.

    The cover period runs from the policy's start date to its end date, both
    included; lapsed periods in between are for the claims handler to judge.
    """
    if incident > today:
        return "future"
    with session_scope() as session:
        policy = session.scalar(select(Policy).where(Policy.policy_no == policy_no))
        if policy is None:
            raise NotFound(f"no policy {policy_no}", "policy_not_found")
        if incident < policy.start_date:
            return "before_cover"
        if policy.end_date is not None and incident > policy.end_date:
            return "after_cover"
    return None


def record_incident_type(claim_no: str, incident_type: IncidentType) -> None:
    with _incomplete_claim(claim_no) as (session, claim):
        product_line = session.scalar(select(Policy.product_line).where(Policy.id == claim.policy_id))
        if incident_type not in incident_types_for(product_line):
            raise ValidationError(f"{incident_type.value} is not an incident of a {product_line.value} policy",
                                  "incident_type_not_covered")
        claim.incident_type = incident_type
        _audit(session, claim, "incident_type", incident_type=incident_type)


def record_incident_date(claim_no: str, incident_date: date) -> None:
    with _incomplete_claim(claim_no) as (session, claim):
        claim.incident_date = incident_date
        _audit(session, claim, "incident_date", incident_date=incident_date)


def record_callback_number(claim_no: str, e164: str) -> None:
    with _incomplete_claim(claim_no) as (session, claim):
        claim.callback_number = values.e164(e164)
        _audit(session, claim, "callback_number", callback_number=claim.callback_number)


def record_recording(claim_no: str, relative_path: str) -> None:
    """The caller's description, a path relative to ``recordings_dir`` (kept even if partial)."""
    with _incomplete_claim(claim_no) as (session, claim):
        claim.recording_path = values.recording_path(relative_path)
        _audit(session, claim, "recording", recording_path=claim.recording_path)


def submit_claim(claim_no: str, now: datetime | None = None) -> ClaimRef:
    """The caller finished: the claim is ``reported``. It needs an incident type and date."""
    now = now or utcnow()
    with _incomplete_claim(claim_no) as (session, claim):
        if claim.incident_type is None or claim.incident_date is None:
            raise ValidationError(f"claim {claim_no} has no incident type or date yet", "claim_incomplete")
        claim.status = ClaimStatus.REPORTED
        claim.reported_at = now
        _audit(session, claim, "submitted", now, status=claim.status)
    return ClaimRef(claim_no)


def get_claim(claim_no: str) -> ClaimView | None:
    with session_scope() as session:
        claim = session.scalar(_claims().where(Claim.claim_no == claim_no))
        return None if claim is None else _view(claim)


def list_claims(status: ClaimStatus | None = None, date_from: date | None = None, date_to: date | None = None,
                page: int = 1, per_page: int = 50) -> Page[ClaimView]:
    """Claims created between the two days (UTC, both included), newest first."""
    query = _claims().where(*within_days(Claim.created_at, date_from, date_to))
    if status is not None:
        query = query.where(Claim.status == status)
    with session_scope() as session:
        return fetch_page(session, query.order_by(Claim.created_at.desc(), Claim.id.desc()), page, per_page, _view)


@contextmanager
def _incomplete_claim(claim_no: str) -> Iterator[tuple[Session, Claim]]:
    """One transaction on a claim the IVR may still change (status ``incomplete``)."""
    with session_scope() as session:
        claim = session.scalar(select(Claim).where(Claim.claim_no == claim_no).with_for_update())
        if claim is None:
            raise NotFound(f"no claim {claim_no}", "claim_not_found")
        if claim.status is not ClaimStatus.INCOMPLETE:
            raise InvalidTransition(f"claim {claim_no} is {claim.status.value}, no longer changed by the IVR",
                                    "claim_not_incomplete")
        yield session, claim


def _audit(session: Session, claim: Claim, action: str, now: datetime | None = None, **details: object) -> None:
    """The IVR changed the claim during call ``call_unique_id``: one audit row, last in the transaction."""
    audit.record(session, audit.IVR_ACTOR, audit.CLAIM, claim.claim_no, action,
                 {"call": claim.call_unique_id, **details}, now)


def _claims() -> Select[tuple[Claim]]:
    return select(Claim).options(joinedload(Claim.policy), joinedload(Claim.customer))


def _view(claim: Claim) -> ClaimView:
    return ClaimView(claim_no=claim.claim_no, status=claim.status, policy_no=claim.policy.policy_no,
                     customer_id=claim.customer_id, customer_no=claim.customer.customer_no,
                     call_unique_id=claim.call_unique_id, incident_type=claim.incident_type,
                     incident_date=claim.incident_date, callback_number=claim.callback_number,
                     recording_path=claim.recording_path, created_at=claim.created_at,
                     updated_at=claim.updated_at, reported_at=claim.reported_at)
