"""Real calls to the hotline (95519): pjsua2 -> Asterisk 22 -> our FastAGI server.

Recognition, verification, the policy read-out, abandons, failover, floods of keys and hostile
caller IDs. Assertions read the call record our server wrote and the AGI
commands Asterisk executed (its AGI debug log). The book is
tests/acceptance/book/*.csv, imported with `ivr import`.
"""

from __future__ import annotations

import re
from time import sleep
from datetime import date, datetime, time, timezone

import pytest

from ivr.db.models import Disposition
from ivr.testing.ivr_call import IvrCall, agi_rx

pytestmark = pytest.mark.acceptance

LI_LEI_MOBILE = "13911110001"  # customer AT000001 (English), born 1975-02-28, two policies
WANG_POLICY = "9900000021"  # customer AT000002, born 1990-07-01
SHARED_LANDLINE = "01088886666"  # both customers' home phone: recognises neither
UNKNOWN_NUMBER = "13700000099"


def epoch_noon(day: date) -> int:
    return int(datetime.combine(day, time(12), tzinfo=timezone.utc).timestamp())


def hang_up_at_language_choice(sip_caller, log, ani: str, display_name: str | None = None,
                               extension: str = "95519") -> str:
    """Call, wait until the IVR listens for the language key, hang up; the channel name."""
    call = IvrCall(sip_caller, log, extension, ani, display_name)
    call.asked("language_choice", "en")
    call.hang_up()
    return call.channel


def test_known_caller_with_right_birth_date_hears_each_policy(hotline, sip_caller, asterisk_log):
    call = IvrCall(sip_caller, asterisk_log, "95519", LI_LEI_MOBILE, "Li Lei")
    call.press("main_menu", "1", "en")  # stored preference: English, no language question
    call.key_in("enter_birth_date", "19750228")
    call.expect(r'SAY NUMBER "2" ')  # two policies
    call.press("choose_policy_key", "1")
    call.expect(r'SAY DIGITS "9900000011" ')
    call.expect(rf'SAY DATETIME "?{epoch_noon(date(2027, 1, 15))}"? ')
    call.expect(r'SAY NUMBER "3250" ')
    call.press("choose_policy_key", "2")
    call.expect(r'SAY DIGITS "9900000012" ')
    call.expect(rf'SAY DATETIME "?{epoch_noon(date(2026, 11, 1))}"? ')
    call.expect(r'SAY NUMBER "1288" ')
    call.expect(r'SAY DIGITS "50" ')
    call.press("choose_policy_key", "9")
    call.press("main_menu", "9")
    asterisk_log.wait_for(r"HOTLINE done outcome=done", timeout=40)
    call.wait_end()

    record = hotline.call_record(call.channel)
    assert record.disposition == Disposition.SELF_SERVED
    assert record.verified is True
    assert record.customer_no == "AT000001"
    assert record.ani == LI_LEI_MOBILE
    assert record.dnis == "95519"
    assert record.language == "en"
    assert record.answered_at is not None and record.ended_at is not None
    assert ("identification", "ani", "recognised") in record.path
    assert ("verification", "birth_date", "passed") in record.path
    assert ("input", "birth_date", "********") in record.path
    assert [v for k, n, v in record.path if k == "policy_read"] == ["9900000011", "9900000012"]


def test_unknown_caller_with_wrong_birth_date_three_times_is_transferred_hearing_nothing(
        hotline, sip_caller, asterisk_log):
    call = IvrCall(sip_caller, asterisk_log, "95519", UNKNOWN_NUMBER)
    call.press("language_choice", "2", "en")
    call.press("main_menu", "1", "en")
    call.key_in("enter_policy_number", WANG_POLICY)
    for wrong in ("19900102", "20000701", "19900711"):
        call.key_in("enter_birth_date", wrong)
    asterisk_log.wait_for(r"HOTLINE to-agent outcome=transfer agistatus=SUCCESS "
                          r"reason=too_many_attempts customer=\d+ verified=no", timeout=40)
    asterisk_log.wait_for(rf'Executing \[queue@hotline-queue:\d+\] Queue\("{re.escape(call.channel)}", "agents"',
                          timeout=10)
    call.hang_up()

    record = hotline.call_record(call.channel)
    assert record.disposition == Disposition.TRANSFERRED
    assert record.transfer_reason == "too_many_attempts"
    assert record.verified is False
    assert record.customer_no == "AT000002"
    assert [v for k, n, v in record.path if k == "verification"] == ["failed"] * 3
    assert not call.saw("SAY (NUMBER|DATETIME|DIGITS)")
    assert not call.saw(r"STREAM FILE hotline/\w+/zh_")  # no Mandarin number either
    assert not any(k in ("policy_read", "summary") for k, _, _ in record.path)


