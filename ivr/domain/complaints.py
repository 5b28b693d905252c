"""Complaint tickets in a closed loop: received, assigned (to a department), resolved,
customer informed, closed. Each change is a ``ComplaintEvent``: who, when, from what to what.

A ticket not resolved by its deadline (``complaint_answer_hours`` after it
was opened) is flagged ``overdue`` by ``flag_overdue`` and stays flagged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session, selectinload

from ivr.config import get_settings
from ivr.db.models import Complaint, ComplaintEvent, ComplaintStatus, ComplaintSubject, utcnow
from ivr.db.session import session_scope
from ivr.domain import audit, values
from ivr.domain.audit import IVR_ACTOR
from ivr.domain.errors import InvalidTransition, NotFound, ValidationError
from ivr.domain.numbering import next_number
from ivr.domain.paging import Page, fetch_page, within_days

__all__ = ["ComplaintStatus", "ComplaintSubject", "EventView", "TicketRef", "TicketView", "attach_recording",
           "flag_overdue", "get_complaint", "list_complaints", "open_complaint", "transition"]

# The one step allowed from each status.
NEXT_STATUS = {ComplaintStatus.RECEIVED: ComplaintStatus.ASSIGNED,
               ComplaintStatus.ASSIGNED: ComplaintStatus.RESOLVED,
               ComplaintStatus.RESOLVED: ComplaintStatus.INFORMED,
               ComplaintStatus.INFORMED: ComplaintStatus.CLOSED}
UNRESOLVED = (ComplaintStatus.RECEIVED, ComplaintStatus.ASSIGNED)


@dataclass(frozen=True)
class TicketRef:
    ticket_no: str
    due_at: datetime  # the promised answer time


@dataclass(frozen=True)
class EventView:
    at: datetime
    from_status: ComplaintStatus | None
    to_status: ComplaintStatus
    actor: str
    note: str


@dataclass(frozen=True)
class TicketView:
    ticket_no: str
    subject: ComplaintSubject
    status: ComplaintStatus
    department: str
    customer_id: int | None
    policy_id: int | None
    call_unique_id: str | None
    recording_path: str | None
    due_at: datetime
    overdue: bool
    created_at: datetime
    updated_at: datetime
    history: Sequence[EventView]  # oldest first


def open_complaint(subject: ComplaintSubject, customer_id: int | None, policy_id: int | None,
                   call_unique_id: str | None, now: datetime | None = None) -> TicketRef:
    """A ``received`` ticket (number YYMM + 6 digits), due ``complaint_answer_hours`` from now."""
    now = now or utcnow()
    due_at = now + timedelta(hours=get_settings().complaint_answer_hours)
    with session_scope() as session:
        complaint = Complaint(ticket_no=next_number(session, "complaint", f"{now:%y%m}", 6),
                              customer_id=customer_id, policy_id=policy_id, call_unique_id=call_unique_id,
                              subject=subject, status=ComplaintStatus.RECEIVED, due_at=due_at,
                              created_at=now, updated_at=now)
        complaint.events.append(ComplaintEvent(at=now, from_status=None, to_status=ComplaintStatus.RECEIVED,
                                               actor=IVR_ACTOR, note=""))
        session.add(complaint)
        audit.record(session, IVR_ACTOR, audit.COMPLAINT, complaint.ticket_no, "opened",
                     {"call": call_unique_id, "subject": subject, "status": complaint.status,
                      "customer_id": customer_id, "policy_id": policy_id, "due_at": due_at}, now)
        return TicketRef(complaint.ticket_no, due_at)


def attach_recording(ticket_no: str, relative_path: str) -> None:
    """The complaint in the caller's words, a path relative to ``recordings_dir``."""
    with session_scope() as session:
        complaint = _complaint(session, ticket_no)
        complaint.recording_path = values.recording_path(relative_path)
        audit.record(session, IVR_ACTOR, audit.COMPLAINT, ticket_no, "recording",
                     {"call": complaint.call_unique_id, "recording_path": complaint.recording_path})


