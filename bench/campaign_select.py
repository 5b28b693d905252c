#!/usr/bin/env python3
"""Campaign selection benchmark: select a large policy book for a premium-reminder campaign and
enqueue it (plan the first attempts); how long, how much memory, and is the answer right?

Not a test: it measures. The script builds a fresh, migrated database (a SQLite
file under ``var/bench/`` by default, or a throwaway schema in
``--database-url``, dropped at the end; ``ivr.testing.databases.fresh_database``)
and writes a synthetic book of N policies in bulk (``bench/campaign_book.py``:
COPY on PostgreSQL, Core executemany on SQLite): about 15 % due within the
campaign's 30 days, 8 % in grace, the rest paid ahead, single premium, lapsed or
terminated, 1 % reported paid for the cycle; 5 % of customers without a number,
2 % with their mobile on do-not-call (their home number is called if they have
one), 1 % opted out as a customer. The campaign selects premiums due within 30
days and the grace period.

Each timed step runs in a fresh process, so that its peak resident memory
(``ru_maxrss``) is the step's own and not the generator's:

* ``select_targets`` (then again under ``tracemalloc`` for the Python heap's peak);
* ``plan_attempts``: the selection and the insert of every first attempt (the
  "enqueue"), then a second run, which must plan nothing new (what a periodic
  planner pays on each later run).

Every answer is checked against the generator's own expected selection (policy
and number): selected, planned, and the attempt rows in the database.

See docs/benchmarks.md ("Outbound campaigns") for figures and how to read them.
"""

from __future__ import annotations

import argparse
import resource
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from agi_load import BENCH_DIR, log, machine, redact  # noqa: E402  (bench/, beside us)
from campaign_book import BookFacts, DUE_WITHIN_DAYS, publish, utc_now, write_book  # noqa: E402

from ivr.config import get_settings  # noqa: E402
from ivr.db.models import CampaignAttempt  # noqa: E402
from ivr.db.session import engine_for, session_scope  # noqa: E402
from ivr.domain.campaigns import (  # noqa: E402
    CampaignSpec,
    create_campaign,
    get_campaign,
    plan_attempts,
    select_targets,
    start_campaign,
)
from ivr.testing.databases import fresh_database, made_current  # noqa: E402

CAMPAIGN = CampaignSpec(name="bench-premium-due", message="Your premium is due", due_within_days=DUE_WITHIN_DAYS,
                        include_grace=True)


# -- the timed steps, each in a fresh process -------------------------------------

def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def step_select(url: str, campaign_id: int, now: datetime, traced: bool) -> dict[str, Any]:
    """``select_targets`` timed, its peak RSS, then (``traced``) the same under tracemalloc."""
    with made_current(url):
        get_campaign(campaign_id)  # the engine and a pooled connection, outside the measure
        before = max_rss_mib()
        started = time.perf_counter()
        try:
            targets = select_targets(campaign_id, now)
        except Exception as error:  # reported, not hidden (a 1,000,000-policy book once passed 65,535 binds)
            return {"seconds": time.perf_counter() - started, "error": f"{type(error).__name__}: {str(error)[:300]}",
                    "rss_before_mib": before, "rss_peak_mib": max_rss_mib(), "count": 0, "pairs": []}
        seconds = time.perf_counter() - started
        result: dict[str, Any] = {"seconds": seconds, "rss_before_mib": before, "rss_peak_mib": max_rss_mib(),
                                  "count": len(targets), "pairs": [(t.policy_id, t.number) for t in targets]}
        del targets
        if traced:
            tracemalloc.start()
            started = time.perf_counter()
            again = select_targets(campaign_id, now)
            result["traced_seconds"] = time.perf_counter() - started
            result["traced_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            result["traced_count"] = len(again)
    return result


def step_plan(url: str, campaign_id: int, now: datetime) -> dict[str, Any]:
    """``plan_attempts`` (inserting every first attempt), then again (nothing new), each timed."""
    with made_current(url):
        get_campaign(campaign_id)
        before = max_rss_mib()
        runs = []
        for _ in range(2):
            started = time.perf_counter()
            try:
                counts = plan_attempts(campaign_id, now)
            except Exception as error:  # reported, not hidden: the benchmark says what failed
                runs.append({"seconds": time.perf_counter() - started, "error": f"{type(error).__name__}: "
                                                                               f"{str(error)[:400]}"})
                break
            runs.append({"seconds": time.perf_counter() - started, "selected": counts.selected,
                         "planned": counts.planned, "already_planned": counts.already_planned,
                         "rss_peak_mib": max_rss_mib()})
    return {"rss_before_mib": before, "runs": runs}


@contextmanager
def ticking(label: str, every: float = 15.0) -> Iterator[None]:
    """A progress line every ``every`` seconds while a long step runs elsewhere."""
    done, started = threading.Event(), time.monotonic()

    def tick() -> None:
        while not done.wait(every):
            log(f"  {label}: {time.monotonic() - started:.0f} s ...")

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def in_fresh_process(label: str, function: Callable[..., dict[str, Any]], *args: object) -> dict[str, Any]:
    log(f"{label} ...")
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool, ticking(label):
        return pool.submit(function, *args).result()


# -- checks -----------------------------------------------------------------------

def selection_problems(facts: BookFacts, pairs: list[tuple[int, str]], what: str) -> list[str]:
    """How ``pairs`` (policy id, number) differ from the generator's expected selection."""
    got = dict(pairs)
    problems = []
    if len(got) != len(pairs):
        problems.append(f"{what}: {len(pairs) - len(got)} policies twice")
    missing = [pid for pid in facts.expected if pid not in got]
    extra = [pid for pid in got if pid not in facts.expected]
    wrong = [pid for pid, number in got.items() if pid in facts.expected and facts.expected[pid] != number]
    for name, ids in (("missing", missing), ("not expected", extra), ("wrong number", wrong)):
        if ids:
            problems.append(f"{what}: {len(ids)} policies {name}, e.g. {ids[:5]}")
    return problems


def planned_pairs(campaign_id: int) -> list[tuple[int, str]]:
    with session_scope() as session:
        return [(row.policy_id, row.number) for row in session.execute(
            select(CampaignAttempt.policy_id, CampaignAttempt.number).where(
                CampaignAttempt.campaign_id == campaign_id, CampaignAttempt.attempt_no == 1))]


# -- main -------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time and measure a premium-reminder campaign's selection (select_targets) and planning "
                    "(plan_attempts: first attempts inserted) on a synthetic book, checking every answer.",
        epilog="Example: bench/campaign_select.py --policies 1000000 "
               "--database-url postgresql://postgres@127.0.0.1:5432/test --json var/bench/campaign-select.json")
    parser.add_argument("--policies", type=int, default=100_000,
                        help="policies in the book, held by 0.8 as many customers (default: 100000)")
    parser.add_argument("--database-url", default=None,
                        help="PostgreSQL URL to benchmark on, in a throwaway schema dropped afterwards "
                             "(default: a fresh SQLite file under var/bench/)")
    parser.add_argument("--seed", type=int, default=95519, help="random seed of the book (default: 95519)")
    parser.add_argument("--no-tracemalloc", action="store_true",
                        help="skip the second, traced select_targets (it runs about twice as slow)")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH",
                        help="also write every figure as JSON to PATH")
    return parser.parse_args(argv)