def test_caller_hanging_up_at_the_policy_number_prompt_is_abandoned_and_next_call_is_served(
        hotline, sip_caller, asterisk_log):
    call = IvrCall(sip_caller, asterisk_log, "95519", SHARED_LANDLINE)
    call.press("language_choice", "2", "en")
    call.press("main_menu", "1")
    call.asked("enter_policy_number")
    call.hang_up()

    record = hotline.call_record(call.channel)
    assert record.disposition == Disposition.ABANDONED_IN_IVR
    assert record.customer_no is None  # a shared number recognises nobody
    assert ("identification", "ani", "not_recognised") in record.path

    nxt = IvrCall(sip_caller, asterisk_log, "95519", LI_LEI_MOBILE)
    nxt.press("main_menu", "1")
    nxt.key_in("enter_birth_date", "19750228")
    nxt.asked("choose_policy_key")
    nxt.hang_up()
    served = hotline.call_record(nxt.channel)
    assert served.verified is True
    assert served.disposition == Disposition.SELF_SERVED  # heard the summary before hanging up


def test_zero_at_the_first_menu_reaches_the_agent_queue(hotline, sip_caller, asterisk_log):
    call = IvrCall(sip_caller, asterisk_log, "95519", UNKNOWN_NUMBER)
    call.press("language_choice", "0", "en")
    asterisk_log.wait_for(r"HOTLINE to-agent outcome=transfer .*reason=caller_pressed_0", timeout=20)
    call.hang_up()
    record = hotline.call_record(call.channel)
    assert record.disposition == Disposition.TRANSFERRED
    assert record.transfer_reason == "caller_pressed_0"


def test_with_the_fastagi_server_stopped_a_call_still_reaches_the_agent_queue(
        hotline, sip_caller, asterisk_log):
    with hotline.stopped():
        call = IvrCall(sip_caller, asterisk_log, "95519", LI_LEI_MOBILE)
        asterisk_log.wait_for(r"HOTLINE to-agent outcome= agistatus=FAILURE", timeout=20)
        asterisk_log.wait_for(rf'Queue\("{re.escape(call.channel)}"', timeout=10)
        call.hang_up()


def test_hostile_display_name_is_stored_as_text(hotline, sip_caller, asterisk_log):
    name = "O\"Brien \\ 王小明 '); DROP TABLE calls;-- <b>"
    channel = hang_up_at_language_choice(sip_caller, asterisk_log, UNKNOWN_NUMBER, name)

    record = hotline.call_record(channel)
    # Asterisk keeps SIP's quoted-pair escapes in CALLERID(name); the server undoes them.
    assert record.caller_name == name
    assert record.disposition == Disposition.ABANDONED_IN_IVR


def test_newlines_injected_in_caller_name_reach_the_server_raw_and_inject_nothing(
        hotline, sip_caller, asterisk_log):
    # 95599 sets CALLERID(name) to 'Evil"\nEXEC Playback x\n' and skips the cleaning.
    channel = hang_up_at_language_choice(sip_caller, asterisk_log, UNKNOWN_NUMBER,
                                         extension="95599")

    record = hotline.call_record(channel)
    assert record.caller_name == 'Evil"'
    assert re.fullmatch(r"\d+\.\d+", record.unique_id)
    assert record.dnis == "95599"
    assert not re.search(agi_rx(channel, "EXEC"), asterisk_log.text)
    assert record.disposition == Disposition.ABANDONED_IN_IVR


def test_a_flood_of_200_keys_at_the_policy_prompt_counts_as_wrong_entries_and_reaches_a_person(
        hotline, sip_caller, asterisk_log):
    name = 'Zhang "三" \\ 王小明 <b>'
    call = IvrCall(sip_caller, asterisk_log, "95519", UNKNOWN_NUMBER, name)
    call.press("language_choice", "2", "en")
    call.press("main_menu", "1", "en")
    call.asked("enter_policy_number")
    for _ in range(8):  # 200 keys sent fast, far more than the entry holds (pjmedia queues up to 32 at a time)
        call.sip.send_dtmf("9" * 25, duration_ms=60)
        sleep(2.5)
    asterisk_log.wait_for(r"HOTLINE to-agent outcome=transfer agistatus=SUCCESS reason=too_many_attempts",
                          timeout=90)
    call.hang_up()

    record = hotline.call_record(call.channel)
    assert record.caller_name == name
    assert (record.disposition, record.transfer_reason) == (Disposition.TRANSFERRED, "too_many_attempts")
    entries = [value for kind, entry, value in record.path if kind == "input" and entry == "policy_number"]
    assert entries and all(set(value) <= {"9"} for value in entries)
    assert record.customer_no is None and record.verified is False
