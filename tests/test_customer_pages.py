"""The customer search and 360 pages and their JSON twins: who may open them, what they show, escaping."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import pytest
from flask.testing import FlaskClient

from ivr.domain.complaints import ComplaintSubject, open_complaint
from ivr.domain.users import ConsoleRole
from ivr.testing.console import logged_in
from ivr.testing.customer_book import (
    HOSTILE_CALLER_NAME,
    HOSTILE_NAME,
    WANG_FANG_BIRTH,
    WANG_FANG_LAST4,
    CustomerBook,
    claim_call,
    report_claim,
)


@pytest.fixture
def book(database_url: str) -> CustomerBook:
    return CustomerBook().write()


@pytest.fixture
def agent(client: FlaskClient, book: CustomerBook) -> FlaskClient:
    return logged_in(client, ConsoleRole.AGENT)


def hits(client: FlaskClient, **args: str) -> list[str]:
    response = client.get("/api/customers", query_string=args)
    assert response.status_code == 200, response.get_json()
    return [hit["customer_no"] for hit in response.get_json()["items"]]


@pytest.mark.parametrize("written", ["+86 139 1111 0001", "0086-13911110001", "13911110001"])
def test_api_finds_a_customer_by_phone_in_any_form(agent: FlaskClient, written: str) -> None:
    assert hits(agent, kind="phone", q=written) == ["C1"]


def test_api_finds_by_name_policy_and_id_last4_with_birth_date(agent: FlaskClient, book: CustomerBook) -> None:
    assert hits(agent, q="王") == ["C1"]  # kind defaults to name
    assert hits(agent, kind="policy", q=book.motor_policy) == ["C1"]
    assert hits(agent, kind="id", q=WANG_FANG_LAST4, birth_date=WANG_FANG_BIRTH.isoformat()) == ["C1"]
    assert hits(agent, kind="phone", q="13700000000") == []


def test_api_refuses_id_last4_without_birth_date(agent: FlaskClient) -> None:
    response = agent.get("/api/customers", query_string={"kind": "id", "q": WANG_FANG_LAST4})
    assert response.status_code == 400
    assert response.get_json()["error"]["id"] == "birth_date_required"


@pytest.mark.parametrize("args, error_id", [({"kind": "ssn", "q": "1"}, "invalid_kind"),
                                            ({"kind": "phone", "q": "abc"}, "invalid_phone"),
                                            ({"kind": "name"}, "query_required"),
                                            ({"kind": "id", "q": "1234", "birth_date": "1985"}, "invalid_birth_date")])
def test_api_refuses_bad_searches(agent: FlaskClient, args: dict[str, str], error_id: str) -> None:
    response = agent.get("/api/customers", query_string=args)
    assert (response.status_code, response.get_json()["error"]["id"]) == (400, error_id)


def test_search_page_refuses_id_last4_without_birth_date(agent: FlaskClient) -> None:
    response = agent.get("/customers", query_string={"kind": "id", "q": WANG_FANG_LAST4})
    assert response.status_code == 400
    assert "birth date" in response.get_data(as_text=True)


def test_search_page_lists_hits_linking_to_the_360(agent: FlaskClient, book: CustomerBook) -> None:
    page = agent.get("/customers", query_string={"kind": "phone", "q": "+86 139 1111 0001"}).get_data(as_text=True)
    assert f'href="/customers/{book.wang_fang}"' in page and "王芳" in page
    assert 'id="no-hits"' in agent.get("/customers?q=nobody").get_data(as_text=True)
    assert 'id="hits"' not in agent.get("/customers").get_data(as_text=True)


def test_landing_page_links_to_the_search(agent: FlaskClient) -> None:
    assert 'href="/customers"' in agent.get("/").get_data(as_text=True)


def test_api_360_has_policies_claims_complaints_and_calls(agent: FlaskClient, book: CustomerBook) -> None:
    now = datetime.now(UTC)
    claim_no = report_claim(book.motor_policy, book.wang_fang, date.today() - timedelta(days=1), now)
    ticket = open_complaint(ComplaintSubject.SERVICE, book.wang_fang, None, None, now - timedelta(days=5))
    claim_call("call-1", book.wang_fang)
    body = agent.get(f"/api/customers/{book.wang_fang}").get_json()
    assert body["identity"]["national_id_last4"] == WANG_FANG_LAST4 and body["identity"]["vip"] is True
    assert "national_id_hash" not in body["identity"]
    assert [p["policy_no"] for p in body["policies"]] == [book.life_policy, book.motor_policy, book.health_policy]
    assert body["policies"][0]["sum_insured"] == "300000.00"
    assert [c["claim_no"] for c in body["claims"]] == [claim_no]
    assert [(t["ticket_no"], t["overdue"]) for t in body["complaints"]] == [(ticket.ticket_no, True)]
    [call] = body["calls"]["items"]
    assert (call["unique_id"], call["path"]["intent"], call["path"]["verified"]) == ("call-1", "claim", True)
    assert body["calls"]["per_page"] == 20


def test_360_page_marks_vip_at_risk_policies_and_overdue_complaints(agent: FlaskClient, book: CustomerBook) -> None:
    open_complaint(ComplaintSubject.SERVICE, book.wang_fang, None, None, datetime.now(UTC) - timedelta(days=5))
    claim_call("call-1", book.wang_fang)
    page = agent.get(f"/customers/{book.wang_fang}").get_data(as_text=True)
    assert 'id="vip"' in page
    assert 'class="policy-grace"' in page and "<strong>GRACE</strong>" in page and "<strong>LAPSED</strong>" in page
    assert "OVERDUE" in page
    assert "claim 261121000001 opened" in page and "birth date check: passed" in page
    assert "…" + WANG_FANG_LAST4 in page


def test_unknown_customer_is_404(agent: FlaskClient) -> None:
    assert agent.get("/api/customers/999999").status_code == 404
    assert agent.get("/customers/999999").status_code == 404


def test_customer_name_is_shown_as_text_in_search_and_360(agent: FlaskClient, book: CustomerBook) -> None:
    search = agent.get("/customers", query_string={"q": "script"}).get_data(as_text=True)
    page = agent.get(f"/customers/{book.ids['C3']}").get_data(as_text=True)
    for html in (search, page):
        assert HOSTILE_NAME not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_caller_name_in_the_history_is_shown_as_text(agent: FlaskClient, book: CustomerBook) -> None:
    claim_call("call-x", book.wang_fang, caller_name=HOSTILE_CALLER_NAME)
    page = agent.get(f"/customers/{book.wang_fang}").get_data(as_text=True)
    assert HOSTILE_CALLER_NAME not in page and "<img" not in page
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in page


def test_search_text_is_echoed_as_text(agent: FlaskClient) -> None:
    page = agent.get("/customers", query_string={"q": '"><script>x()</script>'}).get_data(as_text=True)
    assert "<script>x()" not in page and "&lt;script&gt;x()" in page


def test_not_logged_in_gets_401_from_the_api_and_the_login_page_otherwise(client: FlaskClient,
                                                                          book: CustomerBook) -> None:
    assert client.get("/api/customers?q=wang").status_code == 401
    assert client.get(f"/api/customers/{book.wang_fang}").get_json()["error"]["id"] == "not_authenticated"
    for path in ("/customers?q=wang", f"/customers/{book.wang_fang}"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("role", list(ConsoleRole))
def test_every_console_role_may_open_a_customer(client: FlaskClient, book: CustomerBook, role: ConsoleRole) -> None:
    logged_in(client, role)
    assert client.get(f"/customers/{book.wang_fang}").status_code == 200
    assert client.get(f"/api/customers/{book.wang_fang}").status_code == 200


def test_each_view_of_a_customer_is_logged_with_user_and_customer(agent: FlaskClient, book: CustomerBook,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="ivr.web.api"):
        agent.get(f"/customers/{book.wang_fang}")
        agent.get(f"/api/customers/{book.wang_fang}")
        agent.get("/api/customers?q=wang")
    viewed = [r for r in caplog.records if r.getMessage().startswith("customer record viewed")]
    assert [(r.customer_id, r.console_user) for r in viewed] == [(book.wang_fang, "agent1")] * 2  # type: ignore[attr-defined]


def test_360_pages_of_history(agent: FlaskClient, book: CustomerBook) -> None:
    for n in range(3):
        claim_call(f"call-{n}", book.wang_fang)
    body = agent.get(f"/api/customers/{book.wang_fang}?page=2&per_page=2").get_json()
    assert [c["unique_id"] for c in body["calls"]["items"]] == ["call-0"] and body["calls"]["total"] == 3
    page = agent.get(f"/customers/{book.wang_fang}?page=1&per_page=2").get_data(as_text=True)
    assert "Older</a>" in page
