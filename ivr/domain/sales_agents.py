"""Sales agents: callers checking an agent's code (业务员身份鉴别), and the agents' own internal line.

Callers key digits only, so a code is found by its exact text or by its
digits alone when exactly one agent's code has those digits (``AG0001`` is
found by keying ``0001``).

A terminated or suspended agent's code checked ``fraud_alert_min_checks``
times within ``fraud_alert_window_days`` may mean someone still sells with
it: that raises one open fraud alert per code, which later checks update.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from ivr.config import get_settings
from ivr.db.models import (
    AgentCheck,
    AgentCheckResult,
    AgentStatus,
    Customer,
    FraudAlert,
    FraudAlertStatus,
    Policy,
    SalesAgent,
    utcnow,
)
from ivr.db.session import session_scope
from ivr.domain import lockouts
from ivr.domain.errors import NotFound, ValidationError
from ivr.domain.paging import Page, fetch_page, within_days
from ivr.domain.policies import PAYABLE

__all__ = ["AgentCheckOutcome", "AgentCheckResult", "AgentCheckView", "AgentSummary", "DuePremium", "FraudAlertStatus",
           "FraudAlertView", "PinOutcome", "active_agents", "check_agent", "customers_due", "hash_pin", "list_agent_checks",
           "list_fraud_alerts", "pin_matches", "set_agent_pin", "verify_agent_pin"]

# A PIN of 4 to 8 digits has at most 10^8 values: no work factor stops an
# offline search of them, so the salted hash keeps PINs out of plain sight and
# the lockout is what protects the line. The count is stored in each hash.
PIN_HASH_ITERATIONS = 10_000
_PIN = re.compile(r"^[0-9]{4,8}$")
_KEYED_DIGITS = re.compile(r"^[0-9]{1,32}$")
SUSPECT_RESULTS = (AgentCheckResult.TERMINATED, AgentCheckResult.SUSPENDED)


class PinOutcome(str, enum.Enum):
    OK = "ok"
    WRONG = "wrong"
    LOCKED = "locked"  # locked before this attempt, or by this wrong PIN
    UNKNOWN_AGENT = "unknown_agent"  # no such code, not an active agent, or no PIN set


@dataclass(frozen=True)
class AgentSummary:
    agent_code: str
    name: str
    branch: str


@dataclass(frozen=True)
class AgentCheckOutcome:
    result: AgentCheckResult
    name: str | None  # None for an unknown code
    branch: str | None
    alert_raised: bool  # this check opened a new fraud alert (later ones only update it)


@dataclass(frozen=True)
class DuePremium:
    customer_name: str
    policy_no: str
    due_date: date
    amount: Decimal


@dataclass(frozen=True)
class AgentCheckView:
    keyed_code: str
    agent_code: str | None
    result: AgentCheckResult
    caller_number: str
    call_unique_id: str | None
    checked_at: datetime


@dataclass(frozen=True)
class FraudAlertView:
    id: int
    agent_code: str
    check_count: int
    first_check_at: datetime
    last_check_at: datetime
    status: FraudAlertStatus
    created_at: datetime


def check_agent(keyed_code: str, caller_number: str, call_unique_id: str | None,
                now: datetime | None = None) -> AgentCheckOutcome:
    """Who the code belongs to and whether they may sell; every check is logged."""
    now = now or utcnow()
    with session_scope() as session:
        agent = find_agent(session, keyed_code)
        result = AgentCheckResult.UNKNOWN if agent is None else AgentCheckResult(agent.status.value)
        session.add(AgentCheck(keyed_code=keyed_code[:32], sales_agent_id=agent.id if agent else None,
                               result=result, caller_number=caller_number[:64], call_unique_id=call_unique_id,
                               checked_at=now))
        name, branch = (agent.name, agent.branch) if agent else (None, None)
        agent_ref = (agent.id, agent.agent_code) if agent else None
    alert_raised = False
    if result in SUSPECT_RESULTS and agent_ref is not None:
        alert_raised = _note_suspect_check(*agent_ref, now)
    return AgentCheckOutcome(result, name, branch, alert_raised)


def active_agents() -> list[AgentSummary]:
    """Every agent who may sell today, by code (their names are recorded as prompts)."""
    with session_scope() as session:
        rows = session.execute(select(SalesAgent.agent_code, SalesAgent.name, SalesAgent.branch)
                               .where(SalesAgent.status == AgentStatus.ACTIVE).order_by(SalesAgent.agent_code))
        return [AgentSummary(*row) for row in rows]


def verify_agent_pin(code: str, pin: str, now: datetime | None = None) -> PinOutcome:
    """The internal line's login; ``agent_pin_lock_threshold`` wrong PINs lock the code for a while."""
    now = now or utcnow()
    settings = get_settings()
    with session_scope() as session:
        agent = find_agent(session, code)
        if agent is None or agent.status is not AgentStatus.ACTIVE or agent.pin_hash is None:
            return PinOutcome.UNKNOWN_AGENT
        agent_code, pin_hash = agent.agent_code, agent.pin_hash
    if lockouts.is_locked(lockouts.SALES_AGENT, agent_code, now):
        return PinOutcome.LOCKED
    if pin_matches(pin_hash, pin):
        lockouts.record_success(lockouts.SALES_AGENT, agent_code)
        return PinOutcome.OK
    locked_until = lockouts.record_failure(lockouts.SALES_AGENT, agent_code, now,
                                           settings.agent_pin_lock_threshold, settings.agent_pin_lock_minutes)
    return PinOutcome.WRONG if locked_until is None else PinOutcome.LOCKED


