#!/usr/bin/env python3
"""Screen-pop latency benchmark: Asterisk connects a caller to an agent; how soon does the
agent's open console page hold the caller's card?

Not a test: it measures. The script builds its own database (a fresh SQLite file
under ``var/bench/`` by default, or a throwaway schema in ``--database-url``),
migrates it and loads the demo book, so that cards carry real policies; each
caller gets a few earlier calls, so cards carry history too. It creates N agents
with SIP endpoints, serves the console (``ConsoleServer``, werkzeug threaded, on
a free port) with a ``Switchboard`` over a fake AMI peer
(``ivr.testing.fake_ami.FakeAsterisk``), logs every agent in over HTTP (the
login form with its CSRF token, then the queue log-in through the API) and
opens one ``/desk/events`` stream per agent, each read by a thread as a
browser's ``EventSource`` would.

Each call goes as in production: the caller's IVR leg is journalled
(recognised, verified, a claim, sent to the queue) and Asterisk reports
``QueueCallerJoin`` (both untimed, before the streams open); then
``AgentConnect`` for a random agent. The **latency** is the time from just
before ``AgentConnect`` is handed to the switchboard's handler (with ``--rate``:
from the event's due time) to the moment the agent's stream has delivered the
whole ``pop`` event with the card. That is the server side of the issue's "within
one second": it leaves out AMI's socket (a few ms on loopback) and the
browser's rendering. **handler** is the part spent in the AMI event handler
(queue-call record, pop stored, streams woken); the rest is the stream's
wake-up, its read of the new pop and the card (customer 360) it builds.

Every card is checked: it must reach the agent the call went to, for that call,
with the caller's customer id, verified, with their policies and this call's
IVR path. The client threads share the process (and its GIL) with the server;
each pop wakes one of them, so they add little.

See docs/benchmarks.md for figures and how to read them.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import random
import re
import socket
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from agi_load import BENCH_DIR, log, machine, percentile, redact  # noqa: E402  (bench/, beside us)

from ivr.config import get_settings  # noqa: E402
from ivr.db.models import ConsoleRole, CustomerPhone, PhoneKind  # noqa: E402
from ivr.db.session import session_scope  # noqa: E402
from ivr.domain.book_import import write_book  # noqa: E402
from ivr.domain.demo_data import DEFAULT_CUSTOMERS, build_demo_book  # noqa: E402
from ivr.domain.users import create_user  # noqa: E402
from ivr.switchboard.board import Switchboard  # noqa: E402
from ivr.testing.browser import ConsoleServer  # noqa: E402
from ivr.testing.console import PASSWORD  # noqa: E402
from ivr.testing.customer_book import claim_call  # noqa: E402
from ivr.testing.databases import fresh_database, made_current  # noqa: E402
from ivr.testing.fake_ami import FakeAsterisk  # noqa: E402
from ivr.web.desk import STREAM_WAKE_SECONDS  # noqa: E402

QUEUE = "claims"  # Asterisk's queue; the console's routing name is the same
CONSOLE_QUEUE = "claims"
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


# -- callers --------------------------------------------------------------------

@dataclass(frozen=True)
class Caller:
    customer_id: int
    ani: str  # national form, as a Chinese trunk presents it: 13800138000


def pick_callers(limit: int) -> list[Caller]:
    """Customers of the book with a mobile number, one number each."""
    with session_scope() as session:
        rows = session.execute(select(CustomerPhone.customer_id, CustomerPhone.number)
                               .where(CustomerPhone.kind == PhoneKind.MOBILE, CustomerPhone.number.like("+861%"))
                               .order_by(CustomerPhone.customer_id, CustomerPhone.number)).all()
    numbers: dict[int, str] = {}
    for customer_id, number in rows:
        numbers.setdefault(customer_id, number)
    return [Caller(cid, number.removeprefix("+86")) for cid, number in list(numbers.items())[:limit]]


class UniqueIds:
    """Asterisk-style ``<epoch>.<sequence>`` ids, unique for the run."""

    def __init__(self) -> None:
        self._epoch, self._next = int(time.time()), 0

    def next(self) -> str:
        self._next += 1
        return f"{self._epoch}.{self._next}"


def give_history(callers: list[Caller], calls_each: int, ids: UniqueIds) -> None:
    """Earlier calls on each caller's record, so that a card carries history as in production."""
    for caller in callers:
        for _ in range(calls_each):
            claim_call(ids.next(), caller.customer_id, ani=caller.ani)


