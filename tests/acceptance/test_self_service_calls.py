"""Real calls through the hotline's self-services: Mandarin, the sales-agent
check, claims (complete, abandoned while recording), complaints, 0 from deep in
a menu, and the sales agents' internal line."""

from __future__ import annotations

import json
import re
import time
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from ivr.config import get_settings
from ivr.db.models import AgentCheck, Claim, Complaint, FraudAlert
from ivr.db.session import session_scope
from ivr.domain import audit
from ivr.domain.recordings import absolute_path
from ivr.testing.ivr_call import IvrCall, complain_about_a_claim

pytestmark = pytest.mark.acceptance

LI_LEI_MOBILE = "13911110001"  # AT000001, English, born 1975-02-28, life + health policies
WANG_POLICY = "9900000021"  # AT000002, born 1990-07-01, one motor policy due in 3 days (fixture)
UNKNOWN_NUMBER = "13700000077"
ACTIVE_AGENT, TERMINATED_AGENT, UNKNOWN_AGENT = "80010001", "80010002", "80019999"
AGENT_PIN = "246810"


def test_mandarin_caller_hears_the_summary_in_mandarin_fragments(hotline, sip_caller, asterisk_log):
    call = IvrCall(sip_caller, asterisk_log, "95519", UNKNOWN_NUMBER)
    call.press("language_choice", "1", "en")  # 1: Mandarin
    call.press("main_menu", "1", "zh")
    call.key_in("enter_policy_number", WANG_POLICY, "zh")
    call.key_in("enter_birth_date", "19900701", "zh")
    # 880 yuan: 八百八十元
    for fragment in ("zh_8", "zh_100", "zh_8", "zh_10", "zh_yuan"):
        call.expect(rf"STREAM FILE hotline/zh/{fragment} ")
    call.asked("choose_policy_key", "zh")
    call.hang_up()

    record = hotline.call_record(call.channel)
    assert record.language == "zh"
    assert record.verified is True
    assert not call.saw("SAY (NUMBER|DATETIME|DIGITS)")  # no English number speech
    assert not call.saw(r"hotline/en/(?!language_choice)")


def test_sales_agent_check_active_terminated_twice_and_unknown(hotline, sip_caller, asterisk_log):
    call = IvrCall(sip_caller, asterisk_log, "95519", UNKNOWN_NUMBER)
    call.press("language_choice", "2", "en")
    call.press("main_menu", "4")
    call.key_in("enter_agent_code", ACTIVE_AGENT)
    call.expect(r"STREAM FILE hotline/en/agent_genuine ")
    call.expect(rf"STREAM FILE hotline/names/agent_{ACTIVE_AGENT} ")
    for code in (TERMINATED_AGENT, TERMINATED_AGENT, UNKNOWN_AGENT):
        call.press("main_menu", "4")
        call.key_in("enter_agent_code", code)
        call.press("agent_not_genuine", "9")
    call.press("main_menu", "9")
    asterisk_log.wait_for(r"HOTLINE done outcome=done", timeout=30)
    call.wait_end()

    with session_scope() as session:
        checks = session.scalars(select(AgentCheck).where(AgentCheck.call_unique_id == hotline.call_record(call.channel).unique_id)
                                 .order_by(AgentCheck.id)).all()
        assert [(c.keyed_code, c.result.value) for c in checks] == [
            (ACTIVE_AGENT, "active"), (TERMINATED_AGENT, "terminated"),
            (TERMINATED_AGENT, "terminated"), (UNKNOWN_AGENT, "unknown")]
        alerts = session.scalars(select(FraudAlert).where(FraudAlert.agent_code == TERMINATED_AGENT)).all()
        assert len(alerts) == 1 and alerts[0].check_count >= 2
    assert not call.saw(r"STREAM FILE hotline/names/agent_80010002")


def test_terminated_agent_caller_is_put_through_to_the_anti_fraud_desk(hotline, sip_caller,
                                                                       asterisk_log):
    call = IvrCall(sip_caller, asterisk_log, "95519", UNKNOWN_NUMBER)
    call.press("language_choice", "2", "en")
    call.press("main_menu", "4")
    call.key_in("enter_agent_code", TERMINATED_AGENT)
    call.press("agent_not_genuine", "1")
    asterisk_log.wait_for(r"HOTLINE to-agent outcome=transfer .*reason=anti_fraud .*intent=anti_fraud",
                          timeout=20)
    call.hang_up()


