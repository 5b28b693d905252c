"""The sandbox works end to end: a pjsua2 call reaches the dialplan with its DTMF and caller ID.

Extensions 95596-95598 live in the `hotline-tests` context (asterisk-conf/extensions.conf).
"""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

from ivr.testing.asterisk import LogWatcher

pytestmark = pytest.mark.acceptance


def test_digits_keyed_during_read_reach_the_dialplan(sip_caller, asterisk_log: LogWatcher) -> None:
    call = sip_caller.call("95598", ani="13800138598")
    call.wait_answered()
    channel = asterisk_log.wait_for_channel("95598")
    # Digits keyed before Read() listens are dropped; wait until it does.
    asterisk_log.wait_for(rf'Executing \[95598@from-sandbox:2\] Read\("{re.escape(channel)}"')

    call.send_dtmf("1234#")

    smoke = asterisk_log.wait_for(r"app_verbose\.c: SMOKE digits=(\S*)$")
    assert smoke.group(1) == "1234"
    call.wait_disconnected()


def _logged_caller_id(log: LogWatcher) -> tuple[str, str]:
    """(name as received, name after the hotline's cleaning), from extension 95597's NAME lines."""
    raw = log.wait_for(r"app_verbose\.c: NAME raw=(\S*) num=")
    clean = log.wait_for(r"app_verbose\.c: NAME clean=(\S*) num=")
    return unquote(raw.group(1)), unquote(clean.group(1))


def test_display_name_with_quotes_backslash_and_chinese_reaches_asterisk_intact(
        sip_caller, asterisk_log: LogWatcher) -> None:
    from ivr.testing.sip_caller import sip_display_name

    name = 'O"Brien \\ 王小明'
    call = sip_caller.call("95597", ani="13800138597", display_name=name)

    raw, clean = _logged_caller_id(asterisk_log)

    # Asterisk 22 keeps the SIP quoted-pair escapes: CALLERID(name) is the
    # display name as on the wire, without its outer quotes.
    assert raw == sip_display_name(name)[1:-1] == 'O\\"Brien \\\\ 王小明'
    # The cleaning keeps UTF-8, quotes and backslashes.
    assert clean == raw
    call.wait_disconnected()


def test_hotline_cleaning_removes_newlines_from_caller_id_name(sip_caller, asterisk_log: LogWatcher) -> None:
    call = sip_caller.call("95596", ani="13800138596")

    raw, clean = _logged_caller_id(asterisk_log)

    # Asterisk trims the trailing newline when setting the name; the inner one stays.
    assert raw == 'Evil"\nEXEC Playback x'
    assert clean == 'Evil"EXEC Playback x'
    call.wait_disconnected()