# -- the agents' side: login and the event stream --------------------------------

@dataclass
class Agent:
    username: str
    endpoint: str
    cookies: CookieJar = field(default_factory=CookieJar)

    @property
    def interface(self) -> str:
        return f"PJSIP/{self.endpoint}"

    def cookie_header(self) -> str:
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.cookies)


def create_agents(count: int) -> list[Agent]:
    agents = [Agent(f"bench{n:03d}", f"bench{n:03d}") for n in range(1, count + 1)]
    for agent in agents:
        create_user(agent.username, agent.username.title(), ConsoleRole.AGENT, PASSWORD, sip_endpoint=agent.endpoint)
    return agents


def log_agent_in(base_url: str, agent: Agent) -> None:
    """As a browser: the login form with its CSRF token, then the queue log-in through the API."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(agent.cookies))

    def token() -> str:
        with opener.open(f"{base_url}/login", timeout=30) as page:  # the desk once logged in
            match = _CSRF.search(page.read().decode())
        if match is None:
            raise RuntimeError("the console page carries no CSRF token")
        return match.group(1)

    form = urllib.parse.urlencode({"username": agent.username, "password": PASSWORD, "csrf_token": token()})
    with opener.open(f"{base_url}/login", data=form.encode(), timeout=30) as landed:
        if "/login" in urllib.parse.urlsplit(landed.url).path:
            raise RuntimeError(f"{agent.username} could not log in")
    body = json.dumps({"action": "log_in", "queues": [CONSOLE_QUEUE]}).encode()
    request = urllib.request.Request(f"{base_url}/api/agent/state", data=body, method="POST",
                                     headers={"Content-Type": "application/json", "X-CSRF-Token": token()})
    with opener.open(request, timeout=30) as answer:
        state = json.load(answer)["state"]
    if state != "available":
        raise RuntimeError(f"{agent.username} is {state} after logging in to the queue")


@dataclass(frozen=True)
class Delivery:
    agent: str
    received: float  # perf_counter
    card: dict[str, Any]


class Deliveries:
    """Cards received by the streams, by call; the main thread waits on them."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._by_call: dict[str, list[Delivery]] = {}
        self.stream_errors: list[str] = []

    def received(self, delivery: Delivery) -> None:
        unique_id = str(delivery.card.get("pop", {}).get("call_unique_id", ""))
        with self._changed:
            self._by_call.setdefault(unique_id, []).append(delivery)
            self._changed.notify_all()

    def wait_for(self, unique_id: str, timeout: float) -> list[Delivery]:
        with self._changed:
            self._changed.wait_for(lambda: unique_id in self._by_call, timeout)
            return list(self._by_call.get(unique_id, []))

    def of(self, unique_id: str) -> list[Delivery]:
        with self._changed:
            return list(self._by_call.get(unique_id, []))

    def failed(self, message: str) -> None:
        with self._changed:
            self.stream_errors.append(message)


class EventStream(threading.Thread):
    """One agent's ``/desk/events``, read as ``EventSource`` does: reconnects with ``Last-Event-ID``."""

    def __init__(self, port: int, agent: Agent, deliveries: Deliveries) -> None:
        super().__init__(name=f"stream-{agent.username}", daemon=True)
        self.agent, self._port, self._deliveries = agent, port, deliveries
        self.open = threading.Event()  # the first stream is set up on the server
        self.reconnects = 0
        self._last_id = ""
        self._stopping = False
        self._socket: socket.socket | None = None

    def run(self) -> None:
        while not self._stopping:
            try:
                self._follow()
            except (OSError, http.client.HTTPException, ValueError) as exc:
                if not self._stopping:
                    self._deliveries.failed(f"{self.agent.username}: {type(exc).__name__}: {exc}")
                    time.sleep(1.0)  # the stream's own retry
            if not self._stopping:
                self.reconnects += 1

    def _follow(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self._port, timeout=None)
        connection.connect()
        self._socket = connection.sock  # kept: the connection lets go of it once the response has it
        try:
            self._read(connection)
        finally:
            connection.close()

    def _read(self, connection: http.client.HTTPConnection) -> None:
        headers = {"Accept": "text/event-stream", "Cookie": self.agent.cookie_header()}
        if self._last_id:
            headers["Last-Event-ID"] = self._last_id
        connection.request("GET", "/desk/events", headers=headers)
        response = connection.getresponse()
        if response.status != 200:
            raise ValueError(f"/desk/events answered {response.status}")
        event, data = "", []
        while line := response.readline():
            line = line.decode().rstrip("\r\n")
            if line.startswith("retry:"):
                self.open.set()  # sent after the stream read its starting point
            elif line.startswith("id:"):
                self._last_id = line[3:].strip()
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif not line:
                if event == "pop":
                    received = time.perf_counter()
                    self._deliveries.received(Delivery(self.agent.username, received, json.loads("\n".join(data))))
                event, data = "", []

    def stop(self) -> None:
        """Hang up the stream; the server's side ends at its next write."""
        self._stopping = True
        if self._socket is not None:
            try:
                self._socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the server
        self.join(timeout=5)


