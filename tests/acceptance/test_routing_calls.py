"""Real calls routed to the right queue at the right priority, the dialplan's allow-list,
and, with the centre closed, a callback instead of a queue, merged per number."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from ivr.db.models import CallbackRequest, CallbackStatus
from ivr.db.session import session_scope
from ivr.testing.ivr_call import IvrCall

pytestmark = pytest.mark.acceptance

LI_LEI_MOBILE = "13911110001"  # AT000001, tier vip, English
WANG_MOBILE = "13911110002"  # AT000002, standard, one motor policy of 880 yuan a year
UNKNOWN_NUMBER = "13700000088"


def _queued(asterisk_log, call: IvrCall, route: str, queue: str, prio: int) -> re.Match[str]:
    line = asterisk_log.wait_for(r"HOTLINE to-agent outcome=transfer agistatus=SUCCESS .*"
                                 rf"route={route} queue={queue} prio={prio}$", timeout=40)
    asterisk_log.wait_for(rf'Executing \[queue@hotline-queue:\d+\] Queue\("{re.escape(call.channel)}", '
                          rf'"{queue}"', timeout=10)
    return line


def test_vip_caller_pressing_0_waits_in_the_vip_queue_ahead_of_others(hotline, sip_caller, asterisk_log):
    call = IvrCall(sip_caller, asterisk_log, "95519", LI_LEI_MOBILE)
    call.press("main_menu", "0", "en")
    _queued(asterisk_log, call, "vip", "vip", 10)
    call.hang_up()
    assert ("route", "vip", "vip_tier") in hotline.call_record(call.channel).path


def test_unknown_caller_pressing_0_waits_in_the_general_queue(hotline, sip_caller, asterisk_log):
    call = IvrCall(sip_caller, asterisk_log, "95519", UNKNOWN_NUMBER)
    call.press("language_choice", "0", "en")
    _queued(asterisk_log, call, "general", "agents", 0)
    call.hang_up()


def test_caller_leaving_a_claim_for_a_person_waits_in_the_claims_queue(hotline, sip_caller, asterisk_log):
    call = IvrCall(sip_caller, asterisk_log, "95519", WANG_MOBILE)
    call.press("main_menu", "2", "en")
    call.key_in("enter_birth_date", "0")
    _queued(asterisk_log, call, "claims", "claims", 0)
    call.hang_up()


def test_caller_leaving_a_complaint_for_a_person_waits_in_the_complaints_queue(hotline, sip_caller,
                                                                                asterisk_log):
    call = IvrCall(sip_caller, asterisk_log, "95519", UNKNOWN_NUMBER)
    call.press("language_choice", "2", "en")
    call.press("main_menu", "3")
    call.press("complaint_subject", "0")
    _queued(asterisk_log, call, "complaints", "complaints", 0)
    call.hang_up()


def test_dialplan_sends_a_queue_name_off_the_allow_list_and_a_bad_priority_to_general(
        sandbox, sip_caller, asterisk_log):
    call = IvrCall(sip_caller, asterisk_log, "95595", UNKNOWN_NUMBER)
    asterisk_log.wait_for(r"HOTLINE to-agent .*route=vipx queue=agents prio=0$", timeout=20)
    asterisk_log.wait_for(rf'Queue\("{re.escape(call.channel)}", "agents"', timeout=10)
    call.hang_up()


def _open_requests(number: str) -> list[tuple[int, str]]:
    with session_scope() as session:
        return [(r.request_count, r.reason) for r in session.scalars(select(CallbackRequest).where(
            CallbackRequest.number == number, CallbackRequest.status == CallbackStatus.OPEN))]


def _ask_for_a_callback(sip_caller, asterisk_log) -> IvrCall:
    call = IvrCall(sip_caller, asterisk_log, "95594", LI_LEI_MOBILE)
    call.press("main_menu", "0", "en")
    call.press("closed_callback_offer", "1")
    call.press("callback_confirm", "1")
    call.expect(r"STREAM FILE hotline/en/callback_booked ")
    asterisk_log.wait_for(r"HOTLINE done outcome=done", timeout=30)
    call.wait_end()
    return call


def test_closed_centre_offers_a_callback_and_a_second_request_is_merged(closed_hotline, sip_caller,
                                                                         asterisk_log):
    first = _ask_for_a_callback(sip_caller, asterisk_log)
    assert _open_requests("+8613911110001") == [(1, "caller_pressed_0")]
    assert closed_hotline.call_record(first.channel).disposition.value == "self_served"
    assert not first.saw(r"SET VARIABLE IVR_QUEUE")

    _ask_for_a_callback(sip_caller, asterisk_log)
    assert _open_requests("+8613911110001") == [(2, "caller_pressed_0")]
