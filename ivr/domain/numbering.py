"""Numbers that callers hear and key (claim and ticket numbers): short, all digits, unique.

Each number is a date prefix and a counter of that prefix. The counter is a
row in ``number_sequences`` incremented with ``UPDATE ... RETURNING``: the
database serialises concurrent increments of one row, so two calls never get
the same number, on SQLite and PostgreSQL alike. The counter is incremented
in the caller's transaction, so a rolled-back claim gives its number back.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from ivr.db.models import NumberSequence
from ivr.db.session import insert_if_absent


class NumbersExhausted(RuntimeError):
    """Every number of a prefix is taken (a million claims in a day)."""


def next_number(session: Session, kind: str, prefix: str, digits: int) -> str:
    """``prefix`` followed by the next counter value of ``kind``+``prefix``, zero-padded to ``digits``."""
    name = f"{kind}:{prefix}"
    insert_if_absent(session, NumberSequence, name=name, value=0)
    value = session.scalar(update(NumberSequence).where(NumberSequence.name == name)
                           .values(value=NumberSequence.value + 1).returning(NumberSequence.value))
    if value is None or value >= 10 ** digits:
        raise NumbersExhausted(f"no {kind} numbers left for {prefix}")
    return f"{prefix}{value:0{digits}d}"
