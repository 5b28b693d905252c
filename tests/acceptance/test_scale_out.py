"""Scale-out on one machine: two Asterisks and two FastAGI servers on one database.

Two sandbox instances of their own (``scale-a`` and ``scale-b``, on other ports than the session's
default sandbox, which stays untouched) are copied from the default sandbox's root file system and
stopped at the end of the module. Each Asterisk sends its calls to a FastAGI server of its own
(``ivr agi`` on 4575 and 4576), both on one fresh database; each names itself with ``systemname``,
which prefixes every uniqueid, so the call records say which Asterisk took the call (and two
Asterisks never write the same uniqueid).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from ivr.config import PROJECT_ROOT
from ivr.db.models import Call, Customer, Disposition
from ivr.db.session import session_scope
from ivr.domain.routing import ROUND_THE_CLOCK
from ivr.testing.asterisk import Sandbox
from ivr.testing.databases import fresh_database, made_current
from ivr.testing.hotline import HotlineServer
from ivr.testing.ivr_call import IvrCall
from ivr.testing.waiting import eventually

pytestmark = pytest.mark.acceptance

BOOK = Path(__file__).parent / "book"  # the acceptance book (conftest.py), imported into this module's database


@dataclass(frozen=True)
class Instance:
    """One Asterisk of the pair and the FastAGI server it sends its calls to."""

    name: str  # systemname: every uniqueid starts with it
    sip_port: int
    ami_port: int
    rtp: tuple[int, int]
    agi_port: int

    def sandbox(self) -> Sandbox:
        return Sandbox(PROJECT_ROOT / "var" / f"asterisk-sandbox-{self.name}", {
            "IVR_SANDBOX_SIP_PORT": str(self.sip_port), "IVR_SANDBOX_AMI_PORT": str(self.ami_port),
            "IVR_SANDBOX_RTP_START": str(self.rtp[0]), "IVR_SANDBOX_RTP_END": str(self.rtp[1]),
            "IVR_SANDBOX_FASTAGI_URL": f"agi://127.0.0.1:{self.agi_port}",
            "IVR_SANDBOX_SYSTEM_NAME": self.name})


A = Instance("scale-a", sip_port=5160, ami_port=5148, rtp=(21000, 21499), agi_port=4575)
B = Instance("scale-b", sip_port=5260, ami_port=5248, rtp=(21500, 21999), agi_port=4576)
LI_LEI_MOBILE, LI_LEI_BORN = "13911110001", "19750228"  # AT000001 in tests/acceptance/book
WANG_MOBILE, WANG_BORN = "13911110002", "19900701"  # AT000002


@pytest.fixture(scope="module")
def database(sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database with the acceptance book, the process-wide one while the module runs."""
    folder = tmp_path_factory.mktemp("scale-out")
    with fresh_database(folder, "scale-out") as url:
        subprocess.run([sys.executable, "-m", "ivr.cli", "import", "--agents", str(BOOK / "agents.csv"),
                        "--customers", str(BOOK / "customers.csv"), "--policies", str(BOOK / "policies.csv")],
                       env=dict(os.environ, IVR_DATABASE_URL=url), check=True, capture_output=True)
        with made_current(url):
            yield url


@pytest.fixture(scope="module")
def asterisks(sandbox: Sandbox, database: str) -> Iterator[dict[Instance, Sandbox]]:
    """Both instances built from the default sandbox's root file system, configured and running."""
    started: dict[Instance, Sandbox] = {}
    try:
        for instance in (A, B):
            other = instance.sandbox()
            other.build(copy_from=sandbox)
            other.install_conf(database_url=database)
            other.start()
            started[instance] = other
        yield started
    finally:
        for other in started.values():
            other.stop()


@pytest.fixture(scope="module")
def agi_servers(asterisks, database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[Instance, HotlineServer]]:
    folder = tmp_path_factory.mktemp("scale-out-agi")
    servers = {instance: HotlineServer(database, port=instance.agi_port, log_path=folder / f"agi-{instance.name}.log",
                                       settings_env={"IVR_OPENING_HOURS": ROUND_THE_CLOCK, "IVR_HOLIDAYS": ""})
               for instance in (A, B)}
    try:
        for server in servers.values():
            server.start()
        yield servers
    finally:
        for server in servers.values():
            server.stop()


def _verified_then_to_a_person(call: IvrCall, birth_date: str) -> None:
    """Recognised by number, verified by date of birth, then 0 during the summary: a person. Hangs up in
    the queue (the instances have no agent logged in)."""
    call.press("main_menu", "1", "en")
    call.key_in("enter_birth_date", birth_date)
    call.expect(r"STREAM FILE hotline/en/you_have_policies ")
    call.sip.send_dtmf("0")
    call.log.wait_for(r"HOTLINE to-agent outcome=transfer agistatus=SUCCESS reason=caller_pressed_0 "
                      r"customer=\d+ verified=yes", timeout=20)
    call.hang_up()


def _ended_calls(count: int) -> list[Call]:
    def ended() -> list[Call] | None:
        with session_scope() as session:
            calls = list(session.scalars(select(Call).order_by(Call.id)))
            for call in calls:
                session.expunge(call)
        return calls if len(calls) == count and all(c.ended_at is not None for c in calls) else None
    return eventually(ended, 20, f"{count} ended call records")


def test_calls_into_both_asterisks_are_served_by_their_own_server_into_one_database(
        asterisks, agi_servers, sip_caller) -> None:
    logs = {instance: asterisk.log_watcher() for instance, asterisk in asterisks.items()}
    callers = {A: (LI_LEI_MOBILE, LI_LEI_BORN, "AT000001"), B: (WANG_MOBILE, WANG_BORN, "AT000002")}
    calls = {instance: IvrCall(sip_caller, logs[instance], "95519", callers[instance][0], port=instance.sip_port)
             for instance in (A, B)}  # both up at once

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda i: _verified_then_to_a_person(calls[i], callers[i][1]), (A, B)))

    records = {record.unique_id.rsplit("-", 1)[0]: record for record in _ended_calls(2)}
    assert set(records) == {A.name, B.name}, records  # the uniqueid names the Asterisk: scale-a-1733356800.3
    for instance in (A, B):
        record = records[instance.name]
        customer_no = callers[instance][2]
        with session_scope() as session:
            assert session.get(Customer, record.customer_id).customer_no == customer_no
        assert (record.disposition, record.verified, record.ani) == (
            Disposition.TRANSFERRED, True, callers[instance][0])
        served_by = {i for i, server in agi_servers.items() if record.unique_id in server.log_path.read_text()}
        assert served_by == {instance}  # its own FastAGI server, not the other
