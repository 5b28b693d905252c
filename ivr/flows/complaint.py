"""Complaints: subject, the complaint in the caller's words, a ticket number
and the promised answer time. The ticket then follows the closed loop in
ivr/domain/complaints.py (received, assigned, resolved, informed, closed)."""

from __future__ import annotations

from datetime import datetime, timezone

from ivr.config import get_settings
from ivr.domain import complaints
from ivr.domain.complaints import ComplaintSubject
from ivr.flows.menu import Conversation
from ivr.flows.prompts import P
from ivr.flows.recording import record_caller

SUBJECT_KEYS = {str(i): subject for i, subject in enumerate(
    (ComplaintSubject.SERVICE, ComplaintSubject.CLAIMS, ComplaintSubject.SALES,
     ComplaintSubject.BILLING, ComplaintSubject.OTHER), start=1)}
COMPLAINT_MAX_SECONDS = 180


def make_complaint(call: Conversation) -> None:
    """Anyone may complain; a recognised or verified caller's ticket names them."""
    call.state.intent = "complaint"
    subject = SUBJECT_KEYS[call.choose(P.complaint_subject, "".join(SUBJECT_KEYS))]
    now = datetime.now(timezone.utc)
    ticket = complaints.open_complaint(subject, call.state.customer_id, None,
                                       call.journal.unique_id, now)
    call.state.ticket_no = ticket.ticket_no
    call.journal.event("complaint", "opened", ticket.ticket_no)
    record_caller(call, "complaints", ticket.ticket_no, P.record_complaint, COMPLAINT_MAX_SECONDS,
                  remember=lambda path: complaints.attach_recording(ticket.ticket_no, path))
    call.state.served = True
    call.say(P.ticket_number_is)
    call.say_digits(ticket.ticket_no)
    call.say(P.answer_within)
    call.say_number(get_settings().complaint_answer_hours)
    call.say(P.hours)
