"""The demo book: deterministic, realistic, idempotent, with a customer to call as."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from click.testing import CliRunner
from sqlalchemy import func, select

from ivr.cli import main
from ivr.db.models import (AgentStatus, Call, Customer, CustomerPhone, Disposition, PolicyStatus, ProductLine,
                           SalesAgent, Tier)
from ivr.db.session import session_scope
from ivr.domain.book_import import Book, BookCounts, write_book
from ivr.domain.calls import CallJournal, NewCall
from ivr.domain.customers import find_customer_by_phone, find_policy, verify_birth_date
from ivr.domain.demo_data import DEMO_CUSTOMER_NO, build_demo_book

TODAY = date(2026, 11, 21)


def _write(book: Book) -> BookCounts:
    with session_scope() as session:
        return write_book(session, book, "test-salt")


def test_same_seed_and_day_give_the_same_book() -> None:
    assert build_demo_book(300, seed=7, today=TODAY) == build_demo_book(300, seed=7, today=TODAY)
    assert build_demo_book(300, seed=7, today=TODAY) != build_demo_book(300, seed=8, today=TODAY)


def test_default_book_is_big_and_mixed_like_a_real_one() -> None:
    book = build_demo_book(today=TODAY)
    policies_per_customer = Counter(policy.customer_no for policy in book.policies)
    statuses = Counter(policy.status for policy in book.policies)
    owners_of = Counter(phone for customer in book.customers for _, phone in customer.phones)

    assert len(book.customers) == 1000 and len({c.customer_no for c in book.customers}) == 1000
    assert len(book.agents) == 50 and {a.status for a in book.agents} == set(AgentStatus)
    assert set(policies_per_customer.values()) == {1, 2, 3, 4} and len(policies_per_customer) == 1000
    assert {policy.product_line for policy in book.policies} == set(ProductLine)
    assert statuses[PolicyStatus.GRACE] > 50 and statuses[PolicyStatus.LAPSED] > 50
    assert sum(1 for p in book.policies if p.next_due_date and TODAY < p.next_due_date <= TODAY + timedelta(30)) > 300
    assert 20 < sum(c.tier is Tier.VIP for c in book.customers) < 120
    assert 20 < sum(c.language == "en" for c in book.customers) < 120
    assert any("分公司" in agent.branch for agent in book.agents)
    assert any(phone.e164.startswith("+8610") for phone in owners_of)  # Beijing landlines
    assert 3 <= sum(count == 2 for count in owners_of.values()) and max(owners_of.values()) == 2


def test_demo_data_twice_is_idempotent(database_url: str) -> None:
    book = build_demo_book(120, seed=3, today=TODAY)

    first, second = _write(book), _write(build_demo_book(120, seed=3, today=TODAY))

    assert (first.customers.inserted, first.policies.inserted) == (120, len(book.policies))
    assert (second.agents.unchanged, second.customers.unchanged, second.policies.unchanged) == (
        50, 120, len(book.policies))
    assert second.customers.inserted == second.customers.updated == second.policies.updated == 0
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 120
        assert session.scalar(select(func.count()).select_from(SalesAgent)) == 50


def test_demo_customer_is_recognised_and_verified_with_two_policies(database_url: str) -> None:
    _write(build_demo_book(5, today=TODAY))

    with session_scope() as session:
        customer = find_customer_by_phone(session, "13800138000")
        assert customer is not None and customer.customer_no == DEMO_CUSTOMER_NO and customer.language == "en"
        assert verify_birth_date(customer, "19800517")
        in_force, in_grace = find_policy(session, "8800000001"), find_policy(session, "8800000002")
    assert in_force is not None and in_force.holder.customer_no == DEMO_CUSTOMER_NO
    assert (in_force.status, in_force.next_due_date) == (PolicyStatus.IN_FORCE, TODAY + timedelta(days=10))
    assert in_grace is not None and in_grace.status is PolicyStatus.GRACE


def test_family_landline_of_demo_book_recognises_nobody(database_url: str) -> None:
    book = build_demo_book(400, today=TODAY)
    _write(book)
    owners_of = Counter(phone.e164 for customer in book.customers for _, phone in customer.phones)
    shared = next(number for number, owners in owners_of.items() if owners == 2)

    with session_scope() as session:
        assert session.scalar(select(func.count()).where(CustomerPhone.number == shared)) == 2
        assert find_customer_by_phone(session, shared) is None


def test_cli_demo_data_prints_the_demo_customer(database_url: str) -> None:
    result = CliRunner().invoke(main, ["--database-url", database_url, "demo-data", "--customers", "20",
                                       "--seed", "1", "--today", "2026-11-21"])

    assert result.exit_code == 0, result.output
    assert "DEMO0001" in result.output and "19800517" in result.output and "8800000002" in result.output


def test_calls_after_the_demo_history_get_new_ids(database_url: str) -> None:
    """The history is written with its ids given; the next real call must not collide with call 1."""
    result = CliRunner().invoke(main, ["--database-url", database_url, "demo-data", "--customers", "5",
                                       "--history-days", "1", "--calls-per-day", "5"])
    assert result.exit_code == 0, result.output
    journal = CallJournal.open(NewCall(unique_id="1700000000.1", channel="PJSIP/trunk-1", flow="hotline",
                                       ani="13800138000", caller_name="", dnis="95519"))
    journal.close(Disposition.ABANDONED_IN_IVR)
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Call)) == 6


def test_cli_demo_data_gives_one_console_user_per_role_with_its_documented_password(database_url: str) -> None:
    from ivr.domain.users import ConsoleRole, LoginOutcome, authenticate, list_users

    for _ in range(2):
        result = CliRunner().invoke(main, ["--database-url", database_url, "demo-data", "--customers", "2"])
        assert result.exit_code == 0, result.output

    assert "agent1" in result.output and "password agent1-demo" in result.output
    assert {user.role for user in list_users()} == set(ConsoleRole) and len(list_users()) == 5
    assert authenticate("supervisor1", "supervisor1-demo").outcome is LoginOutcome.OK
