#!/usr/bin/env python3
"""Caller recognition benchmark: who is calling, by ANI, on a 2,000,000-customer book.

Not a test: it measures. The script makes a throwaway PostgreSQL schema (migrated, dropped
at the end unless ``--keep``), writes N customers and their numbers by COPY
(``bench/campaign_book.py``'s ``BulkWriter``): every customer a mobile of their own
(``+86139<8 digits>``), and one customer in ten a home number shared with the next customer
(a family landline, which must recognise nobody). Then, in one process, it looks up the same
ANIs in the same order two ways:

* **ours**: ``ivr.domain.callers.identify_by_phone``, what the hotline flow calls
  (``ivr/flows/verification.py: recognise``) with the ANI as Asterisk gives it (national
  form, ``13900001234``): number normalisation, the pooled engine, the query, the answer;
* **raw**: one psycopg 3 connection in autocommit, a prepared statement that returns the
  same answer (the customer's id and language when exactly one customer has the number),
  given the E.164 number already normalised: the least a lookup can cost from Python.

The mix: 80 % customers' own mobiles (recognised), 10 % shared home numbers (nobody), 10 %
numbers nobody has. Every answer of ours must equal the raw query's. Reported: p50/p99
latency, lookups per second, and ours as a share of raw's throughput (target: 80 %, p99
under 2 ms). Each ANI is looked up both ways back to back, each side first in turn, so
that a busy moment of the shared machine falls on both.

See docs/benchmarks.md ("Caller recognition") for figures and how to read them.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agi_load import log, machine, percentile, private_schema_url, redact  # noqa: E402  (bench/, beside us)
from campaign_book import BulkWriter, publish  # noqa: E402

from ivr.db.migrate import upgrade  # noqa: E402
from ivr.db.models import Customer, CustomerPhone  # noqa: E402
from ivr.db.session import engine_for  # noqa: E402
from ivr.domain.callers import KnownCaller, identify_by_phone  # noqa: E402
from ivr.domain.phones import parse_ani  # noqa: E402
from ivr.testing.databases import made_current  # noqa: E402

SHARED_HOME_EVERY = 10  # customers 10, 20, 30 ... share a home number with the next customer
RAW_QUERY = """
    SELECT c.id, c.language FROM customers c
    WHERE c.id = (SELECT min(p.customer_id) FROM customer_phones p WHERE p.number = %s
                  HAVING min(p.customer_id) = max(p.customer_id))
