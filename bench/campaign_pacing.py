#!/usr/bin/env python3
"""Campaign pacing benchmark: dial N attempts of one running campaign capped at 20 calls a second,
with several dialer processes sharing the cap through the database; how close to the cap, and
is it ever passed?

Not a test: it measures. The script builds a fresh, migrated database (a SQLite
file under ``var/bench/``, or a throwaway schema in ``--database-url``) with an
all-due book of N customers (``bench/campaign_book.py``), one running campaign
(``calls_per_second`` the cap, ``max_channels`` 100, window 09:00-21:00) and its
N first attempts, written as ``plan_attempts`` writes them. It serves a
loopback AMI stand-in (``ivr.testing.fake_ami_server.FakeAmiServer``: ``FakeAsterisk``
over TCP) that answers each Originate at once with an ``OriginateResponse``
(busy, no answer or congestion; nothing is answered, so no call stays up) and
records each Originate's arrival time.

W dialer processes (spawned, as Celery's prefork workers are) each keep a
real ``AmiLink`` with ``QueueControl`` and run the real path for one attempt at
a time: ``ivr.dialer.dial.dial_attempt`` (dial-time rules, the campaign's
pacing slot by one conditional UPDATE, ``begin_attempt``, the Originate) then
``await_result`` (the result recorded, the retry planned). Two drivers:

* ``slots`` (default): a worker whose attempt is paced sleeps until the slot's
  ``retry_at`` and tries again. This is the pacing slot's own capacity.
* ``tick``: as ``hotline.campaign_tick`` does it: every ``campaign_tick_seconds``
  a tick takes ``pacing.batch_size`` due attempts and gives each a due time
  ``pacing.countdowns`` apart; a worker runs each at its due time, once; a
  paced attempt stays planned for a later tick (as the Celery task returns
  ``paced``).

Figures: achieved rate (Originates over the time from the first to the last),
the per-second histogram at the stand-in (wall-clock seconds), seconds over the
cap, the most Originates in any sliding second, and the delay from the slot
(the attempt's ``started_at``) to the Originate's arrival. The settings are
made so that dialing is allowed now: a fixed-offset zone where it is about
midday, no holidays.

See docs/benchmarks.md ("Outbound campaigns") for figures and how to read them.
"""

from __future__ import annotations

import argparse
import os
import queue
import random
import sys
import threading
import time
from collections import Counter
from datetime import datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from agi_load import BENCH_DIR, log, machine, percentile, redact  # noqa: E402  (bench/, beside us)
from campaign_book import BulkWriter, mobile, publish, utc_now, write_book  # noqa: E402

from ivr.config import get_settings, set_settings  # noqa: E402
from ivr.db.models import CampaignAttempt, Policy  # noqa: E402
from ivr.db.session import engine_for, session_scope  # noqa: E402
from ivr.domain.campaigns import CampaignSpec, create_campaign, start_campaign  # noqa: E402
from ivr.testing.databases import fresh_database, made_current  # noqa: E402
from ivr.testing.fake_ami import FakeAsterisk  # noqa: E402
from ivr.testing.fake_ami_server import FakeAmiServer  # noqa: E402

# OriginateResponse reasons the stand-in gives (queues.ORIGINATE_REASONS): busy, no answer, congestion.
REASON_MIX = ((0.6, 5), (0.3, 3), (0.1, 8))
MAX_CHANNELS = 100
PACED_SLEEP_CAP = 1.0  # a paced worker sleeps at most this long before trying again


def midday_zone(now: datetime) -> str:
    """A fixed-offset zone (``Etc/GMT-8`` is UTC+8) where it is between 12:00 and 13:00 now."""
    offset = (12 - now.hour) % 24
    offset = offset - 24 if offset > 14 else offset
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/UTC"


