"""A synthetic policy book for the campaign benchmarks, written in bulk, with what a campaign must select.

Shared by ``bench/campaign_select.py`` (selection and planning of a large book)
and ``bench/campaign_pacing.py`` (an all-due book to dial). Rows go in by
PostgreSQL ``COPY`` or, on SQLite, SQLAlchemy Core ``executemany`` in large
batches, never as ORM objects; ids are given, so no row needs reading back.

The generator decides every policy's fate itself (due in the window, paid
ahead, in grace, lapsed, terminated, reported paid) and every customer's
numbers and do-not-call state, and keeps **the expected selection** (policy
id -> the number to call) for the benchmark campaign: in-force policies due
within ``DUE_WITHIN_DAYS`` of today, or in grace. The benchmarks check
``select_targets`` and ``plan_attempts`` against it, so a fast wrong answer
cannot pass.
"""

from __future__ import annotations

import io
import json
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.engine import Connection, Engine

from ivr.db.models import (
    Customer,
    CustomerPhone,
    DoNotCall,
    PaymentReconciliation,
    Policy,
    SalesAgent,
)

DUE_WITHIN_DAYS = 30  # the benchmark campaign: premiums due within 30 days, and the grace period
BATCH = 20_000  # rows per executemany (SQLite) or per progress line
SALES_AGENTS, BRANCHES = 200, 20
CUSTOMERS_PER_POLICY = 0.8  # 1,000,000 policies are held by 800,000 customers

# The share of policies in each state (cumulative thresholds of one random draw).
POLICY_MIX: tuple[tuple[float, str], ...] = (
    (0.15, "due"),  # in force, premium due within the window: selected
    (0.01, "reported_paid"),  # due within the window, "I have already paid" for this cycle: not selected
    (0.54, "paid_ahead"),  # in force, next premium due after the window: not selected
    (0.05, "single_premium"),  # in force, no next due date: not selected
    (0.08, "grace"),  # in its grace period: selected
    (0.10, "lapsed"),  # not selected
    (0.07, "terminated"),  # terminated, its old due date inside the window: never selected
)
# Each customer's numbers: mobile only, mobile and home, home only, none (left out of any campaign).
PHONE_MIX: tuple[tuple[float, str], ...] = ((0.85, "mobile"), (0.05, "mobile+home"), (0.05, "home"),
                                            (0.05, "none"))
# Do-not-call, per customer: the mobile opted out (the home number, if any, is called instead),
# the customer opted out (never called), an opt-out that has ended (no effect).
DNC_MOBILE, DNC_CUSTOMER, DNC_ENDED = 0.02, 0.01, 0.01


@dataclass
class BookFacts:
    """What the generator made: counts by kind and the campaign's expected targets."""

    policies: int
    customers: int
    by_policy_kind: dict[str, int] = field(default_factory=dict)
    by_phone_kind: dict[str, int] = field(default_factory=dict)
    dnc_rows: int = 0
    expected: dict[int, str] = field(default_factory=dict)  # policy id -> number to call
    load_seconds: float = 0.0

    @property
    def due_share(self) -> float:
        return self.by_policy_kind.get("due", 0) / max(1, self.policies)


def mobile(customer_id: int) -> str:
    return f"+86139{customer_id:08d}"


def home(customer_id: int) -> str:
    return f"+8610{customer_id:08d}"


def _pick(mix: Sequence[tuple[float, str]], draw: float) -> str:
    for share, kind in mix:
        if draw < share:
            return kind
        draw -= share
    return mix[-1][1]


