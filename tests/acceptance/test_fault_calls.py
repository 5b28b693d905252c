"""Faults during real calls (docs/faults.md): our FastAGI server killed or stopped, a second server
taking over, the database cut away, Asterisk crashing. Whatever fails, the caller reaches a person
and every call record ends closed, never `in_progress` for ever.

Two `ivr agi` servers share the acceptance database: `hotline` on 4573 (the dialplan's
FASTAGI_URL) and `backup_hotline` on 4574 (FASTAGI_BACKUP_URL, and test extension 95594), whose
database connections go through a TCP proxy the tests cut.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from ivr.db.models import Claim, Disposition
from ivr.db.session import session_scope
from ivr.domain.routing import ROUND_THE_CLOCK
from ivr.telephony.ami_link import AmiLink, Backoff
from ivr.testing.asterisk import LogWatcher
from ivr.testing.hotline import FAULT_TIMINGS, HotlineServer
from ivr.testing.ivr_call import IvrCall
from ivr.testing.missing import missing
from ivr.testing.tcp_proxy import TcpProxy
from ivr.testing.waiting import eventually

pytestmark = pytest.mark.acceptance

LI_LEI_MOBILE = "13911110001"  # AT000001, born 1975-02-28, English; policy 9900000012 is health
UNKNOWN_NUMBER = "13700000089"


@pytest.fixture(scope="module")
def database_proxy(hotline: HotlineServer) -> Iterator[TcpProxy]:
    if make_url(hotline.database_url).get_backend_name() != "postgresql":
        missing("PostgreSQL", "the database outage test needs IVR_TEST_DATABASE_URL (a SQLite file cannot be cut)")
    with TcpProxy.in_front_of(hotline.database_url) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def backup_hotline(hotline: HotlineServer, database_proxy: TcpProxy,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[HotlineServer]:
    server = HotlineServer(database_proxy.url(hotline.database_url), port=4574,
                           log_path=tmp_path_factory.mktemp("backup") / "ivr-agi.log",
                           settings_env={"IVR_OPENING_HOURS": ROUND_THE_CLOCK, "IVR_HOLIDAYS": "", **FAULT_TIMINGS})
    server.start()
    yield server
    server.stop()


def _reached_a_person(call: IvrCall, outcome: str = "") -> str:
    """Waits until the dialplan queues ``call`` for an agent; returns the AGISTATUS it logged."""
    line = call.log.wait_for(rf'Verbose\("{re.escape(call.channel)}", "0,HOTLINE to-agent outcome={outcome} '
                        r'agistatus=(\w*) ', timeout=40)
    call.log.wait_for(rf'Queue\("{re.escape(call.channel)}"', timeout=10)
    return line.group(1)


def _tried_the_backup(call: IvrCall) -> bool:
    return re.search(rf'Verbose\("{re.escape(call.channel)}", "0,HOTLINE fastagi-backup', call.log.text) is not None


def test_server_killed_mid_call_hands_the_caller_to_a_person_and_closes_only_its_own_record_on_restart(
        hotline, backup_hotline, sip_caller, asterisk_log, sandbox):
    on_the_other_server = IvrCall(sip_caller, sandbox.log_watcher(), "95594", UNKNOWN_NUMBER)
    on_the_other_server.asked("language_choice")
    call = IvrCall(sip_caller, asterisk_log, "95519", UNKNOWN_NUMBER)
    call.asked("language_choice")

    hotline.kill()

    assert _reached_a_person(call) != "FAILURE"
    assert not _tried_the_backup(call)  # half served: never replayed
    assert hotline.record_now(call.channel).disposition is Disposition.IN_PROGRESS
    hotline.start()
    killed = eventually(lambda: (r := hotline.record_now(call.channel)).ended_at and r, 10,
                        "the killed call's record closed")
    assert killed.disposition is Disposition.INTERRUPTED
    assert killed.agi_server.endswith(":4573")
    # The call the other server runs, on the same database, was left alone and goes on.
    assert hotline.record_now(on_the_other_server.channel).disposition is Disposition.IN_PROGRESS
    on_the_other_server.press("language_choice", "2")
    on_the_other_server.asked("main_menu", "en")
    call.hang_up()
    on_the_other_server.hang_up()
    assert backup_hotline.call_record(on_the_other_server.channel).disposition is Disposition.ABANDONED_IN_IVR


def test_server_stopping_finishes_calls_in_its_grace_period_then_hands_them_over_while_the_backup_takes_new_ones(
        hotline, backup_hotline, sip_caller, asterisk_log, sandbox):
    in_progress = IvrCall(sip_caller, asterisk_log, "95519", UNKNOWN_NUMBER)
    in_progress.asked("language_choice")
    server_log = LogWatcher(hotline.log_path)

    hotline.terminate()  # SIGTERM, grace 5 s (FAULT_TIMINGS)
    server_log.wait_for(r"no new calls will be accepted")

    in_progress.sip.send_dtmf("2")  # still served in the grace period
    in_progress.asked("main_menu", "en")
    new = IvrCall(sip_caller, sandbox.log_watcher(), "95519", UNKNOWN_NUMBER)  # followed on its own
    new.asked("language_choice")
    assert _tried_the_backup(new)
    assert _reached_a_person(in_progress) != "FAILURE"  # cut at the end of the grace
    hotline.stop()
    hotline.start()

    assert hotline.call_record(in_progress.channel).disposition is Disposition.INTERRUPTED
    new.press("language_choice", "0")
    _reached_a_person(new, "transfer")
    new.hang_up()
    in_progress.hang_up()
    served = backup_hotline.call_record(new.channel)
    assert (served.disposition, served.agi_server.endswith(":4574")) == (Disposition.TRANSFERRED, True)


def _claim(claim_no: str) -> Claim:
    with session_scope() as session:
        return session.scalar(select(Claim).where(Claim.claim_no == claim_no))


def test_database_cut_mid_claim_and_at_call_start_sends_callers_to_a_person_with_an_apology(
        backup_hotline, database_proxy, sip_caller, asterisk_log):
    claim_call = IvrCall(sip_caller, asterisk_log, "95594", LI_LEI_MOBILE)
    claim_call.press("main_menu", "2", "en")
    claim_call.key_in("enter_birth_date", "19750228")
    claim_call.press("choose_policy_key", "2")
    claim_call.asked("claim_type_life")

    database_proxy.cut()
    try:
        claim_call.sip.send_dtmf("1")  # hospitalisation: cannot be written
        claim_call.expect(r"STREAM FILE hotline/en/technical_problem ")
        handed_over = asterisk_log.wait_for(rf'Verbose\("{re.escape(claim_call.channel)}", "0,HOTLINE to-agent '
                                            r'outcome=transfer .*reason=error .*claim=(\d+) ', timeout=30)
        asterisk_log.wait_for(rf'Queue\("{re.escape(claim_call.channel)}"', timeout=10)

        at_start = IvrCall(sip_caller, asterisk_log, "95594", UNKNOWN_NUMBER)
        at_start.expect(r"STREAM FILE hotline/\w+/technical_problem ")
        _reached_a_person(at_start, "transfer")
        at_start.hang_up()
    finally:
        database_proxy.restore()

    # What the caller said before the cut was written as they said it; the agent has the claim's number.
    claim = _claim(handed_over.group(1))
    assert (claim.status.value, claim.incident_type) == ("incomplete", None)
    claim_call.hang_up()
    # The record whose end could not be written is closed once the database is back.
    assert backup_hotline.call_record(claim_call.channel).disposition is Disposition.INTERRUPTED

    after = IvrCall(sip_caller, asterisk_log, "95594", UNKNOWN_NUMBER)
    after.asked("language_choice")
    after.hang_up()
    assert backup_hotline.call_record(after.channel).disposition is Disposition.ABANDONED_IN_IVR


def test_asterisk_crashing_mid_call_closes_the_record_as_interrupted_and_calls_work_once_it_is_back(
        hotline, sip_caller, asterisk_log, sandbox):
    # Last in this module: the crash drops every call and AMI connection.
    link = AmiLink(backoff=Backoff(initial=0.2, cap=2.0))
    link.start()
    try:
        eventually(lambda: link.status().connected, what="AMI link up")
        reconnects = link.status().reconnects
        call = IvrCall(sip_caller, asterisk_log, "95519", UNKNOWN_NUMBER)
        call.asked("language_choice")

        sandbox.crash()

        assert hotline.call_record(call.channel, timeout=30).disposition is Disposition.INTERRUPTED
        eventually(lambda: link.status().connected and link.status().reconnects > reconnects, 60, "AMI link back")
        call.sip.hangup()
        after = IvrCall(sip_caller, sandbox.log_watcher(), "95519", UNKNOWN_NUMBER)
        after.asked("language_choice")
        after.hang_up()
        assert hotline.call_record(after.channel).disposition is Disposition.ABANDONED_IN_IVR
    finally:
        link.stop()
