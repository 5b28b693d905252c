"""Contact-centre KPIs, each computed from exactly one definition (docs/kpis.md), aggregated in SQL.

One query per family, grouped in the database by agent, queue or day, so a
month of a large hotline's history is summed where it lies rather than read
row by row. Each figure is a count or a sum in SQL and a ratio here; a ratio
whose denominator is zero is None (shown as "-"), never 0.

Time arithmetic is in epoch seconds on both databases (``_epoch``), and days
are the contact centre's (setting ``time_zone``): a call belongs to the day
and period its wait began in, even when it ends after midnight.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Literal

from sqlalchemy import Date, Interval, and_, case, cast, exists, func, literal, literal_column, or_, select, text
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import ColumnElement

from ivr.config import get_settings
from ivr.db.models import (AgentState, AgentStateChange, Call, CallRecording, Campaign, CampaignAttempt, Complaint, ConsoleUser,
                           Disposition, PaymentReconciliation, QueueCall, QueueOutcome)
from ivr.domain.campaigns import KEY_AGENT, KEY_REMIND_LATER, KEY_STOP_CALLING, NOT_DIALLED, REACHED, abandoned_call
from ivr.db.session import session_scope
from ivr.domain.errors import ValidationError

__all__ = ["AgentTime", "Containment", "Distribution", "Grouping", "OutboundKpis", "Period", "QueueKpis", "agent_time",
           "handle_time_distribution", "ivr_containment", "outbound_kpis", "queue_kpis", "ratio",
           "wait_distribution"]

Grouping = Literal["agent", "team", "queue", "day", "week", "month", "campaign"]
GROUPINGS: tuple[Grouping, ...] = ("agent", "team", "queue", "day", "week", "month", "campaign")
TIME_GROUPINGS: tuple[Grouping, ...] = ("day", "week", "month")  # weeks start on Monday
INBOUND_GROUPINGS: tuple[Grouping, ...] = ("agent", "team", "queue", *TIME_GROUPINGS)
NO_AGENT, NO_TEAM = "(no agent)", "(no team)"
# Distribution buckets: each is [lower, next lower) in seconds, the last open-ended.
WAIT_BUCKETS = (0, 10, 20, 30, 60, 120, 300)
HANDLE_BUCKETS = (0, 60, 120, 300, 600, 1200, 1800)
OUTBOUND_GROUPINGS: tuple[Grouping, ...] = ("campaign", *TIME_GROUPINGS)
SHORT_ABANDON_SECONDS = 5  # a caller who hangs up sooner was never really offered to an agent
REPEAT_CONTACT_DAYS = 7  # first-call resolution: no call back by the same customer within this
REPORT_WORK_MEM = "512MB"  # PostgreSQL memory for one report query's sorts and hashes
REPORT_JIT_ABOVE_COST = 10_000_000  # PostgreSQL compiles a report query only above this estimate (a month's)
# A customer's next wait strictly after this one (waits at the same instant are not "after"): the
# smallest later joined_at of the partition, its own instant's rows excluded (SQLAlchemy cannot say
# EXCLUDE GROUP), and the policy that wait was about. Partitioned by an expression, not the column:
# PostgreSQL would otherwise walk the (customer, joined_at) index to save the sort, reading the table
# in random order; an unrecognised caller's wait is a partition of its own. Both share one sort.
_NEXT = ("OVER (PARTITION BY coalesce(queue_calls.customer_id, -queue_calls.id) ORDER BY queue_calls.joined_at "
         "RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING EXCLUDE GROUP)")
NEXT_WAIT = f"min(queue_calls.joined_at) {_NEXT}"
NEXT_POLICY = f"first_value(queue_calls.policy_no) {_NEXT}"


@dataclass(frozen=True)
class Period:
    """From the start of day ``first`` to the end of day ``last`` in the centre's time zone."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValidationError(f"the period ends ({self.last}) before it starts ({self.first})", "invalid_period")

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), get_settings().zone()).astimezone(timezone.utc)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(), get_settings().zone()).astimezone(timezone.utc)


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