def test_complete_claim_with_a_future_date_first_rejected(hotline, sip_caller, asterisk_log):
    tomorrow = (get_settings().today() + timedelta(days=1)).strftime("%Y%m%d")  # the centre's tomorrow
    call = IvrCall(sip_caller, asterisk_log, "95519", LI_LEI_MOBILE)
    call.press("main_menu", "2", "en")
    call.key_in("enter_birth_date", "19750228")
    call.press("choose_policy_key", "2")  # 9900000012, health
    call.press("claim_type_life", "1")  # hospitalisation
    call.key_in("enter_incident_date", tomorrow)
    call.expect(r"STREAM FILE hotline/en/date_future ")
    call.key_in("enter_incident_date", "20261101")
    call.press("callback_confirm", "1")
    call.expect(r'RECORD FILE "[^"]+/ivr/claims/\d{4}-\d\d-\d\d/\d{12}-\d{6}" wav "#" 120000')
    time.sleep(2)
    call.sip.send_dtmf("#")
    first = call.expect(r'SAY DIGITS "(\d{12})" ')
    second = call.expect(r'SAY DIGITS "(\d{12})" ')
    assert first.group(1) == second.group(1)
    call.press("main_menu", "9")
    call.wait_end()

    with session_scope() as session:
        claim = session.scalar(select(Claim).where(Claim.claim_no == first.group(1)))
        assert claim is not None
        assert claim.status.value == "reported"
        assert claim.incident_type.value == "hospitalisation"
        assert claim.incident_date == date(2026, 11, 1)
        assert claim.callback_number == "+8613911110001"
        assert claim.recording_path and absolute_path(claim.recording_path).stat().st_size > 44
        unique_id = claim.call_unique_id
    assert hotline.call_record(call.channel).disposition.value == "self_served"
    trail = audit.list_entries(audit.CLAIM, first.group(1))  # each step audited in its own transaction
    assert [(e.actor, e.action) for e in trail] == [("ivr", action) for action in (
        "opened", "incident_type", "incident_date", "callback_number", "recording", "submitted")]
    assert all(json.loads(e.details)["call"] == unique_id for e in trail) and audit.verify_chain().problem is None


def test_claim_abandoned_while_recording_is_saved_incomplete_with_the_partial_recording(
        hotline, sip_caller, asterisk_log):
    call = IvrCall(sip_caller, asterisk_log, "95519", LI_LEI_MOBILE)
    call.press("main_menu", "2", "en")
    call.key_in("enter_birth_date", "19750228")
    call.press("choose_policy_key", "1")  # 9900000011, life
    call.press("claim_type_life", "2")  # critical illness
    call.key_in("enter_incident_date", "20261101")
    call.press("callback_confirm", "2")
    call.key_in("enter_callback_number", "13800001111")
    call.expect(r"RECORD FILE ")
    time.sleep(3)
    call.hang_up()

    record = hotline.call_record(call.channel)
    with session_scope() as session:
        claim = session.scalar(select(Claim).where(Claim.call_unique_id == record.unique_id))
        assert claim is not None
        assert claim.status.value == "incomplete"
        assert claim.incident_type.value == "critical_illness"
        assert claim.incident_date == date(2026, 11, 1)
        assert claim.callback_number == "+8613800001111"
        recording = absolute_path(claim.recording_path)
    deadline = time.monotonic() + 10
    while not (recording.exists() and recording.stat().st_size > 44) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert recording.stat().st_size > 44  # more than a WAV header: the partial recording


def test_complaint_through_to_a_ticket(hotline, sip_caller, asterisk_log):
    call = IvrCall(sip_caller, asterisk_log, "95519", LI_LEI_MOBILE)
    ticket = complain_about_a_claim(call)
    call.expect(r'SAY NUMBER "48" ')
    call.press("main_menu", "9")
    call.wait_end()

    with session_scope() as session:
        complaint = session.scalar(select(Complaint).where(Complaint.ticket_no == ticket))
        assert complaint is not None
        assert complaint.subject.value == "claims"
        assert complaint.status.value == "received"
        assert complaint.customer_id is not None
        assert absolute_path(complaint.recording_path).exists()


def test_zero_deep_in_the_claim_menu_reaches_the_queue_with_what_the_ivr_learned(
        hotline, sip_caller, asterisk_log):
    call = IvrCall(sip_caller, asterisk_log, "95519", LI_LEI_MOBILE)
    call.press("main_menu", "2", "en")
    call.key_in("enter_birth_date", "19750228")
    call.press("choose_policy_key", "1")
    call.press("claim_type_life", "0")
    transfer = asterisk_log.wait_for(
        r"HOTLINE to-agent outcome=transfer agistatus=SUCCESS reason=caller_pressed_0 "
        r"customer=(\d+) verified=yes policy=9900000011 intent=claim claim=(\d{12}) ticket= "
        r"route=claims queue=claims prio=10$",
        timeout=20)
    asterisk_log.wait_for(rf'Queue\("{re.escape(call.channel)}"', timeout=10)
    call.hang_up()
    with session_scope() as session:
        claim = session.scalar(select(Claim).where(Claim.claim_no == transfer.group(2)))
        assert claim is not None and claim.status.value == "incomplete"


def test_internal_line_wrong_then_right_pin_hears_customers_due(hotline, sip_caller, asterisk_log):
    call = IvrCall(sip_caller, asterisk_log, "95519", UNKNOWN_NUMBER)
    call.press("language_choice", "2", "en")
    call.press("main_menu", "8")
    call.key_in("enter_own_agent_code", ACTIVE_AGENT)
    call.key_in("enter_pin", "111111")
    call.expect(r"STREAM FILE hotline/en/pin_wrong ")
    call.key_in("enter_pin", AGENT_PIN)
    call.expect(r'SAY NUMBER "1" ')  # one customer due within 7 days: Wang's motor policy
    call.expect(rf'SAY DIGITS "{WANG_POLICY}" ')
    call.expect(r'SAY NUMBER "880" ')
    call.press("main_menu", "9")
    call.wait_end()
    record = hotline.call_record(call.channel)
    assert [v for k, n, v in record.path if k == "verification"] == ["wrong", "ok"]
    assert ("input", "agent_pin", "******") in record.path
