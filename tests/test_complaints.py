"""Complaint tickets: the closed loop, its history, deadlines and overdue flags."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from ivr.cli import main
from ivr.db.models import ComplaintStatus, ComplaintSubject
from ivr.domain import complaints
from ivr.domain.errors import InvalidTransition, NotFound, ValidationError
from ivr.testing.small_book import SmallBook

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc)
S = ComplaintStatus


def _open(book: SmallBook | None = None, now: datetime = NOW) -> str:
    customer_id = book.customer_id if book else None
    return complaints.open_complaint(ComplaintSubject.BILLING, customer_id, None, "1700000002.1", now).ticket_no


def _walk_to(ticket_no: str, status: ComplaintStatus) -> None:
    for step in (S.ASSIGNED, S.RESOLVED, S.INFORMED, S.CLOSED):
        complaints.transition(ticket_no, step, "agent.wang", department="billing", now=NOW)
        if step is status:
            return


def test_new_ticket_is_received_with_ten_digits_and_an_answer_due_in_48_hours(small_book: SmallBook) -> None:
    ref = complaints.open_complaint(ComplaintSubject.CLAIMS, small_book.customer_id, None, "1700000002.1", NOW)

    ticket = complaints.get_complaint(ref.ticket_no)
    assert ref.ticket_no == "2611000001" and len(_open()) == 10
    assert ref.due_at == ticket.due_at == NOW + timedelta(hours=48)
    assert (ticket.status, ticket.subject, ticket.customer_id, ticket.overdue) == (
        S.RECEIVED, ComplaintSubject.CLAIMS, small_book.customer_id, False)
    assert [(e.from_status, e.to_status, e.actor, e.at) for e in ticket.history] == [(None, S.RECEIVED, "ivr", NOW)]


def test_ticket_goes_round_the_loop_and_keeps_who_did_what_when(database_url: str) -> None:
    ticket_no = _open()
    steps = [(S.ASSIGNED, "lead.li", "billing"), (S.RESOLVED, "agent.wang", None),
             (S.INFORMED, "agent.wang", None), (S.CLOSED, "lead.li", None)]
    for hours, (status, actor, department) in enumerate(steps, start=1):
        view = complaints.transition(ticket_no, status, actor, note=f"step {hours}", department=department,
                                     now=NOW + timedelta(hours=hours))

    assert view.status is S.CLOSED and view.department == "billing"
    assert [(e.from_status, e.to_status, e.actor, e.note, e.at) for e in view.history[1:]] == [
        (S.RECEIVED, S.ASSIGNED, "lead.li", "step 1", NOW + timedelta(hours=1)),
        (S.ASSIGNED, S.RESOLVED, "agent.wang", "step 2", NOW + timedelta(hours=2)),
        (S.RESOLVED, S.INFORMED, "agent.wang", "step 3", NOW + timedelta(hours=3)),
        (S.INFORMED, S.CLOSED, "lead.li", "step 4", NOW + timedelta(hours=4))]


@pytest.mark.parametrize(("current", "target"), [
    (S.RECEIVED, S.RESOLVED), (S.RECEIVED, S.CLOSED), (S.ASSIGNED, S.ASSIGNED), (S.RESOLVED, S.ASSIGNED),
    (S.CLOSED, S.RECEIVED), (S.INFORMED, S.RESOLVED)])
def test_skipping_or_going_back_in_the_loop_is_refused(database_url: str, current: ComplaintStatus,
                                                       target: ComplaintStatus) -> None:
    ticket_no = _open()
    if current is not S.RECEIVED:
        _walk_to(ticket_no, current)

    with pytest.raises(InvalidTransition) as error:
        complaints.transition(ticket_no, target, "agent.wang", department="billing")

    assert (error.value.error_id, error.value.http_status) == ("invalid_complaint_transition", 409)
    assert complaints.get_complaint(ticket_no).status is current


def test_assigning_needs_a_department_and_every_change_an_actor(database_url: str) -> None:
    ticket_no = _open()

    with pytest.raises(ValidationError, match="department"):
        complaints.transition(ticket_no, S.ASSIGNED, "lead.li")
    with pytest.raises(ValidationError, match="actor"):
        complaints.transition(ticket_no, S.ASSIGNED, " ", department="billing")
    assert len(complaints.get_complaint(ticket_no).history) == 1


def test_unknown_ticket_is_not_found(database_url: str) -> None:
    with pytest.raises(NotFound):
        complaints.get_complaint("0000000000")
    with pytest.raises(NotFound):
        complaints.transition("0000000000", S.ASSIGNED, "lead.li", department="billing")


def test_unresolved_tickets_past_their_deadline_are_flagged_once(database_url: str) -> None:
    received, assigned, resolved, fresh = _open(), _open(), _open(), _open(now=NOW + timedelta(hours=10))
    _walk_to(assigned, S.ASSIGNED)
    _walk_to(resolved, S.RESOLVED)
    deadline = NOW + timedelta(hours=48)

    assert complaints.flag_overdue(deadline) == 0
    assert complaints.flag_overdue(deadline + timedelta(seconds=1)) == 2
    assert complaints.flag_overdue(deadline + timedelta(hours=1)) == 0
    assert {t: complaints.get_complaint(t).overdue for t in (received, assigned, resolved, fresh)} == {
        received: True, assigned: True, resolved: False, fresh: False}
    complaints.transition(assigned, S.RESOLVED, "agent.wang")
    assert complaints.get_complaint(assigned).overdue  # a missed deadline stays on record


def test_recording_is_attached_to_the_ticket(database_url: str) -> None:
    ticket_no = _open()

    complaints.attach_recording(ticket_no, "ivr/complaints/2026-11-21/x-090000")

    assert complaints.get_complaint(ticket_no).recording_path == "ivr/complaints/2026-11-21/x-090000"
    with pytest.raises(ValidationError):
        complaints.attach_recording(ticket_no, "/var/spool/asterisk/x")


def test_tickets_are_listed_with_status_overdue_and_date_filters(database_url: str) -> None:
    old = _open(now=NOW - timedelta(days=5))
    recent = [_open() for _ in range(3)]
    _walk_to(recent[0], S.ASSIGNED)
    complaints.flag_overdue(NOW)

    assert [t.ticket_no for t in complaints.list_complaints(overdue=True).items] == [old]
    assert [t.ticket_no for t in complaints.list_complaints(status=S.ASSIGNED).items] == [recent[0]]
    assert complaints.list_complaints(date_from=NOW.date()).total == 3
    page = complaints.list_complaints(page=2, per_page=3)
    assert [t.ticket_no for t in page.items] == [old] and page.total == 4
    assert len(page.items[0].history) == 1


def test_cli_moves_a_ticket_and_flags_overdue_ones(database_url: str) -> None:
    ticket_no = _open(now=datetime.now(timezone.utc) - timedelta(days=3))
    runner = CliRunner()

    assigned = runner.invoke(main, ["complaints", "transition", ticket_no, "assigned", "--actor", "lead.li",
                                    "--department", "billing", "--note", "for Wang"])
    skipped = runner.invoke(main, ["complaints", "transition", ticket_no, "closed", "--actor", "lead.li"])
    flagged = runner.invoke(main, ["complaints", "flag-overdue"])

    assert assigned.exit_code == 0 and "assigned (billing)" in assigned.output
    assert skipped.exit_code == 1 and "cannot become closed" in skipped.output
    assert flagged.exit_code == 0 and "1 tickets newly flagged" in flagged.output
    assert complaints.get_complaint(ticket_no).history[-1].note == "for Wang"
