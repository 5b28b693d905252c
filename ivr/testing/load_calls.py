"""Many real calls to the hotline at once: pjsua2 caller processes, a few calls each.

The pjsua2 wheel we install (pjsua2-python 2.15) is built with ``PJSUA_MAX_CALLS`` 4 and
``PJSUA_MAX_ACC`` 8: ``UaConfig.maxCalls`` can lower the number of calls, not raise it
(pjsua_init cuts it back to 4, and the fifth ``makeCall`` fails with PJ_ETOOMANY), and the
library lives once per process. So N simultaneous calls take ``ceil(N / 4)`` caller
processes, each with its own :class:`~ivr.testing.sip_caller.SipCaller` driving its calls
from one thread per call. The processes start pjsua2 first, then wait at a barrier and
place their calls together.

Every caller has a number of its own that the book does not know: the channel of each call
is found by that number in the AGI environment Asterisk logs (calls placed together cannot
be told apart by order), and the caller is asked for a policy number, which exercises
recognition, look-up and verification on every call. Each call: English, hear my policies,
the policy number, the date of birth, the summary of the policies, back, end the call.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ivr.testing.asterisk import LogWatcher
from ivr.testing.ivr_call import IvrCall

log = logging.getLogger(__name__)

CALLS_PER_PROCESS = 4  # PJSUA_MAX_CALLS of the pjsua2 wheel
HOTLINE = "95519"
FIRST_NUMBER = 13700090000  # unknown to tests/acceptance/book: no caller is recognised by ANI


@dataclass(frozen=True)
class LoadCaller:
    """One caller of a batch: their own number, and the policy and date of birth they key."""

    ani: str
    policy_no: str
    birth_date: str  # YYYYMMDD, as keyed


@dataclass(frozen=True)
class CallOutcome:
    """What one caller process saw of its call; times are ``time.time()`` seconds."""

    ani: str
    channel: str
    placed_at: float
    answered_at: float
    ended_at: float
    error: str = ""


def load_callers(count: int, policy_no: str, birth_date: str) -> list[LoadCaller]:
    """``count`` callers with numbers of their own, all holding the same customer's policy."""
    return [LoadCaller(str(FIRST_NUMBER + i), policy_no, birth_date) for i in range(count)]


def place_simultaneous_calls(callers: list[LoadCaller], log_path: Path,
                             timeout: float = 240.0) -> list[CallOutcome]:
    """Place every caller's call at once and drive each through the policy read-out.

    Returns one outcome per caller, in the callers' order; a call that failed (not
    answered, a prompt that never came, a caller process that died) has ``error`` set.
    """
    context = multiprocessing.get_context("spawn")  # pjsua2 must not be forked with its thread
    groups = [callers[i:i + CALLS_PER_PROCESS] for i in range(0, len(callers), CALLS_PER_PROCESS)]
    barrier = context.Barrier(len(groups))
    results = context.Queue()
    processes = [context.Process(target=_caller_process, args=(group, str(log_path), barrier, results),
                                 name=f"sip-callers-{n}", daemon=True)
                 for n, group in enumerate(groups)]
    for process in processes:
        process.start()
    outcomes: dict[str, CallOutcome] = {}
    deadline = time.monotonic() + timeout
    while len(outcomes) < len(callers) and time.monotonic() < deadline:
        try:
            outcome = results.get(timeout=1.0)
        except queue.Empty:
            if not any(p.is_alive() for p in processes):
                break
            continue
        outcomes[outcome.ani] = outcome
    for process in processes:
        process.join(10)
        if process.is_alive():
            process.kill()
    return [outcomes.get(c.ani) or CallOutcome(c.ani, "", 0.0, 0.0, 0.0, "no outcome: its caller process "
                                               "died or the batch timed out")
            for c in callers]


def _caller_process(group: list[LoadCaller], log_path: str, barrier: threading.Barrier,
                    results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """One caller process: pjsua2 up, wait for the others, then one thread per call."""
    from ivr.testing.sip_caller import SipCaller

    os.environ.setdefault("IVR_PJSUA_LOG_LEVEL", "0")
    with SipCaller() as sip_caller:
        barrier.wait(120)
        threads = [threading.Thread(target=lambda c=caller: results.put(_call(sip_caller, c, Path(log_path))))
                   for caller in group]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def _call(sip_caller, caller: LoadCaller, log_path: Path) -> CallOutcome:  # type: ignore[no-untyped-def]
    """Place and drive one call; never raises (the failure is the outcome)."""
    placed = answered = 0.0
    channel = ""
    call: IvrCall | None = None
    try:
        watcher = LogWatcher(log_path)
        placed = time.time()
        sip = sip_caller.call(HOTLINE, ani=caller.ani)
        sip.wait_answered(30)
        answered = time.time()
        call = IvrCall.by_caller_number(sip, watcher, caller.ani)
        channel = call.channel
        call.press("language_choice", "2", "en")
        call.press("main_menu", "1", "en")
        call.key_in("enter_policy_number", caller.policy_no)
        call.key_in("enter_birth_date", caller.birth_date)
        call.press("choose_policy_key", "9")  # heard the summary: back
        call.press("main_menu", "9")  # end the call
        call.wait_end(60)
    except Exception as exc:  # reported with the call, and the call hung up
        if call is not None:
            _hang_up_quietly(call)
        return CallOutcome(caller.ani, channel, placed, answered, time.time(), f"{type(exc).__name__}: {exc}")
    return CallOutcome(caller.ani, channel, placed, answered, time.time())


def _hang_up_quietly(call: IvrCall) -> None:
    """Hang up a failed call so that it does not hold a channel; its failure is already reported."""
    try:
        call.hang_up()
    except Exception as exc:  # the call may have ended by itself meanwhile
        log.info("could not hang up %s: %s", call.channel, exc)


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
