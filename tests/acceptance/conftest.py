"""Fixtures for acceptance tests: real SIP calls through the Asterisk sandbox.

The sandbox is built, configured and started once per test session (fast
when already built) and stopped at the end if this session started it. Where
it cannot exist (no root, no debootstrap) the tests are skipped with the
reason, except on CI, where that is a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from ivr.config import get_settings, set_settings
from ivr.db.models import Policy
from ivr.db.session import session_scope
from ivr.domain.routing import ROUND_THE_CLOCK  # tests must not depend on the hour
from ivr.domain.sales_agents import set_agent_pin
from ivr.testing.asterisk import LogWatcher, Sandbox, SandboxError
from ivr.testing.databases import fresh_database
from ivr.testing.hotline import FAULT_TIMINGS, HotlineServer
from ivr.testing.missing import missing

if TYPE_CHECKING:
    from ivr.testing.sip_caller import AgentPhone, SipCaller


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """The running sandbox Asterisk, with asterisk-conf/ and the prompts installed."""
    sandbox = Sandbox()
    started_here = False
    try:
        sandbox.build()
        sandbox.install_conf()
        if not sandbox.is_running():
            sandbox.start()
            started_here = True
    except SandboxError as exc:
        if not exc.cannot_build:
            raise
        missing("Asterisk sandbox", str(exc))
    yield sandbox
    if started_here:
        sandbox.stop()


@pytest.fixture(scope="session")
def sip_caller(sandbox: Sandbox) -> Iterator[SipCaller]:
    """The pjsua2 test caller (one per session; pjsua2 lives once per process)."""
    try:
        from ivr.testing.sip_caller import SipCaller
    except ImportError as exc:  # pjsua2-python missing
        missing("Asterisk sandbox", f"pjsua2 cannot be imported: {exc}")
    with SipCaller() as caller:
        yield caller


@pytest.fixture
def agent_phone(sip_caller: SipCaller) -> Iterator[Callable[..., AgentPhone]]:
    """Registers a sandbox agent phone: ``agent_phone("agent2", answer_after=0.5)``.

    The password is the sandbox's (asterisk-conf/pjsip.conf: agentN-sandbox).
    Every phone is closed after the test, so no contact outlives it to ring
    in another test's queue.
    """
    phones: list[AgentPhone] = []

    def register(endpoint: str, answer_after: float = 0.0) -> AgentPhone:
        phone = sip_caller.agent_phone(endpoint, f"{endpoint}-sandbox", answer_after)
        phones.append(phone)
        return phone

    yield register
    for phone in phones:
        phone.close()


@pytest.fixture
def asterisk_log(sandbox: Sandbox) -> LogWatcher:
    """Asterisk's full log from the start of the test on."""
    return sandbox.log_watcher()


BOOK = Path(__file__).parent / "book"


@pytest.fixture(scope="session")
def hotline(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HotlineServer]:
    """`ivr agi` on port 4573 (where the sandbox dialplan sends calls), on a fresh
    database holding tests/acceptance/book/*.csv imported with `ivr import`."""
    folder = tmp_path_factory.mktemp("hotline")
    with fresh_database(folder, "acceptance") as url:
        env = dict(os.environ, IVR_DATABASE_URL=url)
        subprocess.run([sys.executable, "-m", "ivr.cli", "import", "--agents", str(BOOK / "agents.csv"),
                        "--customers", str(BOOK / "customers.csv"),
                        "--policies", str(BOOK / "policies.csv")], env=env, check=True)
        previous = get_settings()
        set_settings(previous.replace(database_url=url))
        _prepare_book(url)
        sandbox.install_conf(database_url=url)  # records the book's agents' names
        server = HotlineServer(url, port=4573, log_path=folder / "ivr-agi.log",
                               settings_env={"IVR_OPENING_HOURS": ROUND_THE_CLOCK, "IVR_HOLIDAYS": "",
                                             **FAULT_TIMINGS})
        server.start()
        try:
            yield server
        finally:
            server.stop()
            set_settings(previous)


@pytest.fixture(scope="module")
def closed_hotline(hotline: HotlineServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HotlineServer]:
    """A second `ivr agi`, on port 4574 (dialplan test extension 95594), on the same database,
    with the centre closed: yesterday, today and tomorrow are holidays. Module-scoped: port 4574
    is also the backup server of tests/acceptance/test_fault_calls.py."""
    today = datetime.now(get_settings().zone()).date()
    holidays = ",".join(str(today + timedelta(days=d)) for d in (-1, 0, 1))
    server = HotlineServer(hotline.database_url, port=4574,
                           log_path=tmp_path_factory.mktemp("closed") / "ivr-agi.log",
                           settings_env={"IVR_OPENING_HOURS": ROUND_THE_CLOCK, "IVR_HOLIDAYS": holidays})
    server.start()
    try:
        yield server
    finally:
        server.stop()


AGENT_PIN = "246810"


def _prepare_book(url: str) -> None:
    """What the CSV book cannot hold: an agent's PIN, a premium due in 3 days."""
    set_agent_pin("80010001", AGENT_PIN)
    with session_scope() as session:
        policy = session.scalar(select(Policy).where(Policy.policy_no == "9900000021"))
        policy.next_due_date = get_settings().today() + timedelta(days=3)