def transition(ticket_no: str, to_status: ComplaintStatus, actor: str, note: str = "",
               department: str | None = None, now: datetime | None = None) -> TicketView:
    """Move the ticket one step along the loop; assigning names the department."""
    now = now or utcnow()
    actor, department = actor.strip(), (department or "").strip()
    if not actor:
        raise ValidationError("say who makes the change (actor)", "actor_required")
    with session_scope() as session:
        complaint = _complaint(session, ticket_no, for_update=True)
        if NEXT_STATUS.get(complaint.status) is not to_status:
            raise InvalidTransition(f"ticket {ticket_no} is {complaint.status.value}: it cannot become "
                                    f"{to_status.value}", "invalid_complaint_transition")
        if to_status is ComplaintStatus.ASSIGNED:
            if not department:
                raise ValidationError("assigning a ticket needs a department", "department_required")
            complaint.department = department[:100]
        complaint.events.append(ComplaintEvent(at=now, from_status=complaint.status, to_status=to_status,
                                               actor=actor[:100], note=note))
        from_status, complaint.status = complaint.status, to_status
        complaint.updated_at = now
        audit.record(session, actor[:100], audit.COMPLAINT, ticket_no, "transition",
                     {"from": from_status, "to": to_status, "department": complaint.department, "note": note}, now)
        return _view(complaint)


def flag_overdue(now: datetime | None = None) -> int:
    """Flag the unresolved tickets past their deadline; how many were newly flagged."""
    now = now or utcnow()
    with session_scope() as session:
        flagged = session.execute(update(Complaint).where(
            Complaint.status.in_(UNRESOLVED), Complaint.due_at < now, Complaint.overdue.is_(False))
            .values(overdue=True).returning(Complaint.ticket_no)).scalars().all()
        audit.record_many(session, [audit.Change(audit.SYSTEM_ACTOR, audit.COMPLAINT, ticket_no, "overdue")
                                    for ticket_no in sorted(flagged)], now)
        return len(flagged)


def get_complaint(ticket_no: str) -> TicketView:
    with session_scope() as session:
        return _view(_complaint(session, ticket_no))


def list_complaints(status: ComplaintStatus | None = None, date_from: date | None = None,
                    date_to: date | None = None, overdue: bool | None = None, page: int = 1,
                    per_page: int = 50) -> Page[TicketView]:
    """Tickets opened between the two days (UTC, both included), newest first."""
    query = _complaints().where(*within_days(Complaint.created_at, date_from, date_to))
    if status is not None:
        query = query.where(Complaint.status == status)
    if overdue is not None:
        query = query.where(Complaint.overdue.is_(overdue))
    with session_scope() as session:
        return fetch_page(session, query.order_by(Complaint.created_at.desc(), Complaint.id.desc()),
                          page, per_page, _view)


def _complaints() -> Select[tuple[Complaint]]:
    return select(Complaint).options(selectinload(Complaint.events))


def _complaint(session: Session, ticket_no: str, for_update: bool = False) -> Complaint:
    query = _complaints().where(Complaint.ticket_no == ticket_no)
    complaint = session.scalar(query.with_for_update() if for_update else query)
    if complaint is None:
        raise NotFound(f"no ticket {ticket_no}", "ticket_not_found")
    return complaint


def _view(complaint: Complaint) -> TicketView:
    return TicketView(
        ticket_no=complaint.ticket_no, subject=complaint.subject, status=complaint.status,
        department=complaint.department, customer_id=complaint.customer_id, policy_id=complaint.policy_id,
        call_unique_id=complaint.call_unique_id, recording_path=complaint.recording_path,
        due_at=complaint.due_at, overdue=complaint.overdue, created_at=complaint.created_at,
        updated_at=complaint.updated_at,
        history=tuple(EventView(e.at, e.from_status, e.to_status, e.actor, e.note) for e in complaint.events))
