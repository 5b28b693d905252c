"""Callers' waits in the agent queues, from Asterisk's queue events: joined, answered, abandoned, ended.

One row per caller channel (its unique id is the IVR call's), written by the
switchboard as events arrive. Each step changes a row only from the state
before it (a conditional UPDATE), so an event seen twice (two console
processes, a replay after a reconnect) counts once. From these rows come the
wallboard's day figures, the automatic callback after an abandon and the
"served within the hour" rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.exc import IntegrityError

from ivr.config import get_settings
from ivr.db.models import Call, QueueCall, QueueOutcome
from ivr.db.session import session_scope
from ivr.domain import callbacks, phones
from ivr.domain.callers import identify_by_phone
from ivr.domain.kpis import SHORT_ABANDON_SECONDS, ratio

__all__ = ["AbandonOutcome", "QueueDay", "QueueOutcome", "abandoned", "answered", "callers_waiting", "joined",
           "lost_unless_waiting", "queue_day", "served_since", "talk_ended"]

ABANDON_REASON = "queue_abandoned"


@dataclass(frozen=True)
class AbandonOutcome:
    """What an abandon led to: a callback request (new or merged), or why none."""

    callback_id: int | None
    merged: bool
    skipped: str  # "", "served_recently", "no_number", "already_counted"


@dataclass(frozen=True)
class QueueDay:
    """One queue's figures for a day so far: calls that joined it and how their waits ended."""

    queue: str
    offered: int  # every wait that began (the KPIs' "waits")
    answered: int
    abandoned: int  # hung up waiting after SHORT_ABANDON_SECONDS
    answered_in_time: int  # answered within service_level_seconds
    longest_answered_wait: int  # seconds
    short_abandons: int = 0  # hung up sooner: in neither side of the service level (docs/kpis.md)
    waiting: int = 0  # still waiting: not yet in the service level

    @property
    def service_level(self) -> float | None:
        """The KPI's service level (docs/kpis.md) over the waits that have ended; None before any has."""
        return ratio(self.answered_in_time, self.offered - self.short_abandons - self.waiting)


def joined(unique_id: str, queue: str, number: str, now: datetime) -> bool:
    """A caller began waiting in ``queue``; False if this wait is already known."""
    parsed = phones.parse_ani(number, get_settings().country_code)
    e164 = parsed.e164 if parsed is not None else number[:32]
    with session_scope() as session:
        customer_id, policy_no = session.execute(select(Call.customer_id, Call.policy_no)
                                                 .where(Call.unique_id == unique_id)).one_or_none() or (None, "")
    if customer_id is None and parsed is not None:
        known = identify_by_phone(parsed.e164)
        customer_id = known.customer_id if known else None
    try:
        with session_scope() as session:
            session.add(QueueCall(unique_id=unique_id, queue=queue, number=e164, customer_id=customer_id,
                                  policy_no=policy_no or "", joined_at=now, outcome=QueueOutcome.WAITING))
    except IntegrityError:
        return False
    return True


def answered(unique_id: str, agent_id: int | None, interface: str, wait_seconds: int, now: datetime) -> bool:
    """An agent took the call; False if it was not waiting (already answered, or never seen join)."""
    return _leave(unique_id, QueueOutcome.ANSWERED, now, wait_seconds, answered_at=now, agent_id=agent_id,
                  agent_interface=interface[:80])


def talk_ended(unique_id: str, now: datetime, transferred: bool = False) -> bool:
    """The agent's part of an answered call ended, hung up or ``transferred`` by the agent to someone
    else (the transfer rate's numerator); False if it had ended already or was never answered."""
    with session_scope() as session:
        result = session.execute(update(QueueCall).where(
            QueueCall.unique_id == unique_id, QueueCall.outcome == QueueOutcome.ANSWERED,
            QueueCall.ended_at.is_(None)).values(ended_at=now, transferred=transferred))
        return bool(result.rowcount)  # type: ignore[attr-defined]


