#!/usr/bin/env python3
"""What work costs on this machine right after a thread wakes, against the same work done warm.

With 500 calls open, each AGI command reaches the FastAGI server after its
thread slept 0.2-0.6 s waiting for Asterisk. This script measures, in one
thread and in this process's own CPU time (``time.thread_time``), what that
sleep does to the cost of the work that follows it:

* ``sleep``: a sleep and wake-up alone;
* ``echo``: one command line sent and one reply line read on a bare socket
  (a Unix socket pair whose other end answers after the delay): the least a
  Python thread per connection can do per AGI command;
* ``agi``: the same round trip through ``AgiSession.stream_file`` (quoting,
  sending, reading and parsing the reply: what every command of a call does);
* ``parse``: ``parse_reply`` of one reply line, timed alone.

Each is measured warm (back to back) and after a sleep of ``--delay`` seconds
(0.5x-1.5x at random). Prints a Markdown table (docs/benchmarks.md).

Example: bench/wake_cost.py --delay 0.02 --rounds 300
"""

from __future__ import annotations

import argparse
import random
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from ivr.telephony.agi import open_socket_session, parse_reply  # noqa: E402

ENVIRONMENT = (b"agi_network: yes\nagi_request: agi://127.0.0.1/hotline\nagi_channel: PJSIP/bench-1\n"
               b"agi_uniqueid: 1.1\nagi_callerid: 13800138000\nagi_threadid: 1\n\n")
REPLY = b"200 result=0 endpos=12000\n"


def answering_peer(sock: socket.socket, delay: float) -> None:
    """Asterisk's side: the environment, then one reply per command line, ``delay`` later."""
    lines = sock.makefile("rb")
    sock.sendall(ENVIRONMENT)
    while lines.readline():
        if delay:
            time.sleep(delay * random.uniform(0.5, 1.5))
        sock.sendall(REPLY)


def per_round_us(round_trip: Callable[[socket.socket], Callable[[], object]], rounds: int, delay: float) -> float:
    """Thread CPU per call of the function ``round_trip`` makes for one connected socket."""
    ours, peer = socket.socketpair()
    threading.Thread(target=answering_peer, args=(peer, delay), daemon=True).start()
    step = round_trip(ours)
    step()
    started = time.thread_time_ns()
    for _ in range(rounds):
        step()
    spent = time.thread_time_ns() - started
    ours.close()
    return spent / rounds / 1000


def echo(sock: socket.socket) -> Callable[[], object]:
    lines = sock.makefile("rb")
    while lines.readline() not in (b"\n", b""):  # the environment, up to its blank line (or the end)
        pass
    return lambda: (sock.sendall(b'STREAM FILE hello ""\n'), lines.readline())


def agi(sock: socket.socket) -> Callable[[], object]:
    session = open_socket_session(sock, env_timeout=5, reply_timeout=30)
    return lambda: session.stream_file("hello")


def alone_us(work: Callable[[], object], rounds: int, delay: float) -> float:
    """Thread CPU of ``work`` alone, each time after sleeping ``delay`` (0: back to back)."""
    spent = 0
    for _ in range(rounds):
        if delay:
            time.sleep(delay * random.uniform(0.5, 1.5))
        started = time.thread_time_ns()
        work()
        spent += time.thread_time_ns() - started
    return spent / rounds / 1000


def sleep_us(rounds: int, delay: float) -> float:
    started = time.thread_time_ns()
    for _ in range(rounds):
        time.sleep(delay * random.uniform(0.5, 1.5))
    return (time.thread_time_ns() - started) / rounds / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="Example: bench/wake_cost.py --delay 0.02 --rounds 300")
    parser.add_argument("--delay", type=float, default=0.02,
                        help="seconds each reply (or each piece of work) waits in the sparse case (default: 0.02)")
    parser.add_argument("--rounds", type=int, default=300, help="rounds in the sparse case (default: 300)")
    parser.add_argument("--warm-rounds", type=int, default=5000, help="rounds in the warm case (default: 5000)")
    args = parser.parse_args()
    line = "200 result=0 endpos=12000\n"
    rows = [
        ("sleep and wake-up", None, sleep_us(args.rounds, args.delay)),
        ("echo: bare socket round trip", per_round_us(echo, args.warm_rounds, 0),
         per_round_us(echo, args.rounds, args.delay)),
        ("agi: AgiSession.stream_file round trip", per_round_us(agi, args.warm_rounds, 0),
         per_round_us(agi, args.rounds, args.delay)),
        ("parse: parse_reply alone", alone_us(lambda: parse_reply(line), args.warm_rounds, 0),
         alone_us(lambda: parse_reply(line), args.rounds, args.delay)),
    ]
    print(f"| work | warm µs CPU | after a {args.delay * 1000:.0f} ms sleep µs CPU |")
    print("|---|---:|---:|")
    for name, warm, sparse in rows:
        print(f"| {name} | {'-' if warm is None else f'{warm:.1f}'} | {sparse:.1f} |")


if __name__ == "__main__":
    main()
