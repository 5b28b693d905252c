"""Many real calls at once: pjsua2 -> Asterisk 22 -> our FastAGI server, every one served.

Correctness under load, not speed: each of the simultaneous callers (numbers of their own,
unknown to the book) keys Wang's policy number and date of birth, hears the summary of the
policy and ends the call, and the call record our server wrote must say exactly that. bench/sip_calls.py runs
this test with more calls (``HOTLINE_LOAD_CALLS``) and has it write its timings
(``HOTLINE_LOAD_REPORT``) for docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import pytest

from ivr.db.models import Disposition
from ivr.testing.load_calls import CallOutcome, load_callers, place_simultaneous_calls, process_cpu_seconds

pytestmark = pytest.mark.acceptance

WANG_POLICY = "9900000021"  # customer AT000002, born 1990-07-01, one policy
WANG_BIRTH_DATE = "19900701"
CALLS = int(os.environ.get("HOTLINE_LOAD_CALLS", "20"))


def test_simultaneous_callers_are_each_served_their_own_call(hotline, sandbox):
    callers = load_callers(CALLS, WANG_POLICY, WANG_BIRTH_DATE)
    cpu_before = {"asterisk": process_cpu_seconds(sandbox.pid), "ivr agi": process_cpu_seconds(hotline.pid)}
    started = time.time()
    outcomes = place_simultaneous_calls(callers, sandbox.log_path)
    wall = time.time() - started
    cpu = {name: process_cpu_seconds(pid) - cpu_before[name]
           for name, pid in (("asterisk", sandbox.pid), ("ivr agi", hotline.pid))}

    failed = [f"{o.ani}: {o.error}" for o in outcomes if o.error]
    assert not failed, f"{len(failed)} of {CALLS} calls failed: {failed[:5]}"
    assert len({o.channel for o in outcomes}) == CALLS  # a channel each: no call was driven twice
    for outcome in outcomes:
        record = hotline.call_record(outcome.channel)
        assert record.ani == outcome.ani
        assert record.disposition == Disposition.SELF_SERVED, outcome
        assert record.verified is True
        assert record.customer_no == "AT000002"
        assert ("verification", "birth_date", "passed") in record.path
        assert ("summary", "policies", "1") in record.path

    report = os.environ.get("HOTLINE_LOAD_REPORT")
    if report:
        Path(report).write_text(json.dumps(_figures(outcomes, wall, cpu), indent=2))


def _figures(outcomes: list[CallOutcome], wall: float, cpu: dict[str, float]) -> dict[str, object]:
    """Timings for bench/sip_calls.py: setup (placed -> answered), call length, CPU."""
    setup = sorted(o.answered_at - o.placed_at for o in outcomes)
    length = sorted(o.ended_at - o.answered_at for o in outcomes)
    first_placed = min(o.placed_at for o in outcomes)
    return {
        "calls": len(outcomes), "served": len(outcomes), "wall_seconds": wall,
        "all_answered_after": max(o.answered_at for o in outcomes) - first_placed,
        "placed_spread": max(o.placed_at for o in outcomes) - first_placed,
        "overlap_seconds": min(o.ended_at for o in outcomes) - max(o.answered_at for o in outcomes),
        "setup_seconds": {"min": setup[0], "median": statistics.median(setup), "max": setup[-1]},
        "call_seconds": {"min": length[0], "median": statistics.median(length), "max": length[-1]},
        "cpu_seconds": cpu,
    }
