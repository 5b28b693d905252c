"""Locking a secret (date of birth, PIN) after repeated failures, across calls.

Failures count per subject (``'customer', '42'``, ``'sales_agent', 'AG0001'`` or
``'console_address', '10.1.2.3'``),
whatever number the calls come from, until a success resets them or a lock
expires: the first failure after an expired lock starts counting afresh.
Each function is one short transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, select
from sqlalchemy.orm import Session

from ivr.db.models import Lockout
from ivr.db.session import insert_if_absent, session_scope

CUSTOMER = "customer"
SALES_AGENT = "sales_agent"
CONSOLE_ADDRESS = "console_address"  # a client address's wrong console logins (ivr/domain/users.py)


def is_locked(kind: str, key: str, now: datetime) -> datetime | None:
    """When the subject's lock ends, if it is locked at ``now``."""
    with session_scope() as session:
        locked_until = session.scalar(select(Lockout.locked_until).where(of_subject(kind, key)))
    return lock_end(locked_until, now)


def lock_end(locked_until: datetime | None, now: datetime) -> datetime | None:
    """``locked_until`` if that lock is still in force at ``now``, else None (none, or expired)."""
    return locked_until if locked_until is not None and locked_until > now else None


def of_subject(kind: str, key: object) -> ColumnElement[bool]:
    """The condition for the subject's row; ``key`` a value or a bound parameter (for a read that
    joins the lock to what it guards)."""
    return and_(Lockout.subject_kind == kind, Lockout.subject_key == key)


def record_failure(kind: str, key: str, now: datetime, threshold: int, lock_minutes: int) -> datetime | None:
    """Count one failure; when it reaches ``threshold``, lock for ``lock_minutes`` and say until when.

    A failure while already locked does not extend the lock; it returns the
    lock's end, like the failure that locked.
    """
    with session_scope() as session:
        row = _row_for_update(session, kind, key)
        if row.locked_until is not None:
            if row.locked_until > now:
                return row.locked_until
            row.failures, row.locked_until = 0, None  # the lock expired: count afresh
        row.failures += 1
        if row.failures >= threshold:
            row.locked_until = now + timedelta(minutes=lock_minutes)
        return row.locked_until


def record_success(kind: str, key: str) -> None:
    """The secret was right: forget the failures."""
    with session_scope() as session:
        session.execute(delete(Lockout).where(of_subject(kind, key)))


def _row_for_update(session: Session, kind: str, key: str) -> Lockout:
    """The subject's row, created if missing and locked against concurrent failures (PostgreSQL)."""
    insert_if_absent(session, Lockout, subject_kind=kind, subject_key=key, failures=0)
    return session.scalars(select(Lockout).where(of_subject(kind, key)).with_for_update()).one()