@dataclass(frozen=True)
class QueueKpis:
    """The inbound figures of one group (an agent, a queue or a day); rates and averages derived."""

    key: str
    waits: int = 0  # queue waits that began in the period
    short_abandons: int = 0  # hung up within SHORT_ABANDON_SECONDS: in neither side of any rate
    answered: int = 0
    abandoned: int = 0  # hung up waiting, after SHORT_ABANDON_SECONDS
    answered_in_target: int = 0  # answered within service_level_seconds
    wait_seconds: float = 0.0  # total wait of the answered calls
    talked: int = 0  # answered calls whose talk has ended (AHT's denominator)
    talk_seconds: float = 0.0
    known_answered: int = 0  # answered calls of a recognised customer (FCR's denominator)
    resolved_first_time: int = 0  # ... with no call from that customer in the next REPEAT_CONTACT_DAYS
    complaints: int = 0  # complaints filed on an answered call
    transferred: int = 0  # answered calls the agent passed on to someone else (AgentComplete: transfer)

    @property
    def offered(self) -> int:
        return self.waits - self.short_abandons

    @property
    def abandon_rate(self) -> float | None:
        return ratio(self.abandoned, self.offered)

    @property
    def service_level(self) -> float | None:
        return ratio(self.answered_in_target, self.offered)

    @property
    def average_speed_of_answer(self) -> float | None:
        return ratio(self.wait_seconds, self.answered)

    @property
    def average_handle_time(self) -> float | None:
        return ratio(self.talk_seconds, self.talked)

    @property
    def first_call_resolution(self) -> float | None:
        return ratio(self.resolved_first_time, self.known_answered)

    @property
    def complaint_rate(self) -> float | None:
        return ratio(self.complaints, self.answered)

    @property
    def transfer_rate(self) -> float | None:
        return ratio(self.transferred, self.answered)