"""


def mobile(customer_id: int) -> str:
    return f"+86139{customer_id:08d}"


def shared_home(customer_id: int) -> str:
    """The landline of customers ``customer_id`` and ``customer_id + 1``."""
    return f"+8610{customer_id:08d}"


def write_customers(url: str, customers: int) -> float:
    """N customers and their numbers, by COPY; seconds taken."""
    started = time.monotonic()
    engine = create_engine(url)
    writer = BulkWriter(engine, log)
    stamp = datetime.now(timezone.utc)
    writer.write(Customer.__table__, ("id", "customer_no", "name", "gender", "birth_date", "national_id_hash",
                                      "national_id_last4", "language", "tier", "created_at", "updated_at"),
                 ((n, f"R{n:09d}", f"Customer {n}", "female" if n % 2 else "male",
                   f"{1950 + n % 50}-{1 + n % 12:02d}-{1 + n % 28:02d}", f"{n:064x}", f"{n % 10_000:04d}",
                   "en" if n % 7 == 0 else "zh", "standard", stamp, stamp) for n in range(1, customers + 1)),
                 customers)

    def phones() -> Any:
        phone_id = 0
        for n in range(1, customers + 1):
            phone_id += 1
            yield phone_id, n, mobile(n), "", "mobile"
            home_of = n - n % SHARED_HOME_EVERY
            if home_of and n - home_of < 2 and home_of + 1 <= customers:
                phone_id += 1
                yield phone_id, n, shared_home(home_of), "", "home"

    shared = 2 * (customers // SHARED_HOME_EVERY)
    writer.write(CustomerPhone.__table__, ("id", "customer_id", "number", "extension", "kind"), phones(),
                 customers + shared)
    writer.finish([Customer.__table__, CustomerPhone.__table__])
    engine.dispose()
    return time.monotonic() - started


def lookup_anis(customers: int, count: int, seed: int) -> list[str]:
    """ANIs as Asterisk presents them (national form): 80 % own mobiles, 10 % shared, 10 % unknown."""
    rng = random.Random(seed)
    anis = []
    for _ in range(count):
        draw = rng.random()
        if draw < 0.8:
            anis.append(mobile(rng.randint(1, customers)).removeprefix("+86"))
        elif draw < 0.9:
            home_of = SHARED_HOME_EVERY * rng.randint(1, max(1, (customers - 1) // SHARED_HOME_EVERY))
            anis.append("0" + shared_home(home_of).removeprefix("+86"))
        else:
            anis.append(f"137{rng.randint(0, 99_999_999):08d}")
    return anis


def time_both(anis: list[str], numbers: list[str], connection: psycopg.Connection
              ) -> tuple[list[KnownCaller | None], list[float], list[KnownCaller | None], list[float]]:
    """Each ANI looked up both ways back to back, in turn first (the first warms PostgreSQL's
    buffers for the second), so that a busy moment of the shared machine falls on both alike."""
    ours, ours_s, raw, raw_s = [], [], [], []
    clock = time.perf_counter
    for index, (ani, number) in enumerate(zip(anis, numbers)):
        for side in ((0, 1) if index % 2 else (1, 0)):
            started = clock()
            if side == 0:
                ours.append(identify_by_phone(ani))
                ours_s.append(clock() - started)
            else:
                row = connection.execute(RAW_QUERY, (number,), prepare=True).fetchone()
                raw.append(None if row is None else KnownCaller(row[0], row[1]))
                raw_s.append(clock() - started)
    return ours, ours_s, raw, raw_s


def figures(seconds: list[float]) -> dict[str, float]:
    return {"lookups": len(seconds), "p50_ms": 1000 * percentile(seconds, 0.50),
            "p99_ms": 1000 * percentile(seconds, 0.99), "max_ms": 1000 * max(seconds),
            "per_second": len(seconds) / sum(seconds)}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Caller recognition by ANI on a large book: ours against a "
                                                 "raw psycopg prepared query, same numbers, same order.")
    parser.add_argument("--customers", type=int, default=2_000_000)
    parser.add_argument("--lookups", type=int, default=20_000, help="per round and side (default: 20000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per side, alternating (default: 3)")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--schema", default=None,
                        help="schema to work in (default: ivr_lookup_<pid>); with --keep it stays for a later "
                             "--reuse")
    parser.add_argument("--keep", action="store_true", help="leave the schema in place at the end")
    parser.add_argument("--reuse", action="store_true", help="the schema already holds the book: do not write it")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--json", type=Path, default=None, metavar="PATH")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if make_url(args.database_url).get_backend_name() != "postgresql":
        raise SystemExit("this benchmark is for PostgreSQL (--database-url postgresql://...)")
    schema = args.schema or f"ivr_lookup_{os.getpid()}"
    admin = create_engine(args.database_url, isolation_level="AUTOCOMMIT")
    url = private_schema_url(args.database_url, schema)
    load_seconds = 0.0
    try:
        if not args.reuse:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            upgrade(url)
            log(f"writing {args.customers:,} customers into schema {schema} ...")
            load_seconds = write_customers(url, args.customers)
        report = run(args, url, load_seconds)
    finally:
        engine_for(url).dispose()
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
    return publish(report, markdown(report), args.json)


def run(args: argparse.Namespace, url: str, load_seconds: float) -> dict[str, Any]:
    anis = lookup_anis(args.customers, args.lookups, args.seed)
    numbers = [phone.e164 if (phone := parse_ani(ani)) else "" for ani in anis]
    ours_s: list[float] = []
    raw_s: list[float] = []
    problems: list[str] = []
    with made_current(url), psycopg.connect(psycopg_conninfo(url), autocommit=True) as connection:
        time_both(anis[:200], numbers[:200], connection)  # warm: the pool, the prepared statements
        for round_no in range(args.rounds):
            our_answers, seconds, raw_answers, raw_seconds = time_both(anis, numbers, connection)
            ours_s += seconds
            raw_s += raw_seconds
            wrong = [(a, o, r) for a, o, r in zip(anis, our_answers, raw_answers) if o != r]
            problems += [f"round {round_no}: {a}: ours {o}, raw {r}" for a, o, r in wrong[:5]]
            log(f"round {round_no + 1}/{args.rounds}: {len(wrong)} answers differ")
        recognised = sum(a is not None for a in raw_answers)
    ours, raw = figures(ours_s), figures(raw_s)
    return {"machine": machine(), "command": sys.argv, "customers": args.customers,
            "load_seconds": load_seconds, "lookups_per_round": args.lookups, "rounds": args.rounds,
            "recognised_per_round": recognised, "ours": ours, "raw": raw,
            "throughput_ratio": ours["per_second"] / raw["per_second"], "problems": problems}


def psycopg_conninfo(url: str) -> str:
    """libpq's conninfo for a SQLAlchemy URL (with its ``options=-csearch_path=...``)."""
    parsed = make_url(url)
    parts = {"host": parsed.host, "port": parsed.port, "user": parsed.username, "dbname": parsed.database,
             "password": parsed.password, "options": parsed.query.get("options")}
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in parts.items() if v})


def markdown(report: dict[str, Any]) -> str:
    lines = [f"{report['customers']:,} customers (book written in {report['load_seconds']:.0f} s); "
             f"{report['rounds']} rounds of {report['lookups_per_round']:,} lookups per side, "
             f"{report['recognised_per_round']:,} recognised per round", "",
             "| path | lookups | p50 ms | p99 ms | max ms | lookups/s |", "|---|---:|---:|---:|---:|---:|"]
    for name in ("ours", "raw"):
        f = report[name]
        lines.append(f"| {name} | {f['lookups']:,} | {f['p50_ms']:.3f} | {f['p99_ms']:.3f} | {f['max_ms']:.1f} "
                     f"| {f['per_second']:,.0f} |")
    lines += ["", f"ours / raw throughput: {100 * report['throughput_ratio']:.1f} %; "
                  f"answers that differ: {len(report['problems'])}"]
    lines += [f"- {p}" for p in report["problems"]]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
