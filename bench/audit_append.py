#!/usr/bin/env python3
"""What the audit log costs a caller reporting a claim: each step with and without its audit row.

Not a test: it measures. A claim during a call is five short transactions (open, incident type,
incident date, callback number, submit); since the audit log each also takes the chain's lock,
reads the head and inserts one row (ivr/domain/audit.py). The script builds a throwaway database
(SQLite under a temporary folder, or a schema in ``--database-url``), loads the small test book,
and runs ``--claims`` claims from ``--threads`` threads (callers at once) twice in the same run,
alternating rounds: once as shipped, once with the append replaced by nothing. It prints the
median and p99 of one step's time for each, and checks that the audited chain is intact.

See docs/benchmarks.md ("Audit log") for figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

from sqlalchemy import select

from ivr.db.models import Customer, IncidentType
from ivr.db.session import session_scope
from ivr.domain import audit, claims
from ivr.domain.book_import import write_book
from ivr.testing.databases import fresh_database, made_current
from ivr.testing.small_book import SmallBook


def one_claim(policy_no: str, customer_id: int, n: int) -> list[float]:
    """The five steps of a claim, each one's seconds."""
    steps: list[float] = []

    def timed(step: object, *args: object) -> object:
        started = time.perf_counter()
        result = step(*args)  # type: ignore[operator]
        steps.append(time.perf_counter() - started)
        return result

    claim_no = timed(claims.open_claim, policy_no, customer_id, f"bench.{n}").claim_no  # type: ignore[attr-defined]
    timed(claims.record_incident_type, claim_no, IncidentType.GLASS)
    timed(claims.record_incident_date, claim_no, date(2026, 12, 1))
    timed(claims.record_callback_number, claim_no, "+8613800138001")
    timed(claims.submit_claim, claim_no)
    return steps


def run(policy_no: str, customer_id: int, count: int, threads: int, start: int) -> list[float]:
    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = pool.map(lambda n: one_claim(policy_no, customer_id, n), range(start, start + count))
        return [step for steps in results for step in steps]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="PostgreSQL server URL (a schema of its own)")
    parser.add_argument("--claims", type=int, default=400, help="claims per variant")
    parser.add_argument("--threads", type=int, default=8, help="callers at once")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds per variant")
    args = parser.parse_args()
    real_append = audit.record_many
    timings: dict[str, list[float]] = {"audited": [], "no audit row": []}
    with tempfile.TemporaryDirectory() as folder, fresh_database(Path(folder), "bench", args.database_url) as url, \
            made_current(url):
        book = SmallBook()
        with session_scope() as session:
            write_book(session, book.rows(), "bench-salt")
            customer_id = session.scalar(select(Customer.id).where(Customer.customer_no == "C1"))
        per_round, n = args.claims // args.rounds, 0
        for _ in range(args.rounds):
            for variant in timings:
                audit.record_many = real_append if variant == "audited" else (lambda *a, **k: None)  # type: ignore[assignment]
                timings[variant] += run(book.motor_policy, customer_id, per_round, args.threads, n)
                n += per_round
        audit.record_many = real_append  # type: ignore[assignment]
        report = audit.verify_chain()
    print(f"{url.split('?')[0].split('@')[-1]}: {args.threads} threads, {args.claims} claims per variant")
    for variant, steps in timings.items():
        steps.sort()
        print(f"  {variant:<13} step median {statistics.median(steps) * 1000:6.2f} ms  "
              f"p99 {steps[int(len(steps) * 0.99)] * 1000:6.2f} ms  ({len(steps)} steps)")
    print(f"  chain: {report.checked} rows, {'intact' if report.problem is None else report.problem.message}")
    return 0 if report.problem is None else 1


if __name__ == "__main__":
    sys.exit(main())
