"""SIP identities: the test caller's display names escaped as RFC 3261 requires, and the
caller's number read back from the From an agent phone receives."""

from __future__ import annotations

import pytest

from ivr.testing.sip_caller import sip_display_name, sip_identity, sip_uri_user


def test_quotes_and_backslashes_in_a_display_name_are_escaped() -> None:
    assert sip_display_name('O"Brien \\ 王小明') == '"O\\"Brien \\\\ 王小明"'


def test_identity_has_the_escaped_name_and_the_caller_number() -> None:
    assert sip_identity("13800138000", 'A "B"', "127.0.0.1") == '"A \\"B\\"" <sip:13800138000@127.0.0.1>'
    assert sip_identity("13800138000", None, "127.0.0.1") == "<sip:13800138000@127.0.0.1>"


@pytest.mark.parametrize("name", ["Evil\nEXEC Playback x", "a\rb", "nul\x00"])
def test_a_display_name_sip_cannot_carry_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="control characters"):
        sip_display_name(name)


@pytest.mark.parametrize("ani", ["", "1 2", "a@b", "<1>", '1"'])
def test_a_caller_number_that_is_not_a_sip_user_is_refused(ani: str) -> None:
    with pytest.raises(ValueError):
        sip_identity(ani, None, "127.0.0.1")


@pytest.mark.parametrize(("identity", "number"), [
    ('"O\\"Brien" <sip:13800138000@127.0.0.1>;tag=abc', "13800138000"),
    ("<sips:+8613800138000@example.com:5061>", "+8613800138000"),
    ("sip:anonymous@anonymous.invalid", "anonymous"),
    ('"sip:fake@x" <sip:13800138000@127.0.0.1>', "13800138000"),
    ('"No user" <sip:127.0.0.1>', None),
])
def test_the_caller_number_is_the_user_part_of_the_from_uri(identity: str, number: str | None) -> None:
    assert sip_uri_user(identity) == number