class BulkWriter:
    """Rows into tables, fast: COPY on PostgreSQL, Core executemany in batches on SQLite."""

    def __init__(self, engine: Engine, progress: Callable[[str], None]) -> None:
        self.engine, self.progress = engine, progress
        self.postgres = engine.dialect.name == "postgresql"

    def write(self, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]], total: int) -> int:
        written, started = 0, time.monotonic()
        with self.engine.begin() as connection:
            for batch in _batches(rows, BATCH):
                if self.postgres:
                    self._copy(connection, table, columns, batch)
                else:
                    connection.execute(table.insert(), [dict(zip(columns, row)) for row in batch])
                written += len(batch)
                if written % (10 * BATCH) < BATCH or written == total:
                    self.progress(f"  {table.name}: {written:,}/{total:,} rows ({time.monotonic() - started:.0f} s)")
        return written

    @staticmethod
    def _copy(connection: Connection, table: Table, columns: Sequence[str], batch: list[Sequence[Any]]) -> None:
        buffer = io.StringIO()
        for row in batch:
            buffer.write("\t".join(r"\N" if value is None else str(value) for value in row))
            buffer.write("\n")
        cursor = connection.connection.driver_connection.cursor()  # psycopg 3
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            copy.write(buffer.getvalue())

    def finish(self, tables: Sequence[Table]) -> None:
        """Sequences past the ids given; fresh planner statistics and, on PostgreSQL, the visibility
        map (index-only scans), as autovacuum would soon have (since PostgreSQL 13 it vacuums a table
        after inserts too)."""
        if not self.postgres:
            with self.engine.begin() as connection:
                connection.execute(text("ANALYZE"))
            return
        with self.engine.begin() as connection:
            for table in tables:
                connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                        f"(SELECT coalesce(max(id), 1) FROM {table.name}))"))
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for table in tables:
                connection.execute(text(f"VACUUM ANALYZE {table.name}"))


