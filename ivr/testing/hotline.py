"""Our side of an acceptance test: a real `ivr agi` process on a real database,
and the call records it writes, read back for assertions."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ivr.db.models import Call, Customer, Disposition
from ivr.db.session import session_scope

# A server's stop grace and record reconciliation, short enough for the fault tests
# (tests/acceptance/test_fault_calls.py) to watch them act.
FAULT_TIMINGS = {"IVR_AGI_STOP_GRACE": "5", "IVR_AGI_RECONCILE_SECONDS": "2"}


@dataclass(frozen=True)
class CallRecord:
    unique_id: str
    channel: str
    ani: str
    dnis: str
    caller_name: str
    language: str
    disposition: Disposition
    transfer_reason: str
    verified: bool
    customer_no: str | None
    answered_at: datetime | None
    ended_at: datetime | None
    agi_server: str
    path: list[tuple[str, str, str]]


class HotlineServer:
    """`ivr agi` as a child process, stoppable and restartable by tests."""

    def __init__(self, database_url: str, port: int, log_path: Path,
                 settings_env: Mapping[str, str] | None = None) -> None:
        """``settings_env``: ``IVR_*`` settings of this server only (opening hours, say)."""
        self.database_url = database_url
        self.port = port
        self.log_path = log_path
        self.settings_env = dict(settings_env or {})
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> None:
        if _port_open(self.port):
            raise RuntimeError(f"something already listens on 127.0.0.1:{self.port}; "
                               "stop it (a `make run`?) before the acceptance tests")
        env = dict(os.environ, **self.settings_env, IVR_DATABASE_URL=self.database_url, IVR_LOG_LEVEL="DEBUG")
        log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "ivr.cli", "agi", "--port", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while not _port_open(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ivr agi did not start; see {self.log_path}")
            time.sleep(0.1)

    @property
    def pid(self) -> int:
        """The running server's process id."""
        if self._process is None:
            raise RuntimeError("ivr agi is not running")
        return self._process.pid

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM, as an operator stops it: calls in progress get ``agi_stop_grace`` seconds."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def terminate(self) -> None:
        """SIGTERM without waiting: the server drains its calls meanwhile; ``stop`` then waits."""
        if self._process is not None:
            self._process.terminate()

    def kill(self) -> None:
        """SIGKILL: the server dies mid-call, as in a crash or an OOM kill."""
        if self._process is None:
            return
        self._process.kill()
        self._process.wait()
        self._process = None

    @contextmanager
    def stopped(self) -> Iterator[None]:
        """The server is down inside the block and back up after it."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    @staticmethod
    def record_now(channel: str) -> CallRecord | None:
        """The record of the call on ``channel`` as it stands, ended or not."""
        return _read_record(channel)

    def call_record(self, channel: str, timeout: float = 15.0) -> CallRecord:
        """The record of the call on ``channel``, once the call has ended."""
        deadline = time.monotonic() + timeout
        while True:
            record = _read_record(channel)
            if record is not None and record.ended_at is not None:
                return record
            if time.monotonic() > deadline:
                raise TimeoutError(f"no ended call record for {channel} within {timeout} s: {record}")
            time.sleep(0.1)


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _read_record(channel: str) -> CallRecord | None:
    with session_scope() as session:
        call = session.scalar(select(Call).options(selectinload(Call.events))
                              .where(Call.channel == channel).order_by(Call.id.desc()).limit(1))
        if call is None:
            return None
        customer_no = (session.get(Customer, call.customer_id).customer_no
                       if call.customer_id is not None else None)
        return CallRecord(
            unique_id=call.unique_id, channel=call.channel, ani=call.ani, dnis=call.dnis,
            caller_name=call.caller_name, language=call.language, disposition=call.disposition,
            transfer_reason=call.transfer_reason, verified=call.verified, customer_no=customer_no,
            answered_at=call.answered_at, ended_at=call.ended_at, agi_server=call.agi_server,
            path=[(e.kind, e.name, e.value) for e in call.events])