def abandoned(unique_id: str, wait_seconds: int, now: datetime) -> AbandonOutcome:
    """The caller hung up while waiting: open (or merge into) a callback request for their number,
    unless an agent served that number within ``abandon_served_minutes``."""
    if not _leave(unique_id, QueueOutcome.ABANDONED, now, wait_seconds):
        return AbandonOutcome(None, False, "already_counted")
    with session_scope() as session:
        number, customer_id = session.execute(select(QueueCall.number, QueueCall.customer_id)
                                              .where(QueueCall.unique_id == unique_id)).one()
    parsed = phones.parse_ani(number, get_settings().country_code)
    if parsed is None or parsed.e164 != number:  # withheld or garbage caller ID, kept as text (even "+1")
        return AbandonOutcome(None, False, "no_number")
    if served_since(number, now - timedelta(minutes=get_settings().abandon_served_minutes)):
        return AbandonOutcome(None, False, "served_recently")
    outcome = callbacks.request_callback(number, customer_id, ABANDON_REASON, unique_id, now)
    return AbandonOutcome(outcome.request_id, outcome.merged, "")


def lost_unless_waiting(waiting_unique_ids: set[str], seen_at: datetime, now: datetime) -> int:
    """After reading Asterisk's queues at ``seen_at``: waits we hold open that began before then
    but Asterisk no longer has ended unseen (a caller who joined since is not judged)."""
    with session_scope() as session:
        result = session.execute(update(QueueCall).where(
            QueueCall.outcome == QueueOutcome.WAITING, QueueCall.joined_at < seen_at,
            QueueCall.unique_id.not_in(waiting_unique_ids))
            .values(outcome=QueueOutcome.LOST, left_at=now))
        return int(result.rowcount)  # type: ignore[attr-defined]


def served_since(number: str, since: datetime) -> bool:
    """Whether an agent answered a call from ``number`` (E.164) at or after ``since``."""
    with session_scope() as session:
        return session.scalar(select(QueueCall.id).where(
            QueueCall.number == number, QueueCall.answered_at >= since).limit(1)) is not None


def callers_waiting() -> list[tuple[str, str, datetime]]:
    """(queue, unique id, joined at) of every wait not yet ended, longest first."""
    with session_scope() as session:
        return [tuple(row) for row in session.execute(  # type: ignore[misc]
            select(QueueCall.queue, QueueCall.unique_id, QueueCall.joined_at)
            .where(QueueCall.outcome == QueueOutcome.WAITING).order_by(QueueCall.joined_at))]


def queue_day(start: datetime, end: datetime) -> list[QueueDay]:
    """Per queue, the calls that joined in [start, end) and how their waits ended."""
    in_time = get_settings().service_level_seconds
    is_answered = QueueCall.outcome == QueueOutcome.ANSWERED
    is_abandoned = QueueCall.outcome == QueueOutcome.ABANDONED
    short = and_(is_abandoned, func.coalesce(QueueCall.wait_seconds, 0) < SHORT_ABANDON_SECONDS)
    query = (select(QueueCall.queue, func.count(),
                    func.sum(case((is_answered, 1), else_=0)),
                    func.sum(case((and_(is_abandoned, ~short), 1), else_=0)),
                    func.sum(case((and_(is_answered, QueueCall.wait_seconds <= in_time), 1), else_=0)),
                    func.max(case((is_answered, QueueCall.wait_seconds), else_=0)),
                    func.sum(case((short, 1), else_=0)),
                    func.sum(case((QueueCall.outcome == QueueOutcome.WAITING, 1), else_=0)))
             .where(QueueCall.joined_at >= start, QueueCall.joined_at < end)
             .group_by(QueueCall.queue).order_by(QueueCall.queue))
    with session_scope() as session:
        return [QueueDay(queue, offered, *(int(count or 0) for count in counts))
                for queue, offered, *counts in session.execute(query)]


def _leave(unique_id: str, outcome: QueueOutcome, now: datetime, wait_seconds: int, **values: object) -> bool:
    with session_scope() as session:
        result = session.execute(update(QueueCall).where(
            QueueCall.unique_id == unique_id, QueueCall.outcome == QueueOutcome.WAITING)
            .values(outcome=outcome, left_at=now, wait_seconds=max(wait_seconds, 0), **values))
        return bool(result.rowcount)  # type: ignore[attr-defined]
