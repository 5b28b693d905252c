"""Screen pops: a call put through to an agent, and the card their console shows for it.

The switchboard records a pop when Asterisk connects a queue caller (or the
caller's advisor) to an agent; the console's event stream sends each new pop
to the agent's open page. A pop is stored once per agent and call, so an
event seen twice pops once. The card is built when it is sent, from the
call record (the IVR path, verification) and the customer's 360 view.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ivr.db.models import Call, ScreenPop
from ivr.db.session import session_scope
from ivr.domain import customer_view
from ivr.domain.callers import identify_by_phone
from ivr.domain.customer_view import CallRecord, Customer360

__all__ = ["CallCard", "PopView", "call_card", "latest_pop", "latest_pop_id", "pops_after", "record_pop"]

HISTORY_ON_CARD = 10  # earlier calls on the card; the 360 page pages through the rest


@dataclass(frozen=True)
class PopView:
    id: int
    call_unique_id: str
    number: str
    queue: str
    at: datetime


@dataclass(frozen=True)
class CallCard:
    """What the agent sees the moment a call reaches them."""

    pop: PopView
    customer_id: int | None  # None: an unknown caller, shown with the number
    verified: bool
    call: CallRecord | None  # this call's IVR path; None if it never reached the IVR
    customer: Customer360 | None


def record_pop(user_id: int, call_unique_id: str, number: str, queue: str, now: datetime) -> int | None:
    """Store a pop for the agent; its id, or None if this call already popped for them."""
    try:
        with session_scope() as session:
            pop = ScreenPop(user_id=user_id, call_unique_id=call_unique_id, number=number[:32], queue=queue, at=now)
            session.add(pop)
            session.flush()
            return pop.id
    except IntegrityError:
        return None


def pops_after(user_id: int, after_id: int) -> list[PopView]:
    """The agent's pops newer than ``after_id``, oldest first."""
    with session_scope() as session:
        rows = session.scalars(select(ScreenPop).where(ScreenPop.user_id == user_id, ScreenPop.id > after_id)
                               .order_by(ScreenPop.id)).all()
        return [_pop_view(row) for row in rows]


def _pop_view(row: ScreenPop) -> PopView:
    return PopView(row.id, row.call_unique_id, row.number, row.queue, row.at)


def latest_pop(user_id: int) -> PopView | None:
    """The agent's newest pop, if any."""
    with session_scope() as session:
        row = session.scalar(select(ScreenPop).where(ScreenPop.user_id == user_id)
                             .order_by(ScreenPop.id.desc()).limit(1))
        return None if row is None else _pop_view(row)


def reached(user_id: int, call_unique_id: str) -> bool:
    """Whether the call ``call_unique_id`` was put through to this agent (it popped for them)."""
    with session_scope() as session:
        return session.scalar(select(ScreenPop.id).where(ScreenPop.user_id == user_id,
                                                         ScreenPop.call_unique_id == call_unique_id)
                              .limit(1)) is not None


def latest_pop_id(user_id: int) -> int:
    """The newest pop's id (0 for none): a page opened now shows pops from here on."""
    pop = latest_pop(user_id)
    return 0 if pop is None else pop.id


def call_card(pop: PopView, today: date) -> CallCard:
    with session_scope() as session:
        found = session.execute(select(Call.customer_id, Call.verified)
                                .where(Call.unique_id == pop.call_unique_id)).one_or_none()
    customer_id, verified = found if found is not None else (None, False)
    if found is None and (known := identify_by_phone(pop.number)) is not None:
        customer_id = known.customer_id  # recognised by number only: not verified
    customer = None if customer_id is None else customer_view.customer_360(customer_id, today, 1, HISTORY_ON_CARD)
    return CallCard(pop, customer_id, bool(verified), customer_view.call_record(pop.call_unique_id), customer)
