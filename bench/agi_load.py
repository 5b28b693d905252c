#!/usr/bin/env python3
"""AGI load benchmark: many simulated Asterisk channels against a real ``ivr agi``.

Not a test: it measures. The script builds its own database (SQLite under
``var/bench/`` by default, or a private schema in ``--database-url`` that it
drops afterwards), migrates it, loads the demo book with ``ivr demo-data``,
starts ``ivr agi`` on a free port and then plays Asterisk for N simultaneous
channels of the hotline (extension 95519): each caller is a real customer of
that database, recognised by the mobile number in their caller ID, who keys
their date of birth and hears their policies.

The client speaks the protocol as Asterisk 22's res_agi does: the FastAGI
environment block (``agi_network``, ``agi_network_script``, then
``setup_env``'s lines up to ``agi_threadid`` and a blank line), then one reply
per command in Asterisk's wording. It answers instantly (no audio is played),
so every millisecond measured is the server's: the *think time* of a command
is the time from our previous reply to the arrival of that command.

Every session is checked: it must end with ``SET VARIABLE "IVR_OUTCOME"
"done"``, and what it spoke (policy numbers, statuses, due dates, amounts)
must be what the database holds for that customer.

See docs/benchmarks.md for figures and how to read them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from datetime import time as clock_time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from ivr.db.migrate import upgrade  # noqa: E402
from ivr.db.models import Customer, CustomerPhone, PhoneKind, Policy, PolicyStatus  # noqa: E402
from ivr.domain.demo_data import DEFAULT_CUSTOMERS  # noqa: E402
from ivr.domain.routing import ROUND_THE_CLOCK  # noqa: E402
from ivr.testing.load_calls import process_cpu_seconds  # noqa: E402

BENCH_DIR = PROJECT_ROOT / "var" / "bench"
FLOW = "hotline"
HOTLINE_EXTENSION = "95519"
PROMPT_PREFIX = "hotline/en/"
BIRTH_DATE_PROMPT = "enter_birth_date"
POLICY_NUMBER_PROMPT = "enter_policy_number"
# The caller's way through the menus: hear my policies (1), each policy in detail (1, 2 ...),
# back (9), end the call (9).
MAIN_MENU_PROMPT, HEAR_POLICIES, END_CALL = "main_menu", "1", "9"
POLICY_MENU_PROMPT, POLICY_MENU_LISTING, BACK = "choose_policy_key", "detail_menu", "9"
MAX_LISTED = 8  # the detail menu's keys 1-8
OUTCOME_DONE = 'SET VARIABLE "IVR_OUTCOME" "done"'
END_OF_SESSION = "(close)"  # pseudo-verb: our last reply until the server hangs up
PAYABLE = (PolicyStatus.IN_FORCE, PolicyStatus.GRACE)
STATUS_ORDER = {PolicyStatus.IN_FORCE: 0, PolicyStatus.GRACE: 1,
                PolicyStatus.LAPSED: 2, PolicyStatus.TERMINATED: 3}
# Replies a la res_agi.c for the commands whose result does not depend on the caller.
FIXED_REPLIES = {
    "ANSWER": "200 result=0",  # ast_answer() returns 0 on success
    "SET VARIABLE": "200 result=1",
    "SAY NUMBER": "200 result=0",
    "SAY DIGITS": "200 result=0",
    "SAY DATETIME": "200 result=0",
    "SAY ALPHA": "200 result=0",
    "SAY DATE": "200 result=0",
    "SAY TIME": "200 result=0",
    "GET VARIABLE": "200 result=0",
    "VERBOSE": "200 result=1",
    "NOOP": "200 result=0",
    "HANGUP": "200 result=1",
}
SPOKEN_VERBS = ("SAY NUMBER", "SAY DIGITS", "SAY DATETIME")
# Commands that take the caller's time on a real channel: a prompt plays, keys are awaited.
PLAYING_VERBS = {"STREAM FILE", "GET DATA", *SPOKEN_VERBS, "SAY ALPHA", "SAY DATE", "SAY TIME"}


# -- the simulated callers ------------------------------------------------------

@dataclass(frozen=True)
class Caller:
    """A customer of the benchmark database and what the hotline must tell them."""

    customer_id: int
    name: str
    ani: str  # national form, as a Chinese trunk presents it: 13800138000
    birth_date: str  # YYYYMMDD, what they key
    policy_no: str  # one of theirs, should the server ask for one
    expected_readout: tuple[str, ...]
    listed: int  # how many of their policies the detail menu offers (keys 1..listed)


def expected_readout(policies: list[Policy]) -> tuple[str, ...]:
    """What the policy read-out must speak, as normalised command lines.

    Written from the rules in the issue (each policy the detail menu offers, heard
    in turn; in force first, then by number; due date and amount only when a
    premium is payable), not by calling the flow's code, so that a regression
    there shows up here.
    """
    ordered = sorted(policies, key=lambda p: (STATUS_ORDER[p.status], p.policy_no))[:MAX_LISTED]
    spoken = []
    for policy in ordered:
        spoken.append(f"SAY DIGITS {policy.policy_no}")
        spoken.append(f"STREAM FILE status_{policy.status.value}")
        if policy.status in PAYABLE and policy.next_due_date is not None:
            noon = datetime.combine(policy.next_due_date, clock_time(12), tzinfo=timezone.utc)
            spoken.append(f"SAY DATETIME {int(noon.timestamp())}")
            fen_total = int((Decimal(policy.premium) * 100).quantize(Decimal("1"), ROUND_HALF_UP))
            yuan, fen = divmod(fen_total, 100)
            spoken.append(f"SAY NUMBER {yuan}")
            if fen:
                spoken.append(f"SAY DIGITS {fen:02d}")
    return tuple(spoken)


def pick_callers(database_url: str, limit: int) -> list[Caller]:
    """English-speaking customers whose mobile number is on no other customer's record
    (Mandarin callers hear numbers and dates as zh_ digit prompts, not SAY commands,
    which this client does not decode)."""
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            sole = (select(CustomerPhone.number)
                    .group_by(CustomerPhone.number)
                    .having(func.count(func.distinct(CustomerPhone.customer_id)) == 1))
            rows = session.execute(
                select(CustomerPhone.customer_id, func.min(CustomerPhone.number))
                .where(CustomerPhone.kind == PhoneKind.MOBILE, CustomerPhone.extension == "",
                       CustomerPhone.number.like("+861%"), CustomerPhone.number.in_(sole))
                .group_by(CustomerPhone.customer_id)
                .order_by(CustomerPhone.customer_id).limit(limit)).all()
            numbers = dict(rows)
            customers = session.execute(select(Customer.id, Customer.name, Customer.birth_date)
                                        .where(Customer.id.in_(numbers), Customer.language == "en")).all()
            policies: dict[int, list[Policy]] = defaultdict(list)
            for policy in session.scalars(select(Policy).where(Policy.holder_id.in_(numbers))):
                policies[policy.holder_id].append(policy)
    finally:
        engine.dispose()
    callers = [Caller(customer_id=cid, name=name, ani=numbers[cid].removeprefix("+86"),
                      birth_date=f"{birth:%Y%m%d}",
                      policy_no=min((p.policy_no for p in policies[cid]), default=""),
                      expected_readout=expected_readout(policies[cid]),
                      listed=min(len(policies[cid]), MAX_LISTED))
               for cid, name, birth in customers]
    return sorted(callers, key=lambda c: c.customer_id)


# -- one session, played as Asterisk -------------------------------------------

@dataclass
class SessionResult:
    caller: Caller
    commands: list[str] = field(default_factory=list)
    think_times: list[tuple[str, float]] = field(default_factory=list)  # (verb, seconds)
    duration: float = 0.0
    error: str = ""

    @property
    def outcome_done(self) -> bool:
        outcomes = [c for c in self.commands if c.startswith('SET VARIABLE "IVR_OUTCOME"')]
        return bool(outcomes) and outcomes[-1] == OUTCOME_DONE

    def readout(self) -> tuple[str, ...]:
        """What was spoken after each policy was chosen in the detail menu, up to the next
        listing of the menu; normalised like ``expected_readout``."""
        spoken: list[str] = []
        reading = False
        for command in self.commands:
            verb, args = split_command(command)
            prompt = prompt_name(args[0])
            if verb == "GET DATA":
                reading = prompt == POLICY_MENU_PROMPT
            elif verb == "STREAM FILE" and prompt == POLICY_MENU_LISTING:
                reading = False
            elif reading and verb in SPOKEN_VERBS:
                spoken.append(f"{verb} {args[0]}")
            elif reading and verb == "STREAM FILE" and prompt.startswith("status_"):
                spoken.append(f"{verb} {prompt}")
        return tuple(spoken)

    def problem(self) -> str:
        """Why this session counts as an error, or ''."""
        if self.error:
            return self.error
        if not self.outcome_done:
            last = next((c for c in reversed(self.commands) if "IVR_OUTCOME" in c), "no outcome set")
            return f"did not end with IVR_OUTCOME=done: {last}"
        if self.readout() != self.caller.expected_readout:
            return (f"read-out differs from the database for customer {self.caller.customer_id}: "
                    f"heard {self.readout()}, expected {self.caller.expected_readout}")
        return ""


def split_command(line: str) -> tuple[str, list[str]]:
    """``SAY DIGITS "123" "0"`` -> ("SAY DIGITS", ["123", "0"]): the verb is the
    leading upper-case words (at most two), the rest are arguments unquoted."""
    try:
        words = shlex.split(line, posix=True)
    except ValueError:
        words = line.split()
    verb_words: list[str] = []
    while words and len(verb_words) < 2 and words[0].isalpha() and words[0].isupper():
        verb_words.append(words.pop(0))
    return " ".join(verb_words) or "(empty)", words + [""]


def agi_environment(caller: Caller, unique_id: str, port: int, thread_id: int) -> bytes:
    """The block Asterisk 22 sends first on a FastAGI connection (res_agi.c:
    launch_netscript, then setup_env), for a PJSIP call to the hotline."""
    lines = [
        ("agi_network", "yes"),
        ("agi_network_script", FLOW),
        ("agi_request", f"agi://127.0.0.1:{port}/{FLOW}"),
        ("agi_channel", f"PJSIP/trunk-{thread_id:08x}"),
        ("agi_language", "en"),
        ("agi_type", "PJSIP"),
        ("agi_uniqueid", unique_id),
        ("agi_version", "22.5.0"),
        ("agi_callerid", caller.ani),
        ("agi_calleridname", caller.name),
        ("agi_callingpres", "0"),
        ("agi_callingani2", "0"),
        ("agi_callington", "0"),
        ("agi_callingtns", "0"),
        ("agi_dnid", HOTLINE_EXTENSION),
        ("agi_rdnis", "unknown"),
        ("agi_context", "hotline"),
        ("agi_extension", HOTLINE_EXTENSION),
        ("agi_priority", "3"),
        ("agi_enhanced", "0.0"),
        ("agi_accountcode", ""),
        ("agi_threadid", str(140000000000000 + thread_id)),
    ]
    return ("".join(f"{key}: {value}\n" for key, value in lines) + "\n").encode("utf-8")


def prompt_name(argument: str) -> str:
    """``hotline/en/main_menu`` (or the last of ``a&b``) -> ``main_menu``."""
    return argument.split("&")[-1].rsplit("/", 1)[-1]


def reply_to(command: str, caller: Caller, menus: dict[str, int]) -> str:
    """Asterisk's reply line to one command, the caller keying what a customer would;
    ``menus`` counts the times each menu was answered in this call."""
    verb, args = split_command(command)
    if verb == "STREAM FILE":
        return "200 result=0 endpos=12000"  # played to the end, nothing pressed
    if verb == "GET DATA":
        prompt = prompt_name(args[0])
        answered = menus.get(prompt, 0)
        menus[prompt] = answered + 1
        if prompt == BIRTH_DATE_PROMPT:
            keyed = caller.birth_date
        elif prompt == POLICY_NUMBER_PROMPT:
            keyed = caller.policy_no
        elif prompt == MAIN_MENU_PROMPT:
            keyed = HEAR_POLICIES if answered == 0 else END_CALL
        elif prompt == POLICY_MENU_PROMPT:
            keyed = str(answered + 1) if answered < caller.listed else BACK
        else:
            return "200 result= (timeout)"
        max_digits = int(args[2]) if args[2].isdigit() else 0
        # app_getdata stops at max_digits; with fewer keyed, the caller presses '#'.
        return f"200 result={keyed} (timeout)" if len(keyed) >= max_digits > 0 else f"200 result={keyed}"
    if verb in FIXED_REPLIES:
        return FIXED_REPLIES[verb]
    return "510 Invalid or unknown command"


class Concurrency:
    """How many sessions are open at once, and the most there were."""

    def __init__(self) -> None:
        self.open = 0
        self.peak = 0

    def enter(self) -> None:
        self.open += 1
        self.peak = max(self.peak, self.open)

    def leave(self) -> None:
        self.open -= 1


async def run_session(caller: Caller, unique_id: str, port: int, thread_id: int,
                      timeout: float, hold: float = 0.0, concurrency: Concurrency | None = None) -> SessionResult:
    """One call. ``hold`` > 0: each reply to a command that plays audio or waits for keys comes
    that many seconds later (0.5x to 1.5x, at random), as the prompt would take to play."""
    result = SessionResult(caller)
    started = time.perf_counter()
    writer = None
    jitter = random.Random(thread_id)
    menus: dict[str, int] = {}
    if concurrency is not None:
        concurrency.enter()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
        writer.write(agi_environment(caller, unique_id, port, thread_id))
        await writer.drain()
        sent_at = time.perf_counter()
        while True:
            raw = await asyncio.wait_for(reader.readline(), timeout)
            arrived = time.perf_counter()
            if not raw:
                result.think_times.append((END_OF_SESSION, arrived - sent_at))
                break
            command = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            result.commands.append(command)
            verb, _ = split_command(command)
            result.think_times.append((verb, arrived - sent_at))
            if hold and verb in PLAYING_VERBS:
                await asyncio.sleep(hold * jitter.uniform(0.5, 1.5))
            writer.write((reply_to(command, caller, menus) + "\n").encode("utf-8"))
            await writer.drain()
            sent_at = time.perf_counter()
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
        result.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    finally:
        if writer is not None:
            writer.close()
        if concurrency is not None:
            concurrency.leave()
        result.duration = time.perf_counter() - started
    return result


# -- one load level -------------------------------------------------------------

@dataclass
class LevelReport:
    server: str
    sessions_wanted: int
    rounds: int
    hold_ms: float
    peak_simultaneous: int
    sessions: int
    wall_seconds: float
    commands: int
    errors: int
    error_samples: list[str]
    think_ms: dict[str, dict[str, float]]  # verb -> {count, p50, p99}
    session_ms: dict[str, float]
    server_cpu_seconds: float
    client_cpu_seconds: float

    @property
    def sessions_per_second(self) -> float:
        return self.sessions / self.wall_seconds

    @property
    def server_cpu_us_per_command(self) -> float:
        return 1e6 * self.server_cpu_seconds / max(self.commands, 1)

    @property
    def commands_per_second(self) -> float:
        return self.commands / self.wall_seconds


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, int(-(-fraction * len(ordered) // 1)))
    return ordered[min(rank, len(ordered)) - 1]


def summarise(values: list[float]) -> dict[str, float]:
    return {"count": len(values), "p50": 1000 * percentile(values, 0.50),
            "p99": 1000 * percentile(values, 0.99), "max": 1000 * max(values)}


class UniqueIds:
    """Asterisk-style ``<epoch>.<sequence>`` ids, unique for the whole run."""

    def __init__(self) -> None:
        self._epoch = int(time.time())
        self._next = 0

    def next(self) -> tuple[str, int]:
        self._next += 1
        return f"{self._epoch}.{self._next}", self._next


async def run_level(slots: int, rounds: int, callers: list[Caller], port: int, ids: UniqueIds,
                    timeout: float, hold: float = 0.0, ramp: float = 0.0
                    ) -> tuple[list[SessionResult], float, int]:
    """``slots`` simultaneous channels, each placing ``rounds`` calls back to back; channel i
    starts ``i * ramp / slots`` seconds in (calls arrive over the ramp, not in one instant).
    Returns the sessions, the wall time and the most sessions that were open at once."""
    concurrency = Concurrency()

    async def slot(index: int) -> list[SessionResult]:
        await asyncio.sleep(index * ramp / slots)
        results = []
        for round_no in range(rounds):
            caller = callers[(index * rounds + round_no) % len(callers)]
            unique_id, thread_id = ids.next()
            results.append(await run_session(caller, unique_id, port, thread_id, timeout, hold, concurrency))
        return results

    started = time.perf_counter()
    per_slot = await asyncio.gather(*(slot(i) for i in range(slots)))
    wall = time.perf_counter() - started
    return [r for results in per_slot for r in results], wall, concurrency.peak


def level_report(server: str, slots: int, rounds: int, hold_ms: float, peak: int, results: list[SessionResult],
                 wall: float, server_cpu: float, client_cpu: float) -> LevelReport:
    by_verb: dict[str, list[float]] = defaultdict(list)
    for result in results:
        for verb, seconds in result.think_times:
            by_verb[verb].append(seconds)
    every_command = [s for verb, values in by_verb.items() if verb != END_OF_SESSION for s in values]
    by_verb_summary = {"(all commands)": summarise(every_command)} if every_command else {}
    by_verb_summary.update({verb: summarise(values) for verb, values in sorted(by_verb.items())})
    problems = [p for p in (r.problem() for r in results) if p]
    return LevelReport(
        server=server, sessions_wanted=slots, rounds=rounds, hold_ms=hold_ms, peak_simultaneous=peak,
        sessions=len(results), wall_seconds=wall,
        commands=sum(len(r.commands) for r in results), errors=len(problems),
        error_samples=sorted(set(problems))[:5], think_ms=by_verb_summary,
        session_ms=summarise([r.duration for r in results]),
        server_cpu_seconds=server_cpu, client_cpu_seconds=client_cpu)


# -- the database and the server under test -------------------------------------

def private_schema_url(url: str, schema: str) -> str:
    """The same PostgreSQL database with ``schema`` first on the search path."""
    return make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}) \
        .render_as_string(hide_password=False)


@contextmanager
def benchmark_database(url: str | None, label: str, customers: int) -> Iterator[str]:
    """A migrated database with the demo book; PostgreSQL gets a private schema,
    dropped afterwards, so the database is left as it was found."""
    if url is None:
        BENCH_DIR.mkdir(parents=True, exist_ok=True)
        path = BENCH_DIR / f"{label}.db"
        for stale in BENCH_DIR.glob(f"{label}.db*"):
            stale.unlink()
        url = f"sqlite:///{path}"
        prepare_database(url, customers)
        yield url
        return
    if make_url(url).get_backend_name() != "postgresql":
        prepare_database(url, customers)
        yield url
        return
    schema = f"ivr_bench_{os.getpid()}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        scoped = private_schema_url(url, schema)
        prepare_database(scoped, customers)
        yield scoped
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def prepare_database(url: str, customers: int) -> None:
    """Migrate, then load the demo book with ``ivr demo-data`` as an operator would."""
    log(f"migrating {redact(url)} and loading a demo book of {customers} customers ...")
    upgrade(url)
    subprocess.run([*ivr_command(), "demo-data", "--customers", str(customers)],
                   env=server_environment(url), check=True, stdout=subprocess.DEVNULL, cwd=PROJECT_ROOT)


def ivr_command() -> list[str]:
    """``ivr`` of this checkout (run from PROJECT_ROOT): the installed script may be another's."""
    return [sys.executable, "-m", "ivr.cli"]