def bench_environment(url: str, ami_port: int, zone: str) -> dict[str, str]:
    """What a dialer process's settings must say: the database, the stand-in, dialing allowed now."""
    return {"IVR_DATABASE_URL": url, "IVR_ASTERISK_HOST": "127.0.0.1", "IVR_AMI_PORT": str(ami_port),
            "IVR_TIMEZONE": zone, "IVR_HOLIDAYS": ""}


# -- the dialer processes -------------------------------------------------------------

def dialer_process(environment: dict[str, str], work: Any, results: Any, driver: str, name: str,
                   stopping: Any) -> None:
    """One dialer worker: a real AmiLink, then attempts from ``work`` until None."""
    os.environ.update(environment)
    import logging
    logging.basicConfig(level=logging.WARNING)
    from ivr.dialer.dial import await_result, dial_attempt
    from ivr.telephony.ami_link import AmiLink
    from ivr.telephony.queues import QueueControl

    set_settings(None)  # loaded again from the environment above
    link = AmiLink(get_settings())
    link.start()
    deadline = time.monotonic() + 10
    while not link.status().connected and time.monotonic() < deadline:
        time.sleep(0.05)
    control = QueueControl(link)
    actions: Counter[str] = Counter()
    paced_tries, busy_seconds = 0, 0.0
    try:
        while not stopping.is_set() and (item := work.get()) is not None:
            due, attempt_id = item
            if driver == "tick":
                time.sleep(max(0.0, due - time.time()))
            while True:
                started = time.perf_counter()
                outcome = dial_attempt(attempt_id, utc_now(), control)
                if outcome.action == "originated":
                    await_result(outcome, control, utc_now)
                busy_seconds += time.perf_counter() - started
                if outcome.action != "paced" or driver == "tick":
                    actions[outcome.action + (f":{outcome.reason}" if outcome.action != "originated" else "")] += 1
                    break
                paced_tries += 1
                wait = (outcome.retry_at - utc_now()).total_seconds() if outcome.retry_at else 0.01
                time.sleep(min(PACED_SLEEP_CAP, max(0.0, wait)))
    finally:
        link.stop()
        results.put({"worker": name, "actions": dict(actions), "paced_tries": paced_tries,
                     "busy_seconds": busy_seconds})


# -- the campaign -------------------------------------------------------------------

def prepare(url: str, attempts: int, rate: float, seed: int, now: datetime) -> tuple[int, list[int], dict[str, int]]:
    """An all-due book, a running campaign, its first attempts; the stand-in's reason per number."""
    today = now.astimezone(get_settings().zone()).date()
    engine = engine_for(url)
    facts = write_book(engine, attempts, today, now, seed, log, all_due=True)
    campaign = create_campaign(CampaignSpec(name="bench-pacing", message="Your premium is due",
                                            due_within_days=30, window="09:00-21:00", max_channels=MAX_CHANNELS,
                                            calls_per_second=rate, max_attempts=3, min_gap_hours=4), "bench", now)
    with session_scope() as session:
        policies = session.execute(select(Policy.id, Policy.holder_id, Policy.next_due_date).order_by(Policy.id)).all()
    BulkWriter(engine, log).write(
        CampaignAttempt.__table__, ("id", "campaign_id", "policy_id", "customer_id", "cycle", "attempt_no", "number",
                                    "status", "skip_reason", "planned_at", "not_before"),
        ((n, campaign.id, row.id, row.holder_id, row.next_due_date, 1, facts.expected[row.id], "planned", "", now,
          now) for n, row in enumerate(policies, 1)), len(policies))
    BulkWriter(engine, log).finish([CampaignAttempt.__table__])
    start_campaign(campaign.id, now)
    rng = random.Random(seed)
    reasons = {}
    for customer_id in range(1, attempts + 1):
        draw = rng.random()
        reasons[mobile(customer_id)] = next((code for share, code in REASON_MIX if (draw := draw - share) < 0), 5)
    with session_scope() as session:
        ids = list(session.scalars(select(CampaignAttempt.id).where(CampaignAttempt.campaign_id == campaign.id)
                                   .order_by(CampaignAttempt.id)))
    return campaign.id, ids, reasons