def markdown(report: dict[str, Any]) -> str:
    facts, select_step, plan_runs = report["book"], report["select"], report["plan"]["runs"]
    lines = [f"### {report['backend']}, {facts['policies']:,} policies, {facts['customers']:,} customers", "",
             f"Book written in {facts['load_seconds']:.1f} s; due within {DUE_WITHIN_DAYS} days "
             f"{facts['by_policy_kind'].get('due', 0):,}, in grace {facts['by_policy_kind'].get('grace', 0):,}, "
             f"expected targets {facts['expected']:,}.", "",
             "| step | seconds | selected | planned | already planned | peak RSS MiB (start) | traced peak MiB |",
             "|---|---:|---:|---:|---:|---:|---:|",
             f"| select_targets | {select_step['seconds']:.2f} | {select_step['count']:,} | - | - | "
             f"{select_step['rss_peak_mib']:.0f} ({select_step['rss_before_mib']:.0f}) | "
             f"{select_step.get('traced_peak_mib', 0):.0f} |"]
    for number, run in enumerate(plan_runs, 1):
        name = "plan_attempts" if number == 1 else "plan_attempts again"
        if "error" in run:
            lines.append(f"| {name} | {run['seconds']:.2f} | failed: {run['error'][:160]} | | | | |")
            continue
        lines.append(f"| {name} | {run['seconds']:.2f} | {run['selected']:,} | {run['planned']:,} | "
                     f"{run['already_planned']:,} | {run['rss_peak_mib']:.0f} "
                     f"({report['plan']['rss_before_mib']:.0f}) | - |")
    lines += ["", "Checks: " + ("all passed" if not report["problems"] else "; ".join(report["problems"]))]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    backend = "sqlite" if args.database_url is None else make_url(args.database_url).get_backend_name()
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    now, today = utc_now(), get_settings().today()
    with fresh_database(BENCH_DIR, "campaign-select-sqlite", args.database_url) as url, made_current(url):
        log(f"writing a book of {args.policies:,} policies into {redact(url).split('?')[0]} ...")
        facts = write_book(engine_for(url), args.policies, today, now, args.seed, log)
        log(f"book written in {facts.load_seconds:.1f} s: {facts.by_policy_kind}; "
            f"{len(facts.expected):,} expected targets")
        campaign = create_campaign(CAMPAIGN, "bench", now)
        start_campaign(campaign.id, now)
        select_step = in_fresh_process("select_targets", step_select, url, campaign.id, now, not args.no_tracemalloc)
        problems = selection_problems(facts, select_step.pop("pairs"), "select_targets")
        if "error" in select_step:
            problems.insert(0, f"select_targets failed: {select_step['error'][:200]}")
        if select_step.get("traced_count", select_step["count"]) != select_step["count"]:
            problems.append("the traced select_targets selected a different number")
        plan_step = in_fresh_process("plan_attempts (twice)", step_plan, url, campaign.id, now)
        runs = plan_step["runs"]
        expected = len(facts.expected)
        if any("error" in run for run in runs):
            problems.append(f"plan_attempts failed: {runs[-1]['error'][:200]}")
        else:
            if (runs[0]["selected"], runs[0]["planned"], runs[0]["already_planned"]) != (expected, expected, 0):
                problems.append(f"first plan: {runs[0]} where {expected} selected and planned were expected")
            if (runs[1]["planned"], runs[1]["already_planned"]) != (0, expected):
                problems.append(f"second plan: {runs[1]} where nothing new was expected")
            problems += selection_problems(facts, planned_pairs(campaign.id), "planned attempts")
    book = {"policies": facts.policies, "customers": facts.customers, "by_policy_kind": facts.by_policy_kind,
            "by_phone_kind": facts.by_phone_kind, "dnc_rows": facts.dnc_rows, "expected": len(facts.expected),
            "load_seconds": facts.load_seconds}
    report = {"machine": machine(), "backend": backend, "command": sys.argv, "book": book, "select": select_step,
              "plan": plan_step, "problems": problems}
    return publish(report, markdown(report), args.json)


if __name__ == "__main__":
    sys.exit(main())