def server_environment(url: str) -> dict[str, str]:
    """The servers' settings: the benchmark's database, warnings only, and open round the clock
    (a call outside opening hours is offered a callback instead of its policies)."""
    return {**os.environ, "IVR_DATABASE_URL": url, "IVR_LOG_LEVEL": "WARNING",
            "IVR_OPENING_HOURS": ROUND_THE_CLOCK, "IVR_HOLIDAYS": ""}


#: The FastAGI servers this benchmark can compare, by name: the command that serves on a port.
SERVERS = {
    "ivr": lambda port: [*ivr_command(), "agi", "--port", str(port)],
    "panoramisk": lambda port: [sys.executable, str(PROJECT_ROOT / "bench" / "panoramisk_agi.py"),
                                "--port", str(port)],
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def agi_server(url: str, log_path: Path, server: str = "ivr") -> Iterator[tuple[int, int]]:
    """A FastAGI server of ``SERVERS`` on a free port; yields (port, pid) once it accepts connections."""
    port = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as server_log:
        process = subprocess.Popen(SERVERS[server](port),
                                   env=server_environment(url), stdout=server_log,
                                   stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)
        try:
            wait_for_port(port, process)
            yield port, process.pid
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float = 30.0) -> None:
    """Until the server listens on ``port``. Read from /proc/net/tcp, not by connecting: a
    connection closed before the AGI environment ends sends panoramisk 1.4's handler into an
    endless loop (its ``reader.read()`` returns b'' at end of stream and it reads again)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode} before listening")
        if is_listening(port):
            return
        time.sleep(0.1)
    raise RuntimeError(f"the server did not listen on port {port} within {seconds:.0f}s")


def is_listening(port: int) -> bool:
    listen_state = "0A"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}") and fields[3] == listen_state:
            return True
    return False


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def raise_open_file_limit(wanted: int) -> None:
    """Each simultaneous session is a socket here and in the server (which inherits the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


# -- output ---------------------------------------------------------------------

def markdown(reports: list[LevelReport], backend: str) -> str:
    lines = [f"### {backend}", "",
             "| N | server | hold ms | sessions | peak open | wall s | sessions/s | AGI commands/s "
             "| think p50 ms | think p99 ms | session p50 ms | session p99 ms | server CPU µs/command "
             "| server CPU ms/session | client CPU ms/session | dropped |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in reports:
        every = r.think_ms.get("(all commands)", {"p50": 0.0, "p99": 0.0})
        lines.append(
            f"| {r.sessions_wanted} | {r.server} | {r.hold_ms:.0f} | {r.sessions} | {r.peak_simultaneous} "
            f"| {r.wall_seconds:.1f} | {r.sessions_per_second:.1f} "
            f"| {r.commands_per_second:.0f} | {every['p50']:.2f} | {every['p99']:.2f} "
            f"| {r.session_ms['p50']:.0f} | {r.session_ms['p99']:.0f} | {r.server_cpu_us_per_command:.0f} "
            f"| {1000 * r.server_cpu_seconds / max(r.sessions, 1):.1f} "
            f"| {1000 * r.client_cpu_seconds / max(r.sessions, 1):.1f} | {r.errors} |")
    verbs = sorted({v for r in reports for v in r.think_ms if v != "(all commands)"})
    lines += ["", "Server think time per command verb, p50 / p99 in ms "
              "(time from our reply to the server's next command; "
              f"`{END_OF_SESSION}` is the last reply until the server hangs up):", "",
              "| verb | per session | " + " | ".join(f"N={r.sessions_wanted} {r.server}" for r in reports) + " |",
              "|---|---:|" + "---:|" * len(reports)]
    for verb in verbs:
        first = next(r for r in reports if verb in r.think_ms)
        per_session = first.think_ms[verb]["count"] / max(first.sessions, 1)
        cells = []
        for r in reports:
            figures = r.think_ms.get(verb)
            cells.append(f"{figures['p50']:.2f} / {figures['p99']:.2f}" if figures else "-")
        lines.append(f"| {verb} | {per_session:.1f} | " + " | ".join(cells) + " |")
    problems = [(r.sessions_wanted, r.server, p) for r in reports for p in r.error_samples]
    if problems:
        lines += ["", "Dropped sessions (first kinds per level):", ""]
        lines += [f"- N={n} {server}: {p[:300]}" for n, server, p in problems]
    return "\n".join(lines)


def redact(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- main -----------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Load-test the FastAGI server (ivr agi) with simulated Asterisk channels "
                    "running the hotline policy flow; prints a Markdown table.",
        epilog="Example: bench/agi_load.py --sessions 1 50 500 --rounds 4 --json var/bench/sqlite.json")
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 50, 500], metavar="N",
                        help="simultaneous sessions per level (default: 1 50 500)")
    parser.add_argument("--rounds", type=int, default=4,
                        help="calls each simultaneous channel places back to back (default: 4)")
    parser.add_argument("--min-calls", type=int, default=50,
                        help="more rounds where N is small, so that each level places at least this "
                             "many calls (default: 50)")
    parser.add_argument("--database-url", default=None,
                        help="SQLAlchemy URL to benchmark on; PostgreSQL gets a private schema that is "
                             "dropped afterwards (default: a fresh SQLite file under var/bench/)")
    parser.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS,
                        help=f"size of the demo book to load (default: {DEFAULT_CUSTOMERS}); callers "
                             "are its customers with a mobile number of their own, reused in turn")
    parser.add_argument("--warmup", type=int, default=5,
                        help="untimed sessions before the first level (default: 5)")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds to wait for any one server line before failing a session")
    parser.add_argument("--servers", nargs="+", choices=sorted(SERVERS), default=["ivr"],
                        help="FastAGI servers to measure, each level on each in turn, same client and book: "
                             "ivr (ivr agi) and panoramisk (bench/panoramisk_agi.py, needs the bench extra)")
    parser.add_argument("--hold-ms", type=float, default=0.0,
                        help="answer each command that plays audio or awaits keys this many ms later "
                             "(0.5x-1.5x at random), as a prompt would take; 0 (default): at once, "
                             "which measures capacity")
    parser.add_argument("--ramp", type=float, default=0.0,
                        help="seconds over which the N channels start (default 0: all at once)")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH",
                        help="also write every figure as JSON to PATH")
    return parser.parse_args(argv)