# -- drivers --------------------------------------------------------------------------

def feed_slots(work: Any, attempt_ids: list[int], workers: int) -> None:
    for attempt_id in attempt_ids:
        work.put((0.0, attempt_id))
    for _ in range(workers):
        work.put(None)


def feed_ticks(work: Any, campaign_id: int, total: int, workers: int, server: FakeAmiServer,
               stop: threading.Event) -> int:
    """Every tick, what ``hotline.campaign_tick`` enqueues: due attempts pacing allows, countdowns apart."""
    from ivr.dialer import pacing
    from ivr.domain import campaign_dialing, campaigns
    tick = get_settings().campaign_tick_seconds
    ticks, next_tick = 0, time.time()
    while not stop.is_set() and len(server.originate_times) < total:
        now = utc_now()
        campaign = campaigns.get_campaign(campaign_id)
        count = pacing.batch_size(campaign.max_channels, campaign_dialing.dialing_count(campaign_id),
                                  campaign.calls_per_second, tick)
        due = campaign_dialing.due_attempts(campaign_id, now, count)
        if not due:
            break
        started = time.time()
        for attempt_id, countdown in zip(due, pacing.countdowns(len(due), campaign.calls_per_second)):
            work.put((started + countdown, attempt_id))
        ticks += 1
        next_tick += tick
        stop.wait(max(0.0, next_tick - time.time()))
    for _ in range(workers):
        work.put(None)
    return ticks


# -- figures --------------------------------------------------------------------------

def pacing_figures(arrivals: list[float], rate: float) -> dict[str, Any]:
    if len(arrivals) < 2:
        return {"originates": len(arrivals)}
    arrivals = sorted(arrivals)
    span = arrivals[-1] - arrivals[0]
    per_second = Counter(int(t) for t in arrivals)
    full = [per_second[s] for s in range(int(arrivals[0]) + 1, int(arrivals[-1]))]  # whole seconds only
    cap = int(rate) if rate == int(rate) else rate
    sliding, start = 0, 0
    for end, t in enumerate(arrivals):
        while t - arrivals[start] >= 1.0:
            start += 1
        sliding = max(sliding, end - start + 1)
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    achieved = (len(arrivals) - 1) / span if span else 0.0
    return {"originates": len(arrivals), "span_seconds": span, "achieved_rate": achieved,
            "vs_cap": achieved / rate, "max_per_second": max(per_second.values()),
            "seconds_over_cap": sum(1 for count in per_second.values() if count > cap),
            "whole_seconds": len(full), "per_second_histogram": dict(sorted(Counter(full).items())),
            "max_in_sliding_second": sliding,
            "per_second_series": [per_second[s] for s in range(int(arrivals[0]), int(arrivals[-1]) + 1)],
            "first_arrival_epoch": arrivals[0],
            "gap_ms": {"min": 1000 * min(gaps), "p1": 1000 * percentile(gaps, 0.01),
                       "p50": 1000 * percentile(gaps, 0.50), "p99": 1000 * percentile(gaps, 0.99),
                       "max": 1000 * max(gaps)}}


def targets(figures: dict[str, Any]) -> list[str]:
    """The issue's two targets, each "met" or "missed" with the figure."""
    within = figures.get("vs_cap", 0) >= 0.95
    over = figures.get("seconds_over_cap", 0)
    return [f"rate {'met' if within else 'missed'} ({100 * figures.get('vs_cap', 0):.1f} % of the cap)",
            f"cap {'met' if over == 0 else 'missed'} ({over} seconds over)"]


