"""Checking a sales agent, fraud alerts on repeated checks, and the agents' internal line."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from click.testing import CliRunner
from sqlalchemy import select

from ivr.cli import main
from ivr.db.models import AgentCheckResult, FraudAlertStatus, Policy, PolicyStatus, SalesAgent
from ivr.db.session import session_scope
from ivr.domain import sales_agents
from ivr.domain.sales_agents import DuePremium, PinOutcome, check_agent, verify_agent_pin
from ivr.testing.small_book import ACTIVE_AGENT, AGENT_PIN, SUSPENDED_AGENT, TERMINATED_AGENT, SmallBook

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc)
CALLER = "+8613800138001"


def _check(code: str, now: datetime = NOW) -> sales_agents.AgentCheckOutcome:
    return check_agent(code, CALLER, "1700000003.1", now)


def test_active_agent_is_named_with_branch(small_book: SmallBook) -> None:
    outcome = _check(ACTIVE_AGENT)

    assert (outcome.result, outcome.name, outcome.branch, outcome.alert_raised) == (
        AgentCheckResult.ACTIVE, "王伟", "北京分公司", False)


def test_caller_keys_only_the_digits_of_a_code(small_book: SmallBook) -> None:
    assert _check("0001").result is AgentCheckResult.ACTIVE
    assert _check("0008").result is AgentCheckResult.TERMINATED
    assert _check("1").result is AgentCheckResult.UNKNOWN


def test_unknown_suspended_and_terminated_codes_are_told_apart_and_all_logged(small_book: SmallBook) -> None:
    results = [_check(code).result for code in ("99999", SUSPENDED_AGENT, TERMINATED_AGENT)]

    checks = sales_agents.list_agent_checks().items
    assert results == [AgentCheckResult.UNKNOWN, AgentCheckResult.SUSPENDED, AgentCheckResult.TERMINATED]
    assert [(c.keyed_code, c.agent_code, c.result, c.caller_number) for c in reversed(checks)] == [
        ("99999", None, AgentCheckResult.UNKNOWN, CALLER),
        (SUSPENDED_AGENT, SUSPENDED_AGENT, AgentCheckResult.SUSPENDED, CALLER),
        (TERMINATED_AGENT, TERMINATED_AGENT, AgentCheckResult.TERMINATED, CALLER)]


def test_second_check_of_a_terminated_code_within_30_days_raises_one_alert_that_later_checks_update(
        small_book: SmallBook) -> None:
    first = _check(TERMINATED_AGENT)
    second = _check("0008", NOW + timedelta(days=29))
    third = _check(TERMINATED_AGENT, NOW + timedelta(days=31))

    alerts = sales_agents.list_fraud_alerts().items
    assert (first.alert_raised, second.alert_raised, third.alert_raised) == (False, True, False)
    assert len(alerts) == 1
    assert (alerts[0].agent_code, alerts[0].check_count, alerts[0].status) == (
        TERMINATED_AGENT, 3, FraudAlertStatus.OPEN)
    assert (alerts[0].first_check_at, alerts[0].last_check_at) == (NOW, NOW + timedelta(days=31))


def test_checks_further_apart_than_30_days_raise_no_alert(small_book: SmallBook) -> None:
    _check(TERMINATED_AGENT)

    assert not _check(TERMINATED_AGENT, NOW + timedelta(days=30, seconds=1)).alert_raised
    assert sales_agents.list_fraud_alerts().total == 0


def test_suspended_code_raises_alerts_but_active_and_unknown_codes_never(small_book: SmallBook) -> None:
    for code in (ACTIVE_AGENT, ACTIVE_AGENT, "99999", "99999"):
        _check(code)
    assert sales_agents.list_fraud_alerts().total == 0

    _check(SUSPENDED_AGENT)

    assert _check(SUSPENDED_AGENT).alert_raised
    assert [a.agent_code for a in sales_agents.list_fraud_alerts(FraudAlertStatus.OPEN).items] == [SUSPENDED_AGENT]
    assert sales_agents.list_fraud_alerts(FraudAlertStatus.CLOSED).total == 0


def test_right_pin_opens_the_internal_line(small_book: SmallBook) -> None:
    assert verify_agent_pin(ACTIVE_AGENT, AGENT_PIN, NOW) is PinOutcome.OK
    assert verify_agent_pin("0001", AGENT_PIN, NOW) is PinOutcome.OK


def test_five_wrong_pins_lock_the_code_for_15_minutes(small_book: SmallBook) -> None:
    outcomes = [verify_agent_pin(ACTIVE_AGENT, "0000", NOW) for _ in range(5)]

    assert outcomes == [PinOutcome.WRONG] * 4 + [PinOutcome.LOCKED]
    assert verify_agent_pin(ACTIVE_AGENT, AGENT_PIN, NOW + timedelta(minutes=14)) is PinOutcome.LOCKED
    assert verify_agent_pin(ACTIVE_AGENT, AGENT_PIN, NOW + timedelta(minutes=15)) is PinOutcome.OK


def test_codes_that_cannot_log_in_are_unknown_agents(small_book: SmallBook) -> None:
    assert verify_agent_pin("99999", AGENT_PIN, NOW) is PinOutcome.UNKNOWN_AGENT
    assert verify_agent_pin(TERMINATED_AGENT, "1357", NOW) is PinOutcome.UNKNOWN_AGENT  # left the company
    assert verify_agent_pin(SUSPENDED_AGENT, "1357", NOW) is PinOutcome.UNKNOWN_AGENT  # no PIN set


def test_pins_are_stored_salted_and_hashed(small_book: SmallBook) -> None:
    with session_scope() as session:
        hashes = session.scalars(select(SalesAgent.pin_hash).where(SalesAgent.pin_hash.is_not(None))).all()

    assert len(hashes) == 2 and all(h.startswith("pbkdf2_sha256$") and AGENT_PIN not in h for h in hashes)
    assert sales_agents.hash_pin(AGENT_PIN) != sales_agents.hash_pin(AGENT_PIN)


def test_cli_sets_a_pin_read_from_stdin_and_lifts_the_lock(small_book: SmallBook) -> None:
    for _ in range(5):
        verify_agent_pin(ACTIVE_AGENT, "0000", datetime.now(timezone.utc))

    result = CliRunner().invoke(main, ["agents", "set-pin", ACTIVE_AGENT], input="86420\n86420\n")
    refused = CliRunner().invoke(main, ["agents", "set-pin", ACTIVE_AGENT], input="12\n12\n")

    assert result.exit_code == 0, result.output
    assert "86420" not in result.output
    assert refused.exit_code == 1 and "4 to 8 digits" in refused.output
    assert verify_agent_pin(ACTIVE_AGENT, "86420", datetime.now(timezone.utc)) is PinOutcome.OK


def test_agent_hears_customers_with_premiums_due_in_the_next_7_days(small_book: SmallBook) -> None:
    today = date(2026, 11, 21)
    with session_scope() as session:
        policies = {p.policy_no: p for p in session.scalars(select(Policy))}
        policies[small_book.motor_policy].next_due_date = today + timedelta(days=7)
        policies[small_book.life_policy].next_due_date = today + timedelta(days=8)
        policies[small_book.other_policy].next_due_date = today
        policies[small_book.other_policy].status = PolicyStatus.GRACE

    due = sales_agents.customers_due(ACTIVE_AGENT, today)

    assert due == [DuePremium("Li Ming", small_book.other_policy, today, Decimal("500.00")),
                   DuePremium("David Chen", small_book.motor_policy, today + timedelta(days=7), Decimal("500.00"))]
    assert sales_agents.customers_due(TERMINATED_AGENT, today) == []


def test_active_agents_are_listed_by_code(small_book: SmallBook) -> None:
    assert [(a.agent_code, a.name, a.branch) for a in sales_agents.active_agents()] == [
        (ACTIVE_AGENT, "王伟", "北京分公司")]