@contextmanager
def open_streams(port: int, agents: list[Agent], deliveries: Deliveries) -> Iterator[list[EventStream]]:
    """One open stream per agent; on exit, closed here and gone from the server."""
    threads_before = threading.active_count()
    streams = [EventStream(port, agent, deliveries) for agent in agents]
    for stream in streams:
        stream.start()
    try:
        for stream in streams:
            if not stream.open.wait(30):
                raise RuntimeError(f"{stream.agent.username}'s event stream did not open within 30 s")
        yield streams
    finally:
        for stream in streams:
            stream.stop()
        wait_for_server_streams_to_end(threads_before)


def wait_for_server_streams_to_end(threads_before: int) -> None:
    """A server-side stream notices its browser left only when a write fails (its keep-alive comment,
    every STREAM_WAKE_SECONDS); until then every pop still wakes it. The next level must not pay for them."""
    deadline = time.monotonic() + 2 * STREAM_WAKE_SECONDS + 5
    while threading.active_count() > threads_before and time.monotonic() < deadline:
        time.sleep(0.2)


# -- the calls ------------------------------------------------------------------

@dataclass
class CallResult:
    unique_id: str
    agent: str
    handler_ms: float = 0.0
    latency_ms: float | None = None  # None: no card
    problem: str = ""


def queue_call(asterisk: FakeAsterisk, caller: Caller, unique_id: str) -> None:
    """A call's IVR leg (recognised, verified, a claim, sent to the queue), then its wait in the queue."""
    claim_call(unique_id, caller.customer_id, ani=caller.ani)
    asterisk.emit("QueueCallerJoin", Queue=QUEUE, Uniqueid=unique_id, CallerIDNum=caller.ani, Position="1")


def connect(asterisk: FakeAsterisk, agent: Agent, caller: Caller, unique_id: str) -> float:
    """AgentConnect through the switchboard's handler; when the handler returned (perf_counter)."""
    asterisk.emit("AgentConnect", Queue=QUEUE, Uniqueid=unique_id, CallerIDNum=caller.ani,
                  Interface=agent.interface, MemberName=agent.username, HoldTime="4", RingTime="2")
    return time.perf_counter()


def card_problem(delivery: Delivery, call: CallResult, caller: Caller) -> str:
    """Why a delivered card is not the one the agent should see, or ''."""
    card = delivery.card
    if delivery.agent != call.agent:
        return f"card of {call.unique_id} reached {delivery.agent}, not {call.agent}"
    if card.get("customer_id") != caller.customer_id or not card.get("verified"):
        return f"card of {call.unique_id}: customer {card.get('customer_id')} verified={card.get('verified')}, " \
               f"expected customer {caller.customer_id} verified"
    customer, ivr_leg = card.get("customer") or {}, card.get("call") or {}
    if not customer.get("policies") or ivr_leg.get("unique_id") != call.unique_id:
        return f"card of {call.unique_id} lacks the policies or this call's IVR path"
    return ""


@dataclass
class LevelReport:
    agents: int
    calls: int
    wall_seconds: float
    latency_ms: dict[str, float]
    handler_ms: dict[str, float]
    cards_per_agent: dict[str, int]
    over_one_second: int
    errors: int
    error_samples: list[str]
    reconnects: int


