"""Recognising and verifying a caller, with plain results for the IVR."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select

from ivr.config import get_settings
from ivr.db.models import Customer, Lockout, utcnow
from ivr.db.session import fetch_one, session_scope
from ivr.domain import customers, lockouts
from ivr.domain.phones import parse_ani


@dataclass(frozen=True)
class KnownCaller:
    """A customer the caller claims to be; not yet verified."""

    customer_id: int
    language: str


def identify_by_phone(ani: str) -> KnownCaller | None:
    """The customer whose number this is, if exactly one customer has it.

    The first question of nearly every call: one statement and one round trip
    (``fetch_one``: no session, no transaction, no ORM object), measured in
    docs/benchmarks.md ("Caller recognition").
    """
    phone = parse_ani(ani, get_settings().country_code)
    if phone is None:
        return None
    row = fetch_one(customers.CALLER_BY_NUMBER, {"number": phone.e164})
    return None if row is None else KnownCaller(*row)


def identify_by_policy(policy_no: str) -> KnownCaller | None:
    """The holder of the keyed policy number, if the policy exists."""
    with session_scope() as session:
        policy = customers.find_policy(session, policy_no)
        if policy is None:
            return None
        return KnownCaller(policy.holder.id, policy.holder.language)


class VerificationResult(enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    LOCKED = "locked"  # locked before this attempt, or by this failure: no self-service for now

    def __bool__(self) -> bool:
        """True only for PASSED, so ``if verify_birth_date(...)`` means "verified"."""
        return self is VerificationResult.PASSED


def verify_birth_date(customer_id: int, keyed: str, now: datetime | None = None) -> VerificationResult:
    """Does the keyed YYYYMMDD match the customer's date of birth, and may they still try?

    Wrong dates count across calls, whatever number they come from; after
    ``verification_lock_threshold`` of them the customer is locked out of
    self-service for ``verification_lock_minutes``. While locked even the right
    date gives LOCKED. The birth date and the customer's lock are one read
    (``fetch_one``); a right date with no failures on record writes nothing.
    """
    now = now or utcnow()
    settings = get_settings()
    key = str(customer_id)
    row = fetch_one(_BIRTH_DATE_AND_LOCK, {"customer_id": customer_id, "key": key})
    birth_date, failures, locked_until = row if row is not None else (None, None, None)
    if lockouts.lock_end(locked_until, now):
        return VerificationResult.LOCKED
    if birth_date is not None and customers.birth_date_matches(birth_date, keyed):
        if failures is not None:
            lockouts.record_success(lockouts.CUSTOMER, key)
        return VerificationResult.PASSED
    locked_until = lockouts.record_failure(lockouts.CUSTOMER, key, now, settings.verification_lock_threshold,
                                           settings.verification_lock_minutes)
    return VerificationResult.FAILED if locked_until is None else VerificationResult.LOCKED


#: The customer's date of birth, with their lock's failures and end (None, None without one).
_BIRTH_DATE_AND_LOCK = (
    select(Customer.birth_date, Lockout.failures, Lockout.locked_until)
    .outerjoin(Lockout, lockouts.of_subject(lockouts.CUSTOMER, bindparam("key")))
    .where(Customer.id == bindparam("customer_id")))
