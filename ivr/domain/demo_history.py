"""A deterministic contact-centre history for the demo and the KPI benchmark: IVR calls, queue waits
(answered, abandoned, short abandons), agents' log-ins and pauses, and complaints on some calls.

Rows are plain dicts in the tables' column names, generated day by day, so
``ivr demo-data`` can insert a month in batches and ``bench/kpi_reports.py``
can stream millions through PostgreSQL ``COPY`` without holding them.
Agents work 08:00 to 20:00 of the centre's day with a lunch pause; calls
arrive through the day, busier mid-morning.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from ivr.db.models import (AgentState, AgentStateChange, Call, Complaint, ComplaintStatus, ComplaintSubject,
                           Customer, Disposition, QueueCall, QueueOutcome)
from ivr.db.session import advance_id_sequences

QUEUES = ("general", "vip", "claims", "complaints")
QUEUE_WEIGHTS = (60, 10, 20, 10)
BATCH = 5000


@dataclass(frozen=True)
class DayRows:
    calls: list[dict[str, Any]]
    queue_calls: list[dict[str, Any]]
    agent_changes: list[dict[str, Any]]
    complaints: list[dict[str, Any]]


def history(first: date, days: int, calls_per_day: int, agent_ids: list[int], customer_ids: list[int],
            zone: ZoneInfo, seed: int = 11, first_id: int = 1) -> Iterator[DayRows]:
    """The rows of each day from ``first``, ids from ``first_id`` (the same seed: the same history)."""
    rng = random.Random(seed)
    next_id = first_id
    for offset in range(days):
        day = first + timedelta(days=offset)
        opening = datetime.combine(day, time(8), zone)
        rows = DayRows([], [], _agent_day(agent_ids, opening, rng), [])
        for _ in range(calls_per_day):
            _one_call(rows, next_id, opening, agent_ids, customer_ids, rng)
            next_id += 1
        yield rows


def _agent_day(agent_ids: list[int], opening: datetime, rng: random.Random) -> list[dict[str, Any]]:
    changes = []
    for agent_id in agent_ids:
        start = opening + timedelta(minutes=rng.randint(0, 30))
        lunch = opening + timedelta(hours=4, minutes=rng.randint(0, 60))
        for at, state, reason in ((start, AgentState.AVAILABLE, ""), (lunch, AgentState.PAUSED, "lunch"),
                                  (lunch + timedelta(minutes=45), AgentState.AVAILABLE, ""),
                                  (opening + timedelta(hours=12), AgentState.LOGGED_OUT, "")):
            changes.append({"user_id": agent_id, "at": _utc(at), "state": state, "reason": reason,
                            "queues": "general", "source": "demo"})
    return changes


def _one_call(rows: DayRows, number: int, opening: datetime, agent_ids: list[int], customer_ids: list[int],
              rng: random.Random) -> None:
    started = opening + timedelta(seconds=int(min(rng.gauss(4.5, 3.0) % 12, 11.99) * 3600))
    customer = rng.choice(customer_ids) if customer_ids and rng.random() < 0.8 else None
    unique_id = f"{int(started.timestamp())}.{number}"
    self_served = rng.random() < 0.35
    rows.calls.append({"id": number, "unique_id": unique_id, "channel": "", "flow": "hotline",
                       "ani": f"1370000{number % 10000:04d}", "ani_e164": "", "caller_name": "", "dnis": "95519",
                       "language": "zh", "started_at": _utc(started), "answered_at": _utc(started),
                       "ended_at": _utc(started + timedelta(seconds=rng.randint(30, 120))),
                       "disposition": Disposition.SELF_SERVED if self_served else Disposition.TRANSFERRED,
                       "customer_id": customer, "verified": customer is not None, "transfer_reason": ""})
    if self_served:
        return
    joined = started + timedelta(seconds=rng.randint(20, 90))
    wait = int(rng.expovariate(1 / 25))
    fate = rng.random()
    outcome = QueueOutcome.ANSWERED if fate < 0.9 else QueueOutcome.ABANDONED
    answered = _utc(joined + timedelta(seconds=wait)) if outcome is QueueOutcome.ANSWERED else None
    talk = int(rng.lognormvariate(5.3, 0.5))
    transferred = answered is not None and rng.random() < 0.06  # the agent passed the caller on
    rows.queue_calls.append({"id": number, "unique_id": unique_id, "queue": rng.choices(QUEUES, QUEUE_WEIGHTS)[0],
                             "number": "", "customer_id": customer, "joined_at": _utc(joined),
                             "outcome": outcome, "answered_at": answered,
                             "left_at": _utc(joined + timedelta(seconds=wait)),
                             "ended_at": _utc(joined + timedelta(seconds=wait + talk)) if answered else None,
                             "wait_seconds": wait, "agent_id": rng.choice(agent_ids) if answered and agent_ids else None,
                             "agent_interface": "", "transferred": transferred})
    if answered and rng.random() < 0.03:
        rows.complaints.append({"ticket_no": f"H{number:09d}"[-10:], "customer_id": customer,
                                "call_unique_id": unique_id, "subject": ComplaintSubject.SERVICE,
                                "status": ComplaintStatus.RECEIVED, "department": "", "overdue": False,
                                "due_at": _utc(joined + timedelta(days=5)), "created_at": _utc(joined),
                                "updated_at": _utc(joined)})


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(ZoneInfo("UTC"))


def write_history(session: Session, first: date, days: int, calls_per_day: int, agent_ids: list[int],
                  zone: ZoneInfo, seed: int = 11) -> int:
    """Insert the history (Core bulk inserts) after the calls already there; the calls written."""
    customer_ids = list(session.scalars(select(Customer.id).order_by(Customer.id).limit(5000)))
    first_id = (session.scalar(select(Call.id).order_by(Call.id.desc()).limit(1)) or 0) + 1
    first_id = max(first_id, (session.scalar(select(QueueCall.id).order_by(QueueCall.id.desc()).limit(1)) or 0) + 1)
    written = 0
    for rows in history(first, days, calls_per_day, agent_ids, customer_ids, zone, seed, first_id):
        for table, batch in ((Call.__table__, rows.calls), (QueueCall.__table__, rows.queue_calls),
                             (AgentStateChange.__table__, rows.agent_changes), (Complaint.__table__, rows.complaints)):
            if batch:
                session.execute(insert(table), batch)
        written += len(rows.calls)
    advance_id_sequences(session, (Call.__table__, QueueCall.__table__, AgentStateChange.__table__,
                                   Complaint.__table__))
    return written