def set_agent_pin(code: str, pin: str) -> None:
    """Give the agent a new PIN (4 to 8 digits) and lift any lock on their code."""
    if not _PIN.match(pin):
        raise ValidationError("a PIN is 4 to 8 digits", "invalid_pin")
    with session_scope() as session:
        agent = session.scalar(select(SalesAgent).where(SalesAgent.agent_code == code))
        if agent is None:
            raise NotFound(f"no sales agent {code}", "agent_not_found")
        agent.pin_hash = hash_pin(pin)
    lockouts.record_success(lockouts.SALES_AGENT, code)


def customers_due(agent_code: str, today: date, days: int = 7) -> list[DuePremium]:
    """Premiums of the agent's policies falling due from today to ``days`` days ahead, soonest first."""
    with session_scope() as session:
        agent = find_agent(session, agent_code)
        if agent is None:
            return []
        rows = session.execute(
            select(Customer.name, Policy.policy_no, Policy.next_due_date, Policy.premium)
            .join(Customer, Policy.holder_id == Customer.id)
            .where(Policy.sales_agent_id == agent.id, Policy.status.in_(PAYABLE),
                   Policy.next_due_date.between(today, today + timedelta(days=days)))
            .order_by(Policy.next_due_date, Policy.policy_no)).all()
    return [DuePremium(name, policy_no, due, Decimal(amount)) for name, policy_no, due, amount in rows]


def list_agent_checks(result: AgentCheckResult | None = None, date_from: date | None = None,
                      date_to: date | None = None, page: int = 1, per_page: int = 50) -> Page[AgentCheckView]:
    """Checks made between the two days (UTC, both included), newest first."""
    query = (select(AgentCheck).options(joinedload(AgentCheck.sales_agent))
             .where(*within_days(AgentCheck.checked_at, date_from, date_to)))
    if result is not None:
        query = query.where(AgentCheck.result == result)
    with session_scope() as session:
        return fetch_page(session, query.order_by(AgentCheck.checked_at.desc(), AgentCheck.id.desc()),
                          page, per_page, _check_view)


def list_fraud_alerts(status: FraudAlertStatus | None = None, date_from: date | None = None,
                      date_to: date | None = None, page: int = 1, per_page: int = 50) -> Page[FraudAlertView]:
    """Alerts raised between the two days (UTC, both included), newest first."""
    query = select(FraudAlert).where(*within_days(FraudAlert.created_at, date_from, date_to))
    if status is not None:
        query = query.where(FraudAlert.status == status)
    with session_scope() as session:
        return fetch_page(session, query.order_by(FraudAlert.created_at.desc(), FraudAlert.id.desc()),
                          page, per_page, lambda a: FraudAlertView(a.id, a.agent_code, a.check_count,
                                                                   a.first_check_at, a.last_check_at,
                                                                   a.status, a.created_at))


def find_agent(session: Session, keyed_code: str) -> SalesAgent | None:
    """The agent with this code, or with these digits as the only digits of their code."""
    code = keyed_code.strip().upper()
    if not code:
        return None
    agent = session.scalar(select(SalesAgent).where(SalesAgent.agent_code == code))
    if agent is not None or not _KEYED_DIGITS.match(code):
        return agent
    candidates = session.scalars(select(SalesAgent).where(SalesAgent.agent_code.endswith(code))).all()
    matches = [a for a in candidates if re.sub(r"[^0-9]", "", a.agent_code) == code]
    return matches[0] if len(matches) == 1 else None


def hash_pin(pin: str) -> str:
    salt = secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt.encode(), PIN_HASH_ITERATIONS)
    return f"pbkdf2_sha256${PIN_HASH_ITERATIONS}${salt}${digest.hex()}"


def pin_matches(pin_hash: str, pin: str) -> bool:
    try:
        scheme, iterations, salt, expected = pin_hash.split("$")
    except ValueError:
        return False
    if scheme != "pbkdf2_sha256":
        return False
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt.encode(), int(iterations))
    return hmac.compare_digest(digest.hex(), expected)


def _note_suspect_check(agent_id: int, agent_code: str, now: datetime) -> bool:
    """Open or update the code's fraud alert if it has been checked often enough; whether one was opened."""
    try:
        return _open_or_update_alert(agent_id, agent_code, now)
    except IntegrityError:  # another call opened the alert at the same moment: update that one
        return _open_or_update_alert(agent_id, agent_code, now)


def _open_or_update_alert(agent_id: int, agent_code: str, now: datetime) -> bool:
    settings = get_settings()
    with session_scope() as session:
        alert = session.scalar(select(FraudAlert).where(
            FraudAlert.agent_code == agent_code, FraudAlert.status == FraudAlertStatus.OPEN).with_for_update())
        if alert is not None:
            alert.check_count += 1
            alert.last_check_at = max(alert.last_check_at, now)
            return False
        count, first = session.execute(select(func.count(), func.min(AgentCheck.checked_at)).where(
            AgentCheck.sales_agent_id == agent_id, AgentCheck.result.in_(SUSPECT_RESULTS),
            AgentCheck.checked_at > now - timedelta(days=settings.fraud_alert_window_days),
            AgentCheck.checked_at <= now)).one()
        if count < settings.fraud_alert_min_checks:
            return False
        session.add(FraudAlert(agent_code=agent_code, sales_agent_id=agent_id, check_count=count,
                               first_check_at=first, last_check_at=now, status=FraudAlertStatus.OPEN,
                               created_at=now))
        session.flush()
        return True


def _check_view(check: AgentCheck) -> AgentCheckView:
    return AgentCheckView(check.keyed_code, check.sales_agent.agent_code if check.sales_agent else None,
                          check.result, check.caller_number, check.call_unique_id, check.checked_at)