def summarise(values: list[float]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    return {"count": len(values), "p50": percentile(values, 0.50), "p95": percentile(values, 0.95),
            "p99": percentile(values, 0.99), "max": max(values)}


def run_level(port: int, asterisk: FakeAsterisk, agents: list[Agent], callers: list[Caller], calls: int,
              rate: float, warmup: int, timeout: float, ids: UniqueIds, rng: random.Random) -> LevelReport:
    """``calls`` calls to random agents among ``agents``, after ``warmup`` untimed ones.

    The calls' IVR legs and queue joins are made first, untimed. Then one ``AgentConnect`` at a time
    (``rate`` 0: the next once the card arrived), or ``rate`` a second from one thread, as the AMI link's
    single event thread would handle them: a call's latency then runs from its due time, so an event
    handled late (the process saturated) counts the time it would have waited in the AMI socket.
    """
    planned = [(ids.next(), rng.choice(agents), rng.choice(callers)) for _ in range(warmup + calls)]
    for unique_id, _, caller in planned:
        queue_call(asterisk, caller, unique_id)
    deliveries = Deliveries()
    results: list[tuple[CallResult, Caller, float]] = []
    with open_streams(port, agents, deliveries) as streams:
        for unique_id, agent, caller in planned[:warmup]:
            connect(asterisk, agent, caller, unique_id)
            deliveries.wait_for(unique_id, timeout)
        started = time.perf_counter()
        for number, (unique_id, agent, caller) in enumerate(planned[warmup:]):
            due = started + number / rate if rate else time.perf_counter()
            time.sleep(max(0.0, due - time.perf_counter()))
            before = time.perf_counter()
            call = CallResult(unique_id, agent.username, handler_ms=1000 * (connect(asterisk, agent, caller,
                                                                                    unique_id) - before))
            results.append((call, caller, min(due, before)))
            if not rate:
                deliveries.wait_for(unique_id, timeout)
            if (number + 1) % max(1, calls // 10) == 0:
                log(f"  N={len(agents)}: {number + 1}/{calls} calls")
        deadline = time.perf_counter() + timeout
        for call, _, _ in results:  # the last cards, with --rate
            deliveries.wait_for(call.unique_id, max(0.0, deadline - time.perf_counter()))
        wall = time.perf_counter() - started
        reconnects = sum(stream.reconnects for stream in streams)
    return level_report(len(agents), results, deliveries, wall, timeout, reconnects)


def level_report(agent_count: int, results: list[tuple[CallResult, Caller, float]], deliveries: Deliveries,
                 wall: float, timeout: float, reconnects: int) -> LevelReport:
    cards: Counter[str] = Counter()
    for call, caller, emitted in results:
        got = deliveries.of(call.unique_id)
        if not got:
            call.problem = f"no card for {call.unique_id} within {timeout:.0f} s"
            continue
        call.latency_ms = 1000 * (got[0].received - emitted)
        cards.update(delivery.agent for delivery in got)
        call.problem = card_problem(got[0], call, caller) or (
            f"card of {call.unique_id} delivered {len(got)} times" if len(got) > 1 else "")
    problems = [call.problem for call, _, _ in results if call.problem] + deliveries.stream_errors
    latencies = [call.latency_ms for call, _, _ in results if call.latency_ms is not None]
    return LevelReport(
        agents=agent_count, calls=len(results), wall_seconds=wall, latency_ms=summarise(latencies),
        handler_ms=summarise([call.handler_ms for call, _, _ in results]),
        cards_per_agent=dict(sorted(cards.items())), over_one_second=sum(1 for ms in latencies if ms > 1000),
        errors=len(problems), error_samples=problems[:5], reconnects=reconnects)


# -- output ---------------------------------------------------------------------

def markdown(reports: list[LevelReport], backend: str) -> str:
    lines = [f"### {backend}", "",
             "| agents | calls | calls/s | pop p50 ms | pop p95 ms | pop p99 ms | pop max ms | > 1 s "
             "| handler p50 ms | handler p99 ms | cards per agent (min-max) | errors |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in reports:
        pop, handler = r.latency_ms, r.handler_ms
        per_agent = r.cards_per_agent.values()
        spread = f"{min(per_agent)}-{max(per_agent)}" if per_agent else "-"
        if len(r.cards_per_agent) < r.agents:
            spread = f"0-{max(per_agent, default=0)}"
        figures = (f"{pop['p50']:.1f} | {pop['p95']:.1f} | {pop['p99']:.1f} | {pop['max']:.1f}"
                   if pop["count"] else "- | - | - | -")
        lines.append(f"| {r.agents} | {r.calls} | {r.calls / r.wall_seconds:.1f} | {figures} | {r.over_one_second} "
                     f"| {handler['p50']:.1f} | {handler['p99']:.1f} | {spread} | {r.errors} |")
    problems = [(r.agents, p) for r in reports for p in r.error_samples]
    if problems:
        lines += ["", "Errors (first per level):", ""] + [f"- N={n}: {p[:300]}" for n, p in problems]
    return "\n".join(lines)


# -- main -----------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure screen-pop latency: AgentConnect handled by the console's switchboard -> the "
                    "caller's card delivered on the agent's /desk/events stream; prints a Markdown table.",
        epilog="Example: bench/screen_pop.py --agents 1 20 100 --calls 200 --json var/bench/screen-pop.json")
    parser.add_argument("--agents", type=int, nargs="+", default=[1, 20, 100], metavar="N",
                        help="agents logged in, each with an open event stream, per level (default: 1 20 100)")
    parser.add_argument("--calls", type=int, default=200,
                        help="calls put through per level, each to a random agent (default: 200)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="AgentConnect events a second, regardless of delivery; latency counts from each "
                             "event's due time (default: 0, one call at a time: the next once the previous "
                             "card arrived)")
    parser.add_argument("--database-url", default=None,
                        help="PostgreSQL URL to benchmark on, in a throwaway schema dropped afterwards "
                             "(default: a fresh SQLite file under var/bench/)")
    parser.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS,
                        help=f"size of the demo book (default: {DEFAULT_CUSTOMERS})")
    parser.add_argument("--callers", type=int, default=200,
                        help="customers who call, in random turn (default: 200)")
    parser.add_argument("--history", type=int, default=3,
                        help="earlier calls on each caller's record before the first level (default: 3)")
    parser.add_argument("--warmup", type=int, default=5,
                        help="untimed calls at the start of each level, streams open (default: 5)")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds to wait for a card before counting the call as an error (default: 30)")
    parser.add_argument("--seed", type=int, default=95519, help="random seed for agent and caller choice")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH",
                        help="also write every figure, per-agent card counts included, as JSON to PATH")
    return parser.parse_args(argv)


