"""KPI reports on a month of a large hotline: SQL aggregation against reading ORM rows into Python.

Not a test: it measures. A fresh, migrated PostgreSQL schema (``--database-url``,
dropped at the end) gets a customer book and ``--calls`` IVR calls over 30
days from ``ivr.domain.demo_history`` (about two thirds reach a queue: queue
waits, answered and abandoned, agents' days, complaints), written by COPY.
Then, in the same run and on the same data:

* each report ``ivr report kpi`` writes (``kpi_report.build``) for one day
  and for the 30 days, by agent (with agent time and script adherence), by
  queue and by day, each the median of ``--runs`` runs;
* the same inbound figures computed by loading ``QueueCall`` ORM rows and
  counting in Python, checked equal to the SQL answers (a fast wrong answer
  does not pass).

    .venv/bin/python bench/kpi_reports.py [--calls 5000000] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
from bisect import bisect_right
import sys
import time
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

from sqlalchemy import func, select

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from agi_load import BENCH_DIR, log, machine, redact  # noqa: E402  (bench/, beside us)
from campaign_book import BulkWriter, publish, write_book  # noqa: E402

from ivr.config import get_settings  # noqa: E402
from ivr.db.models import (AgentStateChange, Call, Complaint, ConsoleUser, Customer, QueueCall,  # noqa: E402
                           QueueOutcome)
from ivr.db.session import engine_for, session_scope  # noqa: E402
from ivr.domain import kpis  # noqa: E402
from ivr.domain.demo_history import history  # noqa: E402
from ivr.domain.kpis import Period, QueueKpis  # noqa: E402
from ivr.reporting import kpi_report  # noqa: E402
from ivr.testing.databases import fresh_database, made_current  # noqa: E402

DAYS = 30
FIRST = date(2026, 11, 1)
AGENTS = 600
TARGETS = {"daily_s": 2.0, "monthly_s": 30.0, "speedup": 10.0}

CALL_COLUMNS = ("id", "unique_id", "channel", "flow", "ani", "ani_e164", "caller_name", "dnis", "language",
                "started_at", "answered_at", "ended_at", "disposition", "customer_id", "verified", "transfer_reason")
QUEUE_COLUMNS = ("id", "unique_id", "queue", "number", "customer_id", "joined_at", "outcome", "answered_at",
                 "left_at", "ended_at", "wait_seconds", "agent_id", "agent_interface", "transferred")
CHANGE_COLUMNS = ("user_id", "at", "state", "reason", "queues", "source")
COMPLAINT_COLUMNS = ("ticket_no", "customer_id", "call_unique_id", "subject", "status", "department", "overdue",
                     "due_at", "created_at", "updated_at")


def _plain(value: Any) -> Any:
    """A value as COPY text wants it: enums by their stored value."""
    return getattr(value, "value", value)


def write_history(url: str, calls: int) -> dict[str, int]:
    engine = engine_for(url)
    write_book(engine, 200_000, FIRST, datetime.now(timezone.utc), 5, log)
    writer = BulkWriter(engine, log)
    stamp = datetime.now(timezone.utc)
    writer.write(ConsoleUser.__table__, ("id", "username", "display_name", "role", "password_hash", "active",
                                         "created_at", "failed_logins"),
                 ((n, f"agent{n:04d}", f"Agent {n}", "agent", "x", True, stamp, 0) for n in range(1, AGENTS + 1)),
                 AGENTS)
    with session_scope() as session:
        customers = list(session.scalars(select(Customer.id).order_by(Customer.id)))
    counts: dict[str, int] = defaultdict(int)
    started = time.monotonic()
    per_day = calls // DAYS
    for number, day in enumerate(history(FIRST, DAYS, per_day, list(range(1, AGENTS + 1)), customers,
                                         get_settings().zone()), start=1):
        for table, columns, rows in ((Call.__table__, CALL_COLUMNS, day.calls),
                                     (QueueCall.__table__, QUEUE_COLUMNS, day.queue_calls),
                                     (AgentStateChange.__table__, CHANGE_COLUMNS, day.agent_changes),
                                     (Complaint.__table__, COMPLAINT_COLUMNS, day.complaints)):
            writer.write(table, columns, ([_plain(row[c]) for c in columns] for row in rows), len(rows))
            counts[table.name] += len(rows)
        log(f"history: day {number}/{DAYS}, {counts['calls']:,} calls ({time.monotonic() - started:.0f} s)")
    writer.finish([Call.__table__, QueueCall.__table__, AgentStateChange.__table__, Complaint.__table__,
                   ConsoleUser.__table__])
    return dict(counts)


@contextmanager
def _database(args: argparse.Namespace) -> Iterator[str]:
    if args.reuse:
        yield args.database_url
        return
    with fresh_database(BENCH_DIR, "kpi", args.database_url) as url:
        log(f"database {redact(url)}: writing {args.calls:,} calls over {DAYS} days")
        yield url


def _rows() -> dict[str, int]:
    with session_scope() as session:
        return {table.name: session.scalar(select(func.count()).select_from(table)) or 0
                for table in (Call.__table__, QueueCall.__table__, AgentStateChange.__table__, Complaint.__table__)}


def timed(work: Callable[[], Any], runs: int) -> tuple[float, Any]:
    seconds, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


def sql_report(period: Period, by: str) -> kpi_report.KpiReport:
    """What ``ivr report kpi`` computes for one file: the figures of one grouping (with agent time by agent)."""
    return kpi_report.build(period, by)  # type: ignore[arg-type]


def python_inbound(period: Period, by: str) -> list[QueueKpis]:
    """The inbound figures the slow way: every QueueCall of the period as an ORM object, counted in Python."""
    target = get_settings().service_level_seconds
    with session_scope() as session:
        rows = list(session.scalars(select(QueueCall).where(QueueCall.joined_at >= period.start,
                                                            QueueCall.joined_at < period.end)))
        customers = {row.customer_id for row in rows if row.customer_id is not None}
        later: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
        for customer_id, joined, policy in session.execute(select(QueueCall.customer_id, QueueCall.joined_at,
                                                                  QueueCall.policy_no).where(
                QueueCall.customer_id.in_(customers) if len(customers) < 30_000 else QueueCall.customer_id.is_not(None),
                QueueCall.joined_at >= period.start, QueueCall.joined_at < period.end + timedelta(days=7))):
            later[customer_id].append((joined, policy))
        for joins in later.values():
            joins.sort()
        complained = set(session.scalars(select(Complaint.call_unique_id).where(Complaint.call_unique_id.is_not(None))))
        names = dict(session.execute(select(ConsoleUser.id, ConsoleUser.username)).all())
    zone, repeat = get_settings().zone(), timedelta(days=kpis.REPEAT_CONTACT_DAYS)
    groups: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in rows:
        key = (row.joined_at.astimezone(zone).date().isoformat() if by == "day" else row.queue if by == "queue"
               else names.get(row.agent_id, "(no agent)") if row.agent_id else "(no agent)")
        g = groups[key]
        wait = row.wait_seconds or 0
        answered = row.outcome is QueueOutcome.ANSWERED
        g["waits"] += 1
        g["short_abandons"] += row.outcome is QueueOutcome.ABANDONED and wait < kpis.SHORT_ABANDON_SECONDS
        g["abandoned"] += row.outcome is QueueOutcome.ABANDONED and wait >= kpis.SHORT_ABANDON_SECONDS
        if not answered:
            continue
        g["answered"] += 1
        g["answered_in_target"] += wait <= target
        g["wait_seconds"] += wait
        if row.ended_at is not None:
            g["talked"] += 1
            g["talk_seconds"] += (row.ended_at - row.answered_at).total_seconds()
        if row.customer_id is not None:
            g["known_answered"] += 1
            joins = later[row.customer_id]  # sorted; from the first strictly after this wait, 7 days on
            following = itertools.takewhile(lambda join: join[0] <= row.joined_at + repeat,
                                            joins[bisect_right(joins, (row.joined_at, "\uffff")):])
            g["resolved_first_time"] += not any(not row.policy_no or not policy or policy == row.policy_no
                                                for _, policy in following)
        g["complaints"] += row.unique_id in complained
        g["transferred"] += row.transferred
    return [QueueKpis(key, **{name: (float(v) if name.endswith("seconds") else int(v)) for name, v in g.items()})
            for key, g in sorted(groups.items())]


def same(sql: list[QueueKpis], python: list[QueueKpis]) -> bool:
    def key(row: QueueKpis) -> tuple[Any, ...]:
        return (row.key, row.waits, row.short_abandons, row.answered, row.abandoned, row.answered_in_target,
                row.talked, row.known_answered, row.resolved_first_time, row.complaints, row.transferred,
                round(row.wait_seconds), round(row.talk_seconds))
    return sorted(map(key, sql)) == sorted(map(key, python))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=3, help="runs of each SQL report (median)")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--json", type=Path, default=BENCH_DIR / "kpi_reports.json")
    parser.add_argument("--reuse", action="store_true",
                        help="measure the history already in --database-url (a schema an earlier run kept)")
    args = parser.parse_args()
    problems: list[str] = []
    with _database(args) as url, made_current(url):
        started = time.monotonic()
        counts = _rows() if args.reuse else write_history(url, args.calls)
        load_s = time.monotonic() - started
        day = Period(FIRST + timedelta(days=14), FIRST + timedelta(days=14))
        month = Period(FIRST, FIRST + timedelta(days=DAYS - 1))
        reports = {f"{name} by {by}": timed(lambda p=period, b=by: sql_report(p, b), args.runs)[0]
                   for name, period in (("daily", day), ("monthly", month)) for by in ("agent", "queue", "day")}
        daily_s = max(seconds for name, seconds in reports.items() if name.startswith("daily"))
        monthly_s = max(seconds for name, seconds in reports.items() if name.startswith("monthly"))
        log(f"reports: {', '.join(f'{name} {seconds:.2f} s' for name, seconds in reports.items())}")
        sql_daily_s, daily_rows = timed(lambda: kpis.queue_kpis(day, "queue"), args.runs)
        sql_monthly_s, monthly_rows = timed(lambda: kpis.queue_kpis(month, "day"), args.runs)
        log("now the ORM rows in Python")
        python_daily_s, python_daily = timed(lambda: python_inbound(day, "queue"), 1)
        python_monthly_s, python_monthly = timed(lambda: python_inbound(month, "day"), 1)
        for name, sql_rows, python_rows in (("daily", daily_rows, python_daily),
                                            ("monthly", monthly_rows, python_monthly)):
            if not same(sql_rows, python_rows):
                problems.append(f"{name}: SQL and Python figures differ")
    if daily_s > TARGETS["daily_s"]:
        problems.append(f"daily report {daily_s:.2f} s > {TARGETS['daily_s']} s")
    if monthly_s > TARGETS["monthly_s"]:
        problems.append(f"monthly report {monthly_s:.2f} s > {TARGETS['monthly_s']} s")
    speedups = {"daily": python_daily_s / sql_daily_s, "monthly": python_monthly_s / sql_monthly_s}
    problems += [f"{name}: SQL only {ratio:.1f}x faster" for name, ratio in speedups.items()
                 if ratio < TARGETS["speedup"]]
    report = {"machine": machine(), "rows": counts, "load_seconds": load_s, "reports_s": reports,
              "daily_report_s": daily_s,
              "monthly_report_s": monthly_s, "inbound_sql_s": {"daily": sql_daily_s, "monthly": sql_monthly_s},
              "inbound_python_orm_s": {"daily": python_daily_s, "monthly": python_monthly_s}, "speedup": speedups,
              "problems": problems}
    text = "\n".join([
        f"{counts.get('calls', 0):,} calls, {counts.get('queue_calls', 0):,} queue waits, "
        f"{counts.get('agent_state_changes', 0):,} agent state changes, {counts.get('complaints', 0):,} complaints "
        f"(written in {load_s:.0f} s)",
        *(f"{name}: {seconds:.2f} s" for name, seconds in reports.items()),
        f"slowest daily report {daily_s:.2f} s (target < 2 s), slowest monthly {monthly_s:.2f} s (target < 30 s)",
        f"inbound figures, SQL vs ORM rows in Python: daily {sql_daily_s:.2f} s vs {python_daily_s:.2f} s "
        f"({speedups['daily']:.0f}x), monthly {sql_monthly_s:.2f} s vs {python_monthly_s:.2f} s "
        f"({speedups['monthly']:.0f}x); the same figures: {'yes' if not problems or all('differ' not in p for p in problems) else 'NO'}",
        *(f"PROBLEM: {problem}" for problem in problems)])
    return publish(report, text, args.json)


if __name__ == "__main__":
    sys.exit(main())
