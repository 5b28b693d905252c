"""The customer 360's search and page data (ivr/domain/customer_view.py), on the test database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event

from ivr.db.models import (
    CallbackStatus,
    ClaimStatus,
    ComplaintStatus,
    Disposition,
    Gender,
    PolicyStatus,
    Tier,
)
from ivr.db.session import get_engine, session_scope
from ivr.domain.book_import import Book, CustomerRow, write_book
from ivr.domain.complaints import ComplaintSubject, open_complaint
from ivr.domain.customer_view import (
    MAX_HITS,
    CustomerQuery,
    SearchKind,
    customer_360,
    search_customers,
)
from ivr.domain.errors import NotFound, ValidationError
from ivr.domain.ivr_path import IvrPath, PathStep, summarise_path
from ivr.testing.customer_book import (
    AGENT_CODE,
    HOSTILE_NAME,
    TODAY,
    WANG_FANG_BIRTH,
    WANG_FANG_LAST4,
    CustomerBook,
    claim_call,
    closed_complaint,
    open_callback,
    report_claim,
)

NOW = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)


@pytest.fixture
def book(database_url: str) -> CustomerBook:
    return CustomerBook().write()


def found(kind: SearchKind, text: str, birth_date: date | None = None) -> list[str]:
    return [hit.customer_no for hit in search_customers(CustomerQuery(kind, text, birth_date))]


@pytest.mark.parametrize("written", ["+86 139 1111 0001", "0086-13911110001", "13911110001", "8613911110001",
                                     "139-1111-0001", "１３９１１１１０００１"])
def test_phone_in_any_written_form_finds_the_customer(book: CustomerBook, written: str) -> None:
    assert found(SearchKind.PHONE, written) == ["C1"]


def test_landline_found_whatever_extension_is_written(book: CustomerBook) -> None:
    assert found(SearchKind.PHONE, "010 1234 5678") == ["C1"]
    assert found(SearchKind.PHONE, "+86 10 12345678 ext 999") == ["C1"]


def test_text_that_is_no_phone_number_is_refused(book: CustomerBook) -> None:
    with pytest.raises(ValidationError) as refused:
        search_customers(CustomerQuery(SearchKind.PHONE, "call me"))
    assert refused.value.error_id == "invalid_phone"


def test_name_matches_part_of_a_name_in_any_case_chinese_or_latin(book: CustomerBook) -> None:
    assert found(SearchKind.NAME, "芳") == ["C1"]
    assert found(SearchKind.NAME, "wang") == ["C2"]
    assert found(SearchKind.NAME, "  LEI ") == ["C2"]


def test_name_search_treats_wildcards_as_text(book: CustomerBook) -> None:
    assert found(SearchKind.NAME, "%") == []
    assert found(SearchKind.NAME, "_") == []
    assert found(SearchKind.NAME, "<script>") == ["C3"]


def test_policy_number_must_match_exactly(book: CustomerBook) -> None:
    assert found(SearchKind.POLICY, book.motor_policy) == ["C1"]
    assert found(SearchKind.POLICY, f" {book.other_policy} ") == ["C2"]
    assert found(SearchKind.POLICY, book.motor_policy[:-1]) == []


def test_national_id_last4_needs_the_birth_date_and_tells_namesakes_apart(book: CustomerBook) -> None:
    assert found(SearchKind.NATIONAL_ID, WANG_FANG_LAST4, WANG_FANG_BIRTH) == ["C1"]
    assert found(SearchKind.NATIONAL_ID, WANG_FANG_LAST4.lower(), date(1990, 1, 2)) == ["C2"]
    assert found(SearchKind.NATIONAL_ID, WANG_FANG_LAST4, date(1999, 9, 9)) == []


def test_national_id_last4_alone_is_refused(book: CustomerBook) -> None:
    with pytest.raises(ValidationError) as refused:
        search_customers(CustomerQuery(SearchKind.NATIONAL_ID, WANG_FANG_LAST4))
    assert refused.value.error_id == "birth_date_required"
    with pytest.raises(ValidationError):
        search_customers(CustomerQuery(SearchKind.NATIONAL_ID, "12345", WANG_FANG_BIRTH))


def test_unknown_customer_gives_no_hits(book: CustomerBook) -> None:
    assert found(SearchKind.PHONE, "13700000000") == []
    assert found(SearchKind.NAME, "Nobody") == []
    assert found(SearchKind.POLICY, "0000000000") == []


def test_empty_query_is_refused(book: CustomerBook) -> None:
    with pytest.raises(ValidationError):
        search_customers(CustomerQuery(SearchKind.NAME, "   "))


def test_a_hit_shows_enough_to_pick_the_right_customer(book: CustomerBook) -> None:
    [hit] = search_customers(CustomerQuery(SearchKind.NAME, "王芳"))
    assert (hit.customer_id, hit.birth_date, hit.national_id_last4, hit.policy_count) == (
        book.wang_fang, WANG_FANG_BIRTH, WANG_FANG_LAST4, 3)
    assert set(hit.phones) == {"+8613911110001", "+861012345678 ext 801"}


def test_search_results_are_capped(book: CustomerBook) -> None:
    rows = [CustomerRow(f"Z{n}", f"Zhao {n}", Gender.MALE, date(1980, 1, 1), f"Z{n:08d}", "zh", Tier.STANDARD, ())
            for n in range(MAX_HITS + 5)]
    with session_scope() as session:
        write_book(session, Book(customers=rows), "test-salt")
    assert len(found(SearchKind.NAME, "zhao")) == MAX_HITS


def test_360_shows_identity_with_only_the_id_last4(book: CustomerBook) -> None:
    identity = customer_360(book.wang_fang, TODAY).identity
    assert (identity.name, identity.birth_date, identity.national_id_last4) == ("王芳", WANG_FANG_BIRTH, WANG_FANG_LAST4)
    assert identity.vip and identity.vip_reason == "vip_tier"
    assert [(p.number, p.extension) for p in identity.phones] == [("+8613911110001", ""), ("+861012345678", "801")]
    assert not hasattr(identity, "national_id_hash")


def test_360_lists_every_policy_with_status_dues_and_sales_agent(book: CustomerBook) -> None:
    view = customer_360(book.wang_fang, TODAY)
    assert [(p.policy_no, p.status) for p in view.policies] == [
        (book.life_policy, PolicyStatus.IN_FORCE), (book.motor_policy, PolicyStatus.GRACE),
        (book.health_policy, PolicyStatus.LAPSED)]
    life, motor, health = view.policies
    assert (life.sales_agent_code, str(life.sum_insured), life.next_due_date) == (AGENT_CODE, "300000.00",
                                                                                 date(2026, 12, 1))
    assert (life.at_risk, life.lapse_date) == (False, None)
    assert motor.at_risk and motor.lapse_date == date(2026, 11, 30)
    assert health.lapse_date == date(2026, 7, 31)
    assert view.relationship.policy_count == 3 and view.relationship.in_force_count == 1
    assert view.relationship.nearest_due is not None and view.relationship.nearest_due.policy_no == book.life_policy
    assert [r.policy_no for r in view.relationship.at_risk] == [book.health_policy, book.motor_policy]


def test_360_shows_open_and_recent_closed_claims_and_complaints(book: CustomerBook) -> None:
    claim_no = report_claim(book.motor_policy, book.wang_fang, date(2026, 11, 19), NOW - timedelta(days=1))
    late = open_complaint(ComplaintSubject.SERVICE, book.wang_fang, None, None, NOW - timedelta(days=3))
    fresh = open_complaint(ComplaintSubject.SALES, book.wang_fang, None, None, NOW - timedelta(hours=1))
    done = closed_complaint(book.wang_fang, NOW - timedelta(days=30))
    open_complaint(ComplaintSubject.SERVICE, book.ids["C2"], None, None, NOW)

    view = customer_360(book.wang_fang, TODAY, now=NOW)
    assert [(c.claim_no, c.status, c.open, c.policy_no) for c in view.claims] == [
        (claim_no, ClaimStatus.REPORTED, True, book.motor_policy)]
    assert [(c.ticket_no, c.open, c.overdue) for c in view.complaints] == [
        (fresh.ticket_no, True, False), (late.ticket_no, True, True), (done, False, False)]
    assert view.complaints[2].status is ComplaintStatus.CLOSED


def test_360_shows_callback_requests_of_the_customer_and_their_numbers(book: CustomerBook) -> None:
    open_callback("+8613911110001", None, NOW)
    open_callback("+8613911110002", book.ids["C2"], NOW)
    [callback] = customer_360(book.wang_fang, TODAY).callbacks
    assert (callback.number, callback.status, callback.request_count) == ("+8613911110001", CallbackStatus.OPEN, 1)


def test_360_contact_history_newest_first_with_the_ivr_path(book: CustomerBook) -> None:
    claim_call("call-1", book.wang_fang)
    claim_call("call-2", None, ani="+86 139 1111 0001")  # from their phone, nobody identified
    claim_call("call-3", book.ids["C2"], ani="13911110001")  # someone else identified on their phone
    calls = customer_360(book.wang_fang, TODAY).calls
    assert [c.unique_id for c in calls.items] == ["call-2", "call-1"] and calls.total == 2
    unidentified, theirs = calls.items
    assert (theirs.disposition, theirs.transfer_reason, theirs.identified) == (
        Disposition.TRANSFERRED, "caller_pressed_0", True)
    assert theirs.started_at.tzinfo is not None
    assert (theirs.path.intent, theirs.path.verified) == ("claim", True)
    assert theirs.path.steps == ("identified by caller number: recognised", "birth date check: passed",
                                 "claim 261121000001 opened", "asked for a person: caller_pressed_0",
                                 "queued in claims (claim+vip_tier)")
    assert not unidentified.identified and not unidentified.path.verified


def test_contact_history_is_paged(book: CustomerBook) -> None:
    for n in range(5):
        claim_call(f"call-{n}", book.wang_fang)
    page = customer_360(book.wang_fang, TODAY, calls_page=2, calls_per_page=2).calls
    assert ([c.unique_id for c in page.items], page.total) == (["call-2", "call-1"], 5)
    with pytest.raises(ValidationError):
        customer_360(book.wang_fang, TODAY, calls_per_page=1000)


@pytest.fixture
def statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", count)
    yield seen
    event.remove(engine, "before_cursor_execute", count)


def test_360_reads_a_fixed_number_of_queries_however_long_the_history(book: CustomerBook,
                                                                      statements: list[str]) -> None:
    claim_call("call-a", book.wang_fang)
    report_claim(book.motor_policy, book.wang_fang, date(2026, 11, 19), NOW)
    statements.clear()
    customer_360(book.wang_fang, TODAY)
    few = len(statements)
    for n in range(6):
        claim_call(f"call-{n}", book.wang_fang)
        report_claim(book.motor_policy, book.wang_fang, date(2026, 11, 19), NOW)
    statements.clear()
    customer_360(book.wang_fang, TODAY)
    assert len(statements) == few


def test_unknown_customer_id_is_not_found(book: CustomerBook) -> None:
    with pytest.raises(NotFound):
        customer_360(999999, TODAY)


def test_hostile_name_comes_back_as_stored(book: CustomerBook) -> None:
    assert customer_360(book.ids["C3"], TODAY).identity.name == HOSTILE_NAME


def test_ivr_path_intent_is_the_last_service_used_and_details_are_left_out() -> None:
    path = summarise_path([PathStep("prompt", "main_menu", ""), PathStep("input", "main_menu", "1"),
                           PathStep("summary", "policies", "3"), PathStep("verification", "agent_pin", "passed"),
                           PathStep("odd", "thing", "")], verified=False)
    assert path == IvrPath("sales_agent_line", False, ("heard the summary of 3 policies", "agent pin check: passed",
                                                       "odd thing"))