@contextmanager
def bench_database(server_url: str | None) -> Iterator[str]:
    """A fresh, migrated database with the demo book, made the process-wide one."""
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    with fresh_database(BENCH_DIR, "screen-pop-sqlite", server_url) as url, made_current(url):
        yield url


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    backend = "sqlite" if args.database_url is None else make_url(args.database_url).get_backend_name()
    rng, ids = random.Random(args.seed), UniqueIds()
    reports: list[LevelReport] = []
    with bench_database(args.database_url) as url:
        log(f"loading a demo book of {args.customers} customers into {redact(url).split('?')[0]} ...")
        with session_scope() as session:
            write_book(session, build_demo_book(args.customers), get_settings().national_id_salt)
        callers = pick_callers(args.callers)
        log(f"{len(callers)} callers, {args.history} earlier calls each; {max(args.agents)} agents ...")
        give_history(callers, args.history, ids)
        agents = create_agents(max(args.agents))
        asterisk = FakeAsterisk()
        board = Switchboard(asterisk)  # type: ignore[arg-type]  # the fake has the link's surface
        board.start()
        server = ConsoleServer(switchboard=board)
        try:
            port = int(urllib.parse.urlsplit(server.url).port or 0)
            for agent in agents:
                log_agent_in(server.url, agent)
            log(f"{len(agents)} agents logged in to the {CONSOLE_QUEUE} queue at {server.url}")
            for count in args.agents:
                report = run_level(port, asterisk, agents[:count], callers, args.calls, args.rate, args.warmup,
                                   args.timeout, ids, rng)
                log(f"N={count}: {report.calls} calls in {report.wall_seconds:.1f}s, pop p50 "
                    f"{report.latency_ms.get('p50', 0):.1f} ms, max {report.latency_ms.get('max', 0):.1f} ms, "
                    f"{report.errors} errors")
                reports.append(report)
        finally:
            server.stop()
            board.stop()
    print(markdown(reports, f"{backend}, {args.customers}-customer demo book, "
                            f"{'one call at a time' if not args.rate else f'{args.rate:g} calls/s'}"))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": machine(), "backend": backend, "command": sys.argv,
                                         "levels": [vars(r) for r in reports]}, indent=2))
    return 1 if any(r.errors for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
