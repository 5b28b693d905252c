"""The JSON API: lists with pages and filters, single items, and errors as JSON with stable ids.

Each test reads as a logged-in quality analyst, a role that may read every list
(who may read what: tests/test_console_auth.py).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from flask.testing import FlaskClient

from ivr.db.models import ComplaintSubject, IncidentType
from ivr.domain import claims, complaints
from ivr.domain.sales_agents import check_agent
from ivr.domain.users import ConsoleRole
from ivr.testing.console import csrf_token, logged_in
from ivr.testing.small_book import TERMINATED_AGENT, SmallBook

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def client(client: FlaskClient) -> FlaskClient:
    return logged_in(client, ConsoleRole.QUALITY)


def _claims(book: SmallBook, count: int) -> list[str]:
    return [claims.open_claim(book.motor_policy, book.customer_id, f"1700000004.{n}", NOW + timedelta(minutes=n))
            .claim_no for n in range(count)]


def test_claims_come_in_pages_newest_first(client: FlaskClient, small_book: SmallBook) -> None:
    numbers = _claims(small_book, 5)

    response = client.get("/api/claims?page=2&per_page=2")

    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    body = response.get_json()
    assert (body["page"], body["per_page"], body["total"]) == (2, 2, 5)
    assert [item["claim_no"] for item in body["items"]] == [numbers[2], numbers[1]]


def test_claim_is_read_whole_with_iso_dates_and_enum_values(client: FlaskClient, small_book: SmallBook) -> None:
    claim_no = _claims(small_book, 1)[0]
    claims.record_incident_type(claim_no, IncidentType.GLASS)
    claims.record_incident_date(claim_no, date(2026, 11, 20))
    claims.submit_claim(claim_no, NOW + timedelta(minutes=5))

    body = client.get(f"/api/claims/{claim_no}").get_json()

    assert body["claim_no"] == claim_no and body["policy_no"] == small_book.motor_policy
    assert (body["status"], body["incident_type"], body["incident_date"]) == ("reported", "glass", "2026-11-20")
    assert body["reported_at"] == "2026-11-21T09:05:00+00:00"


def test_claims_are_filtered_by_status_and_days(client: FlaskClient, small_book: SmallBook) -> None:
    _claims(small_book, 2)

    assert client.get("/api/claims?status=incomplete").get_json()["total"] == 2
    assert client.get("/api/claims?status=reported").get_json()["total"] == 0
    assert client.get("/api/claims?from=2026-11-21&to=2026-11-21").get_json()["total"] == 2
    assert client.get("/api/claims?to=2026-11-20").get_json()["total"] == 0


@pytest.mark.parametrize(("query", "error_id"), [
    ("page=0", "invalid_page"), ("page=x", "invalid_page"), ("per_page=101", "invalid_per_page"),
    ("per_page=-1", "invalid_per_page"), ("status=lost", "invalid_status"), ("from=21-11-2026", "invalid_from"),
    ("to=2026-02-30", "invalid_to"), ("from=2026-11-22&to=2026-11-21", "invalid_date_range"),
])
def test_bad_parameters_are_400_with_an_error_id(client: FlaskClient, query: str, error_id: str) -> None:
    response = client.get(f"/api/claims?{query}")

    assert response.status_code == 400 and response.mimetype == "application/json"
    assert response.get_json()["error"]["id"] == error_id


def test_unknown_claim_ticket_or_path_is_a_json_404(client: FlaskClient) -> None:
    for path, error_id in (("/api/claims/261121999999", "claim_not_found"),
                           ("/api/complaints/2611999999", "ticket_not_found"), ("/api/nothing", "not_found")):
        response = client.get(path)
        assert response.status_code == 404 and response.get_json()["error"]["id"] == error_id


def test_writing_is_not_allowed(client: FlaskClient) -> None:
    response = client.post("/api/claims", headers={"X-CSRF-Token": csrf_token(client)})

    assert response.status_code == 405 and response.get_json()["error"]["id"] == "method_not_allowed"


def test_caller_text_comes_back_as_json_that_browsers_will_not_sniff_as_html(client: FlaskClient, small_book: SmallBook) -> None:
    check_agent("<script>alert(1)</script>", "<img src=x>", None, NOW)

    response = client.get("/api/agent-checks")

    assert response.mimetype == "application/json" and response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.get_json()["items"][0]["keyed_code"] == "<script>alert(1)</script>"


def test_complaints_with_history_and_overdue_filter(client: FlaskClient, small_book: SmallBook) -> None:
    late = complaints.open_complaint(ComplaintSubject.SALES, small_book.customer_id, None, "c1",
                                     NOW - timedelta(days=3)).ticket_no
    on_time = complaints.open_complaint(ComplaintSubject.OTHER, None, None, "c2", NOW).ticket_no
    complaints.transition(on_time, complaints.ComplaintStatus.ASSIGNED, "lead.li", department="sales", now=NOW)
    complaints.flag_overdue(NOW)

    overdue = client.get("/api/complaints?overdue=true").get_json()
    assigned = client.get("/api/complaints?status=assigned").get_json()
    ticket = client.get(f"/api/complaints/{on_time}").get_json()

    assert [t["ticket_no"] for t in overdue["items"]] == [late]
    assert [t["ticket_no"] for t in assigned["items"]] == [on_time]
    assert [(e["from_status"], e["to_status"], e["actor"]) for e in ticket["history"]] == [
        (None, "received", "ivr"), ("received", "assigned", "lead.li")]
    assert client.get("/api/complaints?overdue=yes").status_code == 400


def test_agent_checks_and_fraud_alerts_are_listed(client: FlaskClient, small_book: SmallBook) -> None:
    for day in (0, 1):
        check_agent(TERMINATED_AGENT, "+8613800138001", None, NOW + timedelta(days=day))
    check_agent("99999", "+8613800138001", None, NOW)

    checks = client.get("/api/agent-checks?status=terminated").get_json()
    alerts = client.get("/api/fraud-alerts?status=open").get_json()

    assert checks["total"] == 2 and {c["agent_code"] for c in checks["items"]} == {TERMINATED_AGENT}
    assert [(a["agent_code"], a["check_count"], a["status"]) for a in alerts["items"]] == [
        (TERMINATED_AGENT, 2, "open")]
    assert client.get("/api/fraud-alerts?status=closed").get_json()["total"] == 0
    assert client.get("/api/agent-checks?status=open").status_code == 400
