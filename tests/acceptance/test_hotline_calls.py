"""Real calls to the hotline (95519): pjsua2 -> Asterisk 22 -> our FastAGI server.

Assertions read the call record our server wrote and the AGI commands
Asterisk executed (its AGI debug log). The book is tests/acceptance/book/*.csv,
imported with `ivr import`.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timezone

import pytest

from ivr.db.models import Disposition
from ivr.testing.asterisk import LogWatcher

pytestmark = pytest.mark.acceptance

LI_LEI_MOBILE = "13911110001"  # customer AT000001, born 1975-02-28, two policies
WANG_POLICY = "9900000021"  # customer AT000002, born 1990-07-01
SHARED_LANDLINE = "01088886666"  # both customers' home phone: recognises neither
UNKNOWN_NUMBER = "13700000099"


def agi_rx(channel: str, command: str) -> str:
    """Regex for a command our server sent on ``channel``, as Asterisk logs it."""
    return rf"<{re.escape(channel)}>AGI Rx << {command}"


def epoch_noon(day: date) -> int:
    return int(datetime.combine(day, time(12), tzinfo=timezone.utc).timestamp())


def key_when_asked(log: LogWatcher, call, channel: str, prompt: str, digits: str) -> None:
    """Send digits once Asterisk runs GET DATA for ``prompt``: keys sent between
    AGI commands are read and dropped by res_agi."""
    log.wait_for(agi_rx(channel, rf"GET DATA hotline/\w+/{prompt}\b"), timeout=20)
    call.send_dtmf(digits + "#")


def hang_up_at_policy_number_prompt(sip_caller, log: LogWatcher, ani: str,
                                    display_name: str | None = None, extension: str = "95519") -> str:
    """Call, wait until the IVR asks for a policy number, hang up; the channel name."""
    call = sip_caller.call(extension, ani=ani, display_name=display_name)
    call.wait_answered()
    channel = log.wait_for_channel(extension)
    log.wait_for(agi_rx(channel, r"GET DATA hotline/en/enter_policy_number"), timeout=20)
    call.hangup()
    call.wait_disconnected()
    return channel


def test_known_caller_with_right_birth_date_hears_each_policy(hotline, sip_caller, asterisk_log):
    call = sip_caller.call("95519", ani=LI_LEI_MOBILE, display_name="Li Lei")
    call.wait_answered()
    channel = asterisk_log.wait_for_channel("95519")

    key_when_asked(asterisk_log, call, channel, "enter_birth_date", "19750228")
    for policy_no, amount, fen, due in (("9900000011", 3250, None, date(2027, 1, 15)),
                                        ("9900000012", 1288, "50", date(2026, 11, 1))):
        asterisk_log.wait_for(agi_rx(channel, rf'SAY DIGITS "{policy_no}" '), timeout=30)
        asterisk_log.wait_for(agi_rx(channel, rf'SAY DATETIME "?{epoch_noon(due)}"? '), timeout=30)
        asterisk_log.wait_for(agi_rx(channel, rf'SAY NUMBER "{amount}" '), timeout=30)
        if fen:
            asterisk_log.wait_for(agi_rx(channel, rf'SAY DIGITS "{fen}" '), timeout=30)
    asterisk_log.wait_for(r"HOTLINE done outcome=done", timeout=40)
    call.wait_disconnected(timeout=20)

    record = hotline.call_record(channel)
    assert record.disposition == Disposition.SELF_SERVED
    assert record.verified is True
    assert record.customer_no == "AT000001"
    assert record.ani == LI_LEI_MOBILE
    assert record.dnis == "95519"
    assert record.answered_at is not None and record.ended_at is not None
    assert ("identification", "ani", "recognised") in record.path
    assert ("verification", "birth_date", "passed") in record.path
    assert ("input", "birth_date", "********") in record.path
    assert [v for k, n, v in record.path if k == "policy_read"] == ["9900000011", "9900000012"]


def test_unknown_caller_with_wrong_birth_date_three_times_is_transferred_hearing_nothing(
        hotline, sip_caller, asterisk_log):
    call = sip_caller.call("95519", ani=UNKNOWN_NUMBER)
    call.wait_answered()
    channel = asterisk_log.wait_for_channel("95519")

    key_when_asked(asterisk_log, call, channel, "enter_policy_number", WANG_POLICY)
    for wrong in ("19900102", "20000701", "19900701"[:7]):
        key_when_asked(asterisk_log, call, channel, "enter_birth_date", wrong)
    asterisk_log.wait_for(r"HOTLINE to-agent outcome=transfer agistatus=SUCCESS", timeout=40)
    asterisk_log.wait_for(rf'Executing \[95519@hotline-agi:\d+\] Queue\("{re.escape(channel)}"', timeout=10)
    call.hangup()
    call.wait_disconnected()

    record = hotline.call_record(channel)
    assert record.disposition == Disposition.TRANSFERRED
    assert record.transfer_reason == "too_many_attempts"
    assert record.verified is False
    assert record.customer_no == "AT000002"
    assert [v for k, n, v in record.path if k == "verification"] == ["failed"] * 3
    spoken = asterisk_log.text
    assert not re.search(agi_rx(channel, "SAY (NUMBER|DATETIME)"), spoken)
    assert not re.search(agi_rx(channel, rf"SAY DIGITS"), spoken)
    assert not any(k == "policy_read" for k, _, _ in record.path)


def test_caller_hanging_up_at_the_policy_number_prompt_is_abandoned_and_next_call_is_served(
        hotline, sip_caller, asterisk_log):
    channel = hang_up_at_policy_number_prompt(sip_caller, asterisk_log, SHARED_LANDLINE)

    record = hotline.call_record(channel)
    assert record.disposition == Disposition.ABANDONED_IN_IVR
    assert record.customer_no is None  # a shared number recognises nobody
    assert ("identification", "ani", "not_recognised") in record.path

    nxt = sip_caller.call("95519", ani=LI_LEI_MOBILE)
    nxt.wait_answered()
    next_channel = asterisk_log.wait_for_channel("95519")
    key_when_asked(asterisk_log, nxt, next_channel, "enter_birth_date", "19750228")
    asterisk_log.wait_for(agi_rx(next_channel, r'SAY DIGITS "9900000011" '), timeout=30)
    nxt.hangup()
    nxt.wait_disconnected()
    assert hotline.call_record(next_channel).verified is True


def test_zero_at_the_first_menu_reaches_the_agent_queue(hotline, sip_caller, asterisk_log):
    call = sip_caller.call("95519", ani=UNKNOWN_NUMBER)
    call.wait_answered()
    channel = asterisk_log.wait_for_channel("95519")
    key_when_asked(asterisk_log, call, channel, "enter_policy_number", "0")
    asterisk_log.wait_for(r"HOTLINE to-agent outcome=transfer", timeout=20)
    call.hangup()
    call.wait_disconnected()
    record = hotline.call_record(channel)
    assert record.disposition == Disposition.TRANSFERRED
    assert record.transfer_reason == "caller_pressed_0"


def test_with_the_fastagi_server_stopped_a_call_still_reaches_the_agent_queue(
        hotline, sip_caller, asterisk_log):
    with hotline.stopped():
        call = sip_caller.call("95519", ani=LI_LEI_MOBILE)
        call.wait_answered()
        channel = asterisk_log.wait_for_channel("95519")
        asterisk_log.wait_for(r"HOTLINE to-agent outcome= agistatus=FAILURE", timeout=20)
        asterisk_log.wait_for(rf'Queue\("{re.escape(channel)}"', timeout=10)
        call.hangup()
        call.wait_disconnected()


def test_hostile_display_name_is_stored_as_text(hotline, sip_caller, asterisk_log):
    name = "O\"Brien \\ 王小明 '); DROP TABLE calls;-- <b>"
    channel = hang_up_at_policy_number_prompt(sip_caller, asterisk_log, UNKNOWN_NUMBER, name)

    record = hotline.call_record(channel)
    # Asterisk keeps SIP's quoted-pair escapes in CALLERID(name); the server undoes them.
    assert record.caller_name == name
    assert record.disposition == Disposition.ABANDONED_IN_IVR


def test_newlines_injected_in_caller_name_reach_the_server_raw_and_inject_nothing(
        hotline, sip_caller, asterisk_log):
    # 95599 sets CALLERID(name) to 'Evil"\nEXEC Playback x\n' and skips the cleaning.
    channel = hang_up_at_policy_number_prompt(sip_caller, asterisk_log, UNKNOWN_NUMBER,
                                              extension="95599")

    record = hotline.call_record(channel)
    assert record.caller_name == 'Evil"'
    assert re.fullmatch(r"\d+\.\d+", record.unique_id)
    assert record.dnis == "95599"
    assert not re.search(agi_rx(channel, "EXEC"), asterisk_log.text)
    assert record.disposition == Disposition.ABANDONED_IN_IVR