def _batches(rows: Iterable[Sequence[Any]], size: int) -> Iterator[list[Sequence[Any]]]:
    batch: list[Sequence[Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def write_book(engine: Engine, policies: int, today: date, now: datetime, seed: int,
               progress: Callable[[str], None], all_due: bool = False) -> BookFacts:
    """``policies`` policies and their holders, sales agents, phones, do-not-call and payment reports.

    ``all_due``: every customer holds one policy due within the window and a
    mobile number, with no do-not-call (the pacing benchmark's book).
    """
    started = time.monotonic()
    rng = random.Random(seed)
    customers = policies if all_due else max(1, int(policies * CUSTOMERS_PER_POLICY))
    facts = BookFacts(policies, customers)
    writer = BulkWriter(engine, progress)
    stamp = now
    writer.write(SalesAgent.__table__, ("id", "agent_code", "name", "licence_no", "branch", "status"),
                 ((n, f"S{n:05d}", f"Sales agent {n}", f"LIC{n:08d}", f"Branch {n % BRANCHES + 1:02d}", "active")
                  for n in range(1, SALES_AGENTS + 1)), SALES_AGENTS)
    writer.write(Customer.__table__, ("id", "customer_no", "name", "gender", "birth_date", "national_id_hash",
                                      "national_id_last4", "language", "tier", "created_at", "updated_at"),
                 ((n, f"B{n:09d}", f"Customer {n}", "female" if n % 2 else "male",
                   date(1950 + n % 50, 1 + n % 12, 1 + n % 28), f"{n:064x}", f"{n % 10_000:04d}",
                   "en" if n % 10 == 0 else "zh", "standard", stamp, stamp) for n in range(1, customers + 1)),
                 customers)
    # Numbers and do-not-call, decided per customer: callable[n] is the number a campaign may call, or "".
    phone_kinds = [""] + ["mobile"] * customers if all_due else \
        [""] + [_pick(PHONE_MIX, rng.random()) for _ in range(customers)]
    dnc: list[tuple[int, str, int | None, datetime, str]] = []
    callable_number = [""] * (customers + 1)
    for n in range(1, customers + 1):
        kind = phone_kinds[n]
        facts.by_phone_kind[kind] = facts.by_phone_kind.get(kind, 0) + 1
        numbers = [mobile(n)] if "mobile" in kind else []
        numbers += [home(n)] if "home" in kind else []
        draw = 1.0 if all_due else rng.random()
        if draw < DNC_MOBILE and "mobile" in kind:
            dnc.append((len(dnc) + 1, mobile(n), None, now + timedelta(days=180), "opted out"))
            numbers.remove(mobile(n))
        elif draw < DNC_MOBILE + DNC_CUSTOMER and numbers:
            dnc.append((len(dnc) + 1, numbers[0], n, now + timedelta(days=180), "customer opted out"))
            numbers = []
        elif draw < DNC_MOBILE + DNC_CUSTOMER + DNC_ENDED and numbers:
            dnc.append((len(dnc) + 1, numbers[0], n, now - timedelta(days=1), "ended"))
        callable_number[n] = numbers[0] if numbers else ""
    phone_count = sum(("mobile" in k) + ("home" in k) for k in phone_kinds[1:])
    writer.write(CustomerPhone.__table__, ("id", "customer_id", "number", "extension", "kind"),
                 _phone_rows(phone_kinds), phone_count)
    facts.dnc_rows = writer.write(DoNotCall.__table__, ("id", "number", "customer_id", "until", "reason", "source",
                                                        "created_at"),
                                  ((*row, "agent", stamp) for row in dnc), len(dnc))
    reported: list[tuple[int, int, date, datetime]] = []

    def policy_rows() -> Iterator[tuple[Any, ...]]:
        for pid in range(1, policies + 1):
            holder = pid if pid <= customers else rng.randint(1, customers)
            kind = "due" if all_due else _pick(POLICY_MIX, rng.random())
            facts.by_policy_kind[kind] = facts.by_policy_kind.get(kind, 0) + 1
            status, due = _policy_state(kind, today, rng)
            if kind == "reported_paid":
                reported.append((len(reported) + 1, pid, due, stamp))
            if kind in ("due", "grace") and callable_number[holder]:
                facts.expected[pid] = callable_number[holder]
            premium = f"{rng.randint(200, 20_000)}.00"
            yield (pid, f"P{pid:010d}", holder, ("life", "health", "motor")[pid % 3], "Benchmark Plan", status,
                   Decimal("500000.00"), Decimal(premium), "single" if kind == "single_premium" else "annual",
                   today - timedelta(days=400), None, None, due,
                   1 + pid % SALES_AGENTS)

    writer.write(Policy.__table__, ("id", "policy_no", "holder_id", "product_line", "product_name", "status",
                                    "sum_insured", "premium", "payment_frequency", "start_date", "end_date",
                                    "paid_to_date", "next_due_date", "sales_agent_id"), policy_rows(), policies)
    writer.write(PaymentReconciliation.__table__, ("id", "policy_id", "cycle", "reported_at"), reported,
                 len(reported))
    writer.finish([SalesAgent.__table__, Customer.__table__, CustomerPhone.__table__, DoNotCall.__table__,
                   Policy.__table__, PaymentReconciliation.__table__])
    facts.load_seconds = time.monotonic() - started
    return facts


def _phone_rows(phone_kinds: list[str]) -> Iterator[tuple[Any, ...]]:
    phone_id = 0
    for n, kind in enumerate(phone_kinds):
        if "mobile" in kind:
            phone_id += 1
            yield phone_id, n, mobile(n), "", "mobile"
        if "home" in kind:
            phone_id += 1
            yield phone_id, n, home(n), "", "home"


def _policy_state(kind: str, today: date, rng: random.Random) -> tuple[str, date | None]:
    """A policy's status and next due date for its kind."""
    if kind in ("due", "reported_paid"):
        return "in_force", today + timedelta(days=rng.randint(0, DUE_WITHIN_DAYS))
    if kind == "paid_ahead":
        return "in_force", today + timedelta(days=rng.randint(DUE_WITHIN_DAYS + 1, 365))
    if kind == "single_premium":
        return "in_force", None
    if kind == "grace":
        return "grace", today - timedelta(days=rng.randint(1, 59))
    if kind == "lapsed":
        return "lapsed", today - timedelta(days=rng.randint(60, 400))
    return "terminated", today + timedelta(days=rng.randint(0, DUE_WITHIN_DAYS))


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def publish(report: dict[str, Any], text: str, json_path: Path | None) -> int:
    """Print a benchmark's figures, write them as JSON when asked; the exit status (1 when a check failed)."""
    print(text)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=2))
    return 1 if report["problems"] else 0