def slot_delays(campaign_id: int, arrivals: list[tuple[float, str]]) -> dict[str, float]:
    """Milliseconds from each attempt's slot (its started_at, the ``now`` the slot was taken with) to
    its Originate's arrival at the stand-in."""
    with session_scope() as session:
        started = dict(session.execute(select(CampaignAttempt.channel_id, CampaignAttempt.started_at).where(
            CampaignAttempt.campaign_id == campaign_id, CampaignAttempt.channel_id.is_not(None))).all())
    delays = [1000 * (at - started[channel].timestamp()) for at, channel in arrivals if channel in started]
    if not delays:
        return {}
    return {"count": len(delays), "p50": percentile(delays, 0.5), "p99": percentile(delays, 0.99),
            "max": max(delays)}


def markdown(report: dict[str, Any]) -> str:
    f = report["pacing"]
    lines = [f"### {report['backend']}, driver {report['driver']}, "
             f"{report['workers']} dialer processes, "
             f"cap {report['rate']:g}/s", "",
             "| originates | seconds | achieved /s | vs cap | max in a second | seconds over cap | "
             "max in any sliding second | gap p1 / p50 / p99 ms | slot -> Originate p50 / p99 ms |",
             "|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    gap, delay = f.get("gap_ms", {}), report.get("slot_delay_ms", {})
    lines.append(f"| {f['originates']:,} | {f.get('span_seconds', 0):.0f} | {f.get('achieved_rate', 0):.2f} | "
                 f"{100 * f.get('vs_cap', 0):.1f} % | {f.get('max_per_second', 0)} | {f.get('seconds_over_cap', 0)} | "
                 f"{f.get('max_in_sliding_second', 0)} | {gap.get('p1', 0):.1f} / {gap.get('p50', 0):.1f} / "
                 f"{gap.get('p99', 0):.1f} | {delay.get('p50', 0):.1f} / {delay.get('p99', 0):.1f} |")
    lines += ["", f"Originates per whole second (count: seconds): {f.get('per_second_histogram', {})}",
              f"Attempts by outcome: {report['outcomes']}; paced tries: {report['paced_tries']}",
              "Targets (within 5 % of the cap, no second over it): " + ", ".join(report["targets"]),
              "Checks: " + ("all passed" if not report["problems"] else "; ".join(report["problems"]))]
    return "\n".join(lines)


# -- main -----------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Pace a campaign's attempts through the real dialer (dial_attempt: rules, DB pacing slot, "
                    "begin_attempt, Originate over a real AmiLink) against a loopback AMI stand-in; report the "
                    "achieved rate and every second over the cap.",
        epilog="Example: bench/campaign_pacing.py --attempts 50000 --database-url "
               "postgresql://postgres@127.0.0.1:5432/test --json var/bench/campaign-pacing.json")
    parser.add_argument("--attempts", type=int, default=2_000, help="attempts to dial (default: 2000)")
    parser.add_argument("--rate", type=float, default=20.0, help="the campaign's calls_per_second (default: 20)")
    parser.add_argument("--workers", type=int, default=4, help="dialer processes (default: 4)")
    parser.add_argument("--driver", choices=("slots", "tick"), default="slots",
                        help="slots: a paced worker waits for its slot; tick: as hotline.campaign_tick enqueues, "
                             "a paced attempt waits for a later tick (default: slots)")
    parser.add_argument("--database-url", default=None,
                        help="PostgreSQL URL to benchmark on, in a throwaway schema dropped afterwards "
                             "(default: a fresh SQLite file under var/bench/)")
    parser.add_argument("--max-seconds", type=float, default=0.0,
                        help="stop feeding attempts after this many seconds and report what was dialled "
                             "(default: 0, dial them all)")
    parser.add_argument("--seed", type=int, default=95519, help="random seed (default: 95519)")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH",
                        help="also write every figure as JSON to PATH")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    backend = "sqlite" if args.database_url is None else make_url(args.database_url).get_backend_name()
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    now = utc_now()
    zone = midday_zone(now)
    set_settings(get_settings().replace(timezone=zone, holidays=""))
    with fresh_database(BENCH_DIR, "campaign-pacing-sqlite", args.database_url) as url, made_current(url), \
            FakeAmiServer(FakeAsterisk()) as server:
        log(f"preparing {args.attempts:,} attempts in {redact(url).split('?')[0]} (zone {zone}) ...")
        campaign_id, attempt_ids, reasons = prepare(url, args.attempts, args.rate, args.seed, now)
        server.asterisk.originate_reasons.update(reasons)
        context = get_context("spawn")
        work, results, stopping = context.Queue(), context.Queue(), context.Event()
        work.cancel_join_thread()  # work left in the queue (--max-seconds) must not hold up the exit
        environment = bench_environment(url, server.port, zone)
        workers = [context.Process(target=dialer_process, args=(environment, work, results, args.driver, f"w{n}",
                                                                    stopping),
                                   name=f"dialer-{n}") for n in range(args.workers)]
        for worker in workers:
            worker.start()
        log(f"{args.workers} dialer processes, driver {args.driver}, cap {args.rate:g}/s ...")
        stop, ticks = threading.Event(), 0
        if args.driver == "slots":
            feed_slots(work, attempt_ids, args.workers)
        else:
            feeder_result: dict[str, int] = {}
            feeder = threading.Thread(target=lambda: feeder_result.update(
                ticks=feed_ticks(work, campaign_id, args.attempts, args.workers, server, stop)), daemon=True)
            feeder.start()
        started, reports, cut_short = time.monotonic(), [], False
        while len(reports) < args.workers:
            try:
                reports.append(results.get(timeout=30))
            except queue.Empty:
                done = len(server.originate_times)
                elapsed = time.monotonic() - started
                log(f"  {done:,}/{args.attempts:,} originated in {elapsed:.0f} s ({done / elapsed:.2f}/s)")
                if not any(worker.is_alive() for worker in workers):
                    break
                if args.max_seconds and elapsed > args.max_seconds and not cut_short:
                    cut_short = True  # the rest of the work is dropped; the workers end after their attempt
                    stop.set()
                    stopping.set()
                    log(f"  --max-seconds {args.max_seconds:g} reached: stopping after the attempts in hand")
        stop.set()
        for worker in workers:
            worker.join(10)
        if args.driver == "tick":
            feeder.join(10)
            ticks = feeder_result.get("ticks", 0)
        arrivals = list(server.originate_times)
        delays = slot_delays(campaign_id, arrivals)
        with session_scope() as session:
            dialled = session.scalar(select(CampaignAttempt.id).where(
                CampaignAttempt.campaign_id == campaign_id, CampaignAttempt.attempt_no == 1,
                CampaignAttempt.status.in_(["planned", "dialing"])).limit(1))
    outcomes: Counter[str] = Counter()
    for report in reports:
        outcomes.update(report["actions"])
    figures = pacing_figures([at for at, _ in arrivals], args.rate)
    problems = []
    if len(reports) < args.workers:
        problems.append(f"{args.workers - len(reports)} dialer processes ended without a report")
    if figures["originates"] != args.attempts and not cut_short:
        problems.append(f"{figures['originates']} Originates for {args.attempts} attempts")
    if len({channel for _, channel in arrivals}) != len(arrivals):
        problems.append("an attempt was originated twice")
    if dialled is not None and not cut_short:
        problems.append("first attempts left planned or dialing")
    report = {"machine": machine(), "backend": backend, "command": sys.argv, "driver": args.driver,
              "workers": args.workers, "rate": args.rate,
              "cut_short_after_seconds": args.max_seconds if cut_short else None, "zone": zone, "ticks": ticks, "pacing": figures,
              "slot_delay_ms": delays, "outcomes": dict(outcomes),
              "paced_tries": sum(r["paced_tries"] for r in reports),
              "worker_busy_seconds": {r["worker"]: r["busy_seconds"] for r in reports}, "problems": problems,
              "targets": targets(figures)}
    return publish(report, markdown(report), args.json)


if __name__ == "__main__":
    sys.exit(main())
