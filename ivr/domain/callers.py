"""Recognising and verifying a caller, with plain results for the IVR."""

from __future__ import annotations

from dataclasses import dataclass

from ivr.db.models import Customer
from ivr.db.session import session_scope
from ivr.domain import customers


@dataclass(frozen=True)
class KnownCaller:
    """A customer the caller claims to be; not yet verified."""

    customer_id: int
    language: str


def identify_by_phone(ani: str) -> KnownCaller | None:
    """The customer whose number this is, if exactly one customer has it."""
    with session_scope() as session:
        customer = customers.find_customer_by_phone(session, ani)
        return None if customer is None else KnownCaller(customer.id, customer.language)


def identify_by_policy(policy_no: str) -> KnownCaller | None:
    """The holder of the keyed policy number, if the policy exists."""
    with session_scope() as session:
        policy = customers.find_policy(session, policy_no)
        if policy is None:
            return None
        return KnownCaller(policy.holder.id, policy.holder.language)


def verify_birth_date(customer_id: int, keyed: str) -> bool:
    """Does the keyed YYYYMMDD match the customer's date of birth?"""
    with session_scope() as session:
        customer = session.get(Customer, customer_id)
        return customer is not None and customers.verify_birth_date(customer, keyed)
