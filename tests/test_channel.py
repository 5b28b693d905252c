"""What the flows learn about a call from the AGI environment (all untrusted)."""

from datetime import timedelta

import pytest

from test_agi_protocol import session_with

from ivr.telephony.channel import AgiChannel, AnsweredBy, CallInfo, flow_name, since_answer
from ivr.telephony.errors import Hangup


def env(**values: str) -> dict[str, str]:
    base = {"agi_network_script": "hotline", "agi_uniqueid": "1.1", "agi_type": "PJSIP",
            "agi_callerid": "13800138000", "agi_calleridname": "Wang", "agi_dnid": "95519"}
    base.update(values)
    return base


def test_pjsip_display_name_escapes_are_undone():
    info = CallInfo.from_agi_env(env(agi_calleridname='O\\"Brien \\\\ 王小明'))
    assert info.caller_name == 'O"Brien \\ 王小明'


def test_other_channel_types_keep_the_name_as_given():
    info = CallInfo.from_agi_env(env(agi_type="DAHDI", agi_calleridname='a\\"b'))
    assert info.caller_name == 'a\\"b'


def test_unknown_caller_id_is_empty():
    info = CallInfo.from_agi_env(env(agi_callerid="unknown", agi_calleridname="unknown"))
    assert (info.caller_number, info.caller_name) == ("", "")


def test_dnis_falls_back_to_the_extension():
    info = CallInfo.from_agi_env(env(agi_dnid="unknown", agi_extension="95599"))
    assert info.dnis == "95599"


def test_flow_name_from_fastagi_url_and_from_process_agi_path():
    assert flow_name({"agi_network_script": "hotline?x=1"}) == "hotline"
    assert flow_name({"agi_request": "agi://127.0.0.1:4573/hotline"}) == "hotline"
    assert flow_name({"agi_request": "/opt/hotline/agi/hotline"}) == "hotline"
    assert flow_name({"agi_request": "/usr/share/asterisk/agi-bin/claims.agi"}) == "claims"


@pytest.mark.parametrize("script", ["../hotline", "x/hotline", "hotline/", "hotline/..", "/hotline", "hotline.agi",
                                    "hotline%2F..", "h" * 10_000])
def test_a_fastagi_path_is_taken_whole_so_a_hostile_one_names_no_flow(script: str) -> None:
    assert flow_name({"agi_network_script": script}) == script
    assert flow_name({"agi_request": f"agi://127.0.0.1:4573/{script}"}) == script


def test_a_channel_variable_set_by_whoever_made_the_call_is_read_and_an_unset_one_is_empty():
    session, writer = session_with("200 result=1 (42)\n200 result=0\n")
    channel = AgiChannel(session)
    assert channel.get_variable("CAMPAIGN_ATTEMPT") == "42"
    assert channel.get_variable("NOT_SET") == ""
    assert writer.getvalue().startswith(b'GET VARIABLE "CAMPAIGN_ATTEMPT"\n')


def test_time_since_answer_is_read_from_asterisk_in_one_command_on_its_own_clock():
    session, writer = session_with("200 result=1 (1795665600.250000 2026-11-26T04:00:01.900)\n"
                                   "200 result=1 (0.000000 2026-11-26T04:00:01.900)\n"
                                   "200 result=0\n")
    channel = AgiChannel(session)

    assert channel.time_since_answer() == timedelta(seconds=1, milliseconds=650)
    assert channel.time_since_answer() is None  # not answered
    assert channel.time_since_answer() is None  # func_cdr not loaded: nothing to read
    assert writer.getvalue().startswith(
        b'GET FULL VARIABLE "${CDR(answer,u)} ${STRFTIME(,UTC,%Y-%m-%dT%H:%M:%S.%6q)}"\n')


def test_an_unreadable_answer_clock_is_none_not_an_error():
    for reply in ("", "hangup", "1795665600 2026-11-26T04:00:01.900", "1795665600.25 2026-13-26T04:00:01.900",
                  "1795665600.25 2026-11-26 04:00:01"):
        assert since_answer(reply) is None
    assert since_answer("1795665600.25 2026-11-26T04:00:00.100") == timedelta(milliseconds=-150)


@pytest.mark.parametrize("status, verdict", [("MACHINE", AnsweredBy.MACHINE), ("HUMAN", AnsweredBy.HUMAN),
                                             ("NOTSURE", AnsweredBy.NOTSURE), ("", AnsweredBy.NOTSURE),
                                             ("SOMETHING-NEW", AnsweredBy.NOTSURE)])
def test_answering_machine_detection_runs_amd_then_reads_its_verdict(status: str, verdict: AnsweredBy) -> None:
    session, writer = session_with(f"200 result=0\n200 result={'1 (' + status + ')' if status else '0'}\n")

    assert AgiChannel(session).detect_answering_machine() is verdict
    assert writer.getvalue() == b'EXEC AMD ""\nGET VARIABLE "AMDSTATUS"\n'


def test_amd_hearing_the_line_drop_is_a_hangup() -> None:
    session, _ = session_with("200 result=0\n200 result=1 (HANGUP)\n")

    with pytest.raises(Hangup):
        AgiChannel(session).detect_answering_machine()