@dataclass(frozen=True)
class Distribution:
    """How many answered calls fell in each bucket of a duration: ``counts[i]`` in
    [``bounds[i]``, ``bounds[i + 1]``) seconds, the last bucket open-ended."""

    name: str
    bounds: tuple[int, ...]
    counts: tuple[int, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        """"0-10 s" ... "300 s+" (minutes from 120 s up, so handle times read naturally)."""
        def text(seconds: int) -> str:
            return f"{seconds // 60} min" if seconds >= 120 and seconds % 60 == 0 else f"{seconds} s"
        edges = [text(b) for b in self.bounds]
        return tuple([f"{a}-{b}" for a, b in zip(edges, edges[1:])] + [f"{edges[-1]}+"])


@dataclass(frozen=True)
class AgentTime:
    """One agent's time: logged in (online), paused, and talking; occupancy derived."""

    key: str
    online_seconds: float
    paused_seconds: float
    talk_seconds: float
    scored_calls: int = 0  # transcribed recordings of the agent's calls with a script for their type
    script_adherence: float | None = None  # their mean share of script items said (脚本执行能力)

    @property
    def occupancy(self) -> float | None:
        return ratio(self.talk_seconds, self.online_seconds - self.paused_seconds)


@dataclass(frozen=True)
class Containment:
    """IVR containment of one day: calls ended in the IVR, served without a person."""

    key: str
    calls: int  # IVR calls that began and ended (not in progress)
    self_served: int

    @property
    def rate(self) -> float | None:
        return ratio(self.self_served, self.calls)


@dataclass(frozen=True)
class OutboundKpis:
    """The outbound figures of one campaign or day, from the campaign attempts dialled in it."""

    key: str
    dialled: int = 0  # outbound calls (呼出量): attempts sent to Asterisk
    answered: int = 0  # a person answered (campaigns.REACHED)
    agent_requests: int = 0  # key 1
    remind_later: int = 0  # key 2: a time chosen to be called again
    already_paid: int = 0  # key 3: a payment report for reconciliation (as on the campaign page)
    opt_outs: int = 0  # key 9: stop calling me
    abandoned: int = 0  # campaigns.abandoned_call(): no message within 2 s, or no agent free

    @property
    def contact_rate(self) -> float | None:
        return ratio(self.answered, self.dialled)

    @property
    def appointment_rate(self) -> float | None:
        return ratio(self.remind_later, self.answered)

    @property
    def refusal_rate(self) -> float | None:
        return ratio(self.opt_outs, self.answered)

    @property
    def abandoned_rate(self) -> float | None:
        return ratio(self.abandoned, self.answered)


def outbound_kpis(period: Period, by: Grouping) -> list[OutboundKpis]:
    """The outbound figures of each campaign or day with attempts dialled in ``period``."""
    if by not in OUTBOUND_GROUPINGS:
        raise ValidationError(f"outbound figures group by one of {', '.join(OUTBOUND_GROUPINGS)}, not {by!r}",
                              "invalid_grouping")
    attempt = CampaignAttempt
    with session_scope() as session:
        key = _day(session, attempt.started_at, by) if by in TIME_GROUPINGS else Campaign.name
        reached = attempt.status.in_(REACHED)
        rows = session.execute(
            select(key.label("key"), _count(attempt.status.not_in(NOT_DIALLED)).label("dialled"),
                   _count(reached).label("answered"),
                   *(_count(and_(reached, attempt.key_pressed == pressed)).label(name)
                     for name, pressed in (("agent_requests", KEY_AGENT), ("remind_later", KEY_REMIND_LATER),
                                           ("opt_outs", KEY_STOP_CALLING))),
                   _count(exists().where(PaymentReconciliation.attempt_id == attempt.id)).label("already_paid"),
                   _count(abandoned_call()).label("abandoned"))
            .join(Campaign, Campaign.id == attempt.campaign_id)
            .where(attempt.started_at >= period.start, attempt.started_at < period.end)
            .group_by(key).order_by(key)).mappings().all()
    return [OutboundKpis(**{**_numbers(row), "key": _key_text(row["key"], by)}) for row in rows]


def queue_kpis(period: Period, by: Grouping) -> list[QueueKpis]:
    """The inbound figures of each agent, queue or day with queue waits in ``period``."""
    target = get_settings().service_level_seconds
    with session_scope() as session:
        _for_reports(session)
        # Each wait with the same customer's next one in the period and what it was about (one sort).
        # Settled from it: no next wait within 7 days (no repeat), or a next about the same matter
        # (a repeat). Otherwise (a next about another policy, or none in the period) an index probe
        # looks for a repeat among the customer's waits of the next 7 days.
        w = QueueCall
        waits = (select(w.unique_id, w.queue, w.agent_id, w.customer_id, w.joined_at, w.outcome, w.wait_seconds,
                        w.answered_at, w.ended_at, w.transferred, w.policy_no,
                        literal_column(NEXT_WAIT).label("next_joined"), literal_column(NEXT_POLICY).label("next_policy"))
                 .where(w.joined_at >= period.start, w.joined_at < period.end).subquery("waits"))
        q = waits.c
        span = timedelta(days=REPEAT_CONTACT_DAYS)
        later = aliased(QueueCall, name="later")
        probe = exists().where(later.customer_id == q.customer_id, later.joined_at > q.joined_at,
                               _within(session, later.joined_at, q.joined_at, span),
                               or_(q.policy_no == "", later.policy_no == "", later.policy_no == q.policy_no))
        has_next = q.next_joined.is_not(None)
        repeat = case((and_(has_next, ~_within(session, q.next_joined, q.joined_at, span)), False),
                      (and_(has_next, or_(q.policy_no == "", q.next_policy == "", q.next_policy == q.policy_no)),
                       True),
                      else_=probe)
        team = aliased(ConsoleUser, name="team_of")
        key = _group_key(session, by, q.joined_at, q.queue, q.agent_id, team.team)
        wait = func.coalesce(q.wait_seconds, 0)
        answered = q.outcome == QueueOutcome.ANSWERED
        short = and_(q.outcome == QueueOutcome.ABANDONED, wait < SHORT_ABANDON_SECONDS)
        talked = and_(answered, q.ended_at.is_not(None))
        complained = q.unique_id.in_(select(Complaint.call_unique_id).where(Complaint.call_unique_id.is_not(None)))
        grouped = (select(key.label("key"), func.count().label("waits"), _count(short).label("short_abandons"),
                   _count(answered).label("answered"),
                   _count(and_(q.outcome == QueueOutcome.ABANDONED, wait >= SHORT_ABANDON_SECONDS)).label("abandoned"),
                   _count(and_(answered, wait <= target)).label("answered_in_target"),
                   func.sum(case((answered, wait), else_=0)).label("wait_seconds"),
                   _count(talked).label("talked"),
                   func.sum(case((talked, _epoch(session, q.ended_at) - _epoch(session, q.answered_at)),
                                 else_=0)).label("talk_seconds"),
                   _count(and_(answered, q.customer_id.is_not(None))).label("known_answered"),
                   _count(and_(answered, q.customer_id.is_not(None), ~func.coalesce(repeat, False)))
                   .label("resolved_first_time"),
                   _count(and_(answered, complained)).label("complaints"),
                   _count(and_(answered, q.transferred)).label("transferred"))
                   .where(q.joined_at < period.end).group_by(key).order_by(key))
        if by == "team":
            grouped = grouped.select_from(waits).outerjoin(team, team.id == q.agent_id)
        rows = session.execute(grouped).mappings().all()
        names = _agent_names(session) if by == "agent" else {}
    return [QueueKpis(**{**_numbers(row), "key": _label(row["key"], by, names)}) for row in rows]


def agent_time(period: Period) -> list[AgentTime]:
    """Each agent's online, paused and talk time in ``period``, from their state changes and calls.

    A state lasts until the agent's next change (or the period's end), clipped
    to the period; the state an agent was in when the period began counts from
    its start.
    """
    start, end = period.start, period.end
    with session_scope() as session:
        change = AgentStateChange
        following = func.lead(change.at).over(partition_by=change.user_id, order_by=(change.at, change.id))
        spans = select(change.user_id.label("user_id"), change.state.label("state"), change.at.label("since"),
                       following.label("until")).subquery("spans")
        since = _later(session, _epoch(session, spans.c.since), literal(start.timestamp()))
        until = _earlier(session, func.coalesce(_epoch(session, spans.c.until), literal(end.timestamp())),
                         literal(end.timestamp()))
        seconds = _later(session, until - since, literal(0.0))
        in_period = and_(spans.c.since < end, func.coalesce(spans.c.until, end) > start)
        states = session.execute(
            select(spans.c.user_id,
                   func.sum(case((spans.c.state != AgentState.LOGGED_OUT, seconds), else_=0)).label("online"),
                   func.sum(case((spans.c.state == AgentState.PAUSED, seconds), else_=0)).label("paused"))
            .where(in_period).group_by(spans.c.user_id)).all()
        talk = dict(session.execute(
            select(QueueCall.agent_id, func.sum(_epoch(session, QueueCall.ended_at)
                                                - _epoch(session, QueueCall.answered_at)))
            .where(QueueCall.outcome == QueueOutcome.ANSWERED, QueueCall.ended_at.is_not(None),
                   QueueCall.joined_at >= start, QueueCall.joined_at < end, QueueCall.agent_id.is_not(None))
            .group_by(QueueCall.agent_id)).all())
        scripts = {agent_id: (count, mean) for agent_id, count, mean in session.execute(
            select(CallRecording.agent_id, func.count(), func.avg(CallRecording.script_adherence))
            .where(CallRecording.script_adherence.is_not(None), CallRecording.agent_id.is_not(None),
                   CallRecording.started_at >= start, CallRecording.started_at < end)
            .group_by(CallRecording.agent_id))}
        names = _agent_names(session)
    return sorted((AgentTime(names.get(user_id, str(user_id)), float(online or 0), float(paused or 0),
                             float(talk.get(user_id) or 0), *_scripted(scripts.get(user_id)))
                   for user_id, online, paused in states), key=lambda row: row.key)


def _scripted(found: tuple[int, float] | None) -> tuple[int, float | None]:
    return (0, None) if found is None else (int(found[0]), float(found[1]))


def wait_distribution(period: Period) -> Distribution:
    """Answered calls of ``period`` by how long they waited in the queue (the spread behind ASA)."""
    return _distribution(period, "wait", WAIT_BUCKETS, lambda session: func.coalesce(QueueCall.wait_seconds, 0),
                         QueueCall.outcome == QueueOutcome.ANSWERED)


def handle_time_distribution(period: Period) -> Distribution:
    """Answered calls of ``period`` whose talk has ended, by talk time (the spread behind AHT)."""
    return _distribution(period, "handle time", HANDLE_BUCKETS,
                         lambda session: _epoch(session, QueueCall.ended_at) - _epoch(session, QueueCall.answered_at),
                         and_(QueueCall.outcome == QueueOutcome.ANSWERED, QueueCall.ended_at.is_not(None)))


def _distribution(period: Period, name: str, bounds: tuple[int, ...],
                  seconds: Callable[[Session], ColumnElement[Any]], which: ColumnElement[bool]) -> Distribution:
    """One GROUP BY over a bucket number worked out in SQL, on whole seconds (SQLite's epoch
    arithmetic gives 299.99999 for five minutes)."""
    with session_scope() as session:
        duration = func.round(seconds(session))
        bucket = case(*((duration < upper, index) for index, upper in enumerate(bounds[1:])),
                      else_=len(bounds) - 1)
        found = dict(session.execute(
            select(bucket, func.count())
            .where(which, QueueCall.joined_at >= period.start, QueueCall.joined_at < period.end)
            .group_by(bucket)).all())
    return Distribution(name, bounds, tuple(int(found.get(index, 0)) for index in range(len(bounds))))


def ivr_containment(period: Period) -> list[Containment]:
    """Per day: of the IVR calls that began in ``period`` and have ended, how many were self-served."""
    with session_scope() as session:
        day = _day(session, Call.started_at)
        rows = session.execute(
            select(day, func.count(), _count(Call.disposition == Disposition.SELF_SERVED))
            .where(Call.started_at >= period.start, Call.started_at < period.end,
                   Call.disposition != Disposition.IN_PROGRESS)
            .group_by(day).order_by(day)).all()
    return [Containment(_key_text(key, "day"), int(calls), int(served or 0)) for key, calls, served in rows]


# --- SQL that differs between PostgreSQL and SQLite --------------------------------------------------


def _for_reports(session: Session) -> None:
    """Room for the reports' sorts and hashes in memory on PostgreSQL (this transaction only), and JIT
    compilation only for month-sized queries: the repeat-contact probes inflate the planner's
    estimate, so with the default thresholds a day's report spent 0.4 s in LLVM, as long as the rest
    of it, where a month's gains some 13 % from it (docs/benchmarks.md, "KPI reports")."""
    if _postgres(session):
        session.execute(text(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'"))
        for threshold in ("jit_above_cost", "jit_inline_above_cost", "jit_optimize_above_cost"):
            session.execute(text(f"SET LOCAL {threshold} = {REPORT_JIT_ABOVE_COST}"))


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _epoch(session: Session, moment: Any) -> ColumnElement[float]:
    """Seconds since 1970 of a stored UTC time (SQLite keeps it as text)."""
    if _postgres(session):
        return func.extract("epoch", moment)
    return (func.julianday(moment) - 2440587.5) * 86400.0


def _within(session: Session, later: Any, earlier: Any, span: timedelta) -> ColumnElement[bool]:
    """``later`` at most ``span`` after ``earlier``; on PostgreSQL as a range the index can serve."""
    if _postgres(session):
        return later <= earlier + literal(span, Interval())
    return _epoch(session, later) - _epoch(session, earlier) <= span.total_seconds()


def _day(session: Session, moment: Any, unit: str = "day") -> ColumnElement[str]:
    """The centre's calendar day of a stored UTC time (YYYY-MM-DD once through ``_key_text``); for
    ``unit`` week, the Monday that starts its week; for month, the month (YYYY-MM)."""
    zone = get_settings().zone()
    if _postgres(session):  # a date (cheap to group by), made text by _key_text
        local = func.timezone(zone.key, moment)
        return cast(local if unit == "day" else func.date_trunc(unit, local), Date)
    # SQLite knows no zones: the zone's offset now (the centre's zones have no daylight saving).
    offset = datetime.now(zone).utcoffset() or timedelta()
    shift = f"{offset.total_seconds() / 3600:+.4f} hours"
    if unit == "week":  # six days back, then the next Monday (or that day): the Monday on or before
        return func.date(moment, shift, "-6 days", "weekday 1")
    if unit == "month":
        return func.strftime("%Y-%m", moment, shift)
    return func.date(moment, shift)


def _later(session: Session, a: Any, b: Any) -> ColumnElement[float]:
    return func.greatest(a, b) if _postgres(session) else func.max(a, b)


def _earlier(session: Session, a: Any, b: Any) -> ColumnElement[float]:
    return func.least(a, b) if _postgres(session) else func.min(a, b)


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


def _group_key(session: Session, by: Grouping, moment: Any, queue: Any, agent_id: Any,
               team: Any) -> ColumnElement[Any]:
    """The team is the answering agent's team now (console_users.team), NULL for no agent."""
    if by not in INBOUND_GROUPINGS:
        raise ValidationError(f"group by one of {', '.join(INBOUND_GROUPINGS)}, not {by!r}", "invalid_grouping")
    if by in TIME_GROUPINGS:
        return _day(session, moment, by)
    if by == "queue":
        return queue
    if by == "team":
        return team
    return agent_id


def _agent_names(session: Session) -> dict[int, str]:
    return dict(session.execute(select(ConsoleUser.id, ConsoleUser.username)).all())


def _label(key: Any, by: Grouping, names: dict[int, str]) -> str:
    if by == "agent":
        return NO_AGENT if key is None else names.get(key, str(key))
    if by == "team":
        return NO_AGENT if key is None else key or NO_TEAM
    return _key_text(key, by)


def _key_text(key: Any, by: Grouping) -> str:
    """A group's key as shown: PostgreSQL gives days as dates, SQLite as text."""
    if isinstance(key, date):
        return key.strftime("%Y-%m") if by == "month" else key.isoformat()
    return str(key)


def _numbers(row: Any) -> dict[str, Any]:
    return {name: (float(value or 0) if name.endswith("seconds") else int(value or 0))
            for name, value in row.items() if name != "key"}