def machine() -> dict[str, str]:
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), "?")
    mem_kb = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), 0)
    return {"cpus": str(os.cpu_count()), "cpu_model": model, "ram_gib": f"{mem_kb / 2**20:.1f}",
            "python": platform.python_version(), "kernel": platform.release()}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM (timeout, a terminal closing) unwinds like Ctrl-C, so the servers we started are stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    raise_open_file_limit(4 * max(args.sessions) + 256)
    backend = "sqlite" if args.database_url is None else make_url(args.database_url).get_backend_name()
    reports: list[LevelReport] = []
    with benchmark_database(args.database_url, f"agi-load-{backend}", args.customers) as url, ExitStack() as stack:
        callers = pick_callers(url, args.customers)
        if not callers:
            raise SystemExit("the demo book has no customer with a mobile number of their own")
        log(f"{len(callers)} English-speaking callers recognised by their own mobile number")
        ids = UniqueIds()
        servers = {name: stack.enter_context(agi_server(url, BENCH_DIR / f"agi-server-{name}-{backend}.log", name))
                   for name in args.servers}
        for port, _ in servers.values():
            if args.warmup:
                asyncio.run(run_level(1, args.warmup, callers, port, ids, args.timeout))
        for slots in args.sessions:
            rounds = max(args.rounds, -(-args.min_calls // slots))
            for name, (port, pid) in servers.items():
                server_before, client_before = process_cpu_seconds(pid), own_cpu_seconds()
                results, wall, peak = asyncio.run(run_level(slots, rounds, callers, port, ids, args.timeout,
                                                            args.hold_ms / 1000, args.ramp))
                report = level_report(name, slots, rounds, args.hold_ms, peak, results, wall,
                                      process_cpu_seconds(pid) - server_before,
                                      own_cpu_seconds() - client_before)
                log(f"N={slots} {name}: {report.sessions} sessions in {wall:.1f}s (at most {peak} open), "
                    f"{report.errors} dropped, {report.server_cpu_us_per_command:.0f} µs server CPU per command")
                reports.append(report)
    print(markdown(reports, f"{backend} ({redact(url).split('?')[0]})"))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "machine": machine(), "backend": backend, "command": sys.argv,
            "levels": [{**vars(r), "sessions_per_second": r.sessions_per_second,
                        "commands_per_second": r.commands_per_second,
                        "server_cpu_us_per_command": r.server_cpu_us_per_command} for r in reports],
        }, indent=2))
    return 1 if any(r.errors for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
