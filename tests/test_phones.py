"""Every written form of a number seen in China reduces to one E.164 key."""

from __future__ import annotations

import re

import pytest

from ivr.domain.phones import InvalidPhoneNumber, PhoneNumber, normalise_phone, parse_ani

MOBILE = PhoneNumber("+8613800138000")
BEIJING = PhoneNumber("+861012345678")
SHANGHAI = PhoneNumber("+862112345678")


@pytest.mark.parametrize("written", [
    "13800138000", "+86 138 0013 8000", "0086-13800138000", "86 13800138000", "+8613800138000",
    "8613800138000", "008613800138000", "138-0013-8000", "１３８ ００１３ ８０００", " 13800138000 ",
])
def test_mobile_in_every_written_form_normalises_to_one_key(written: str) -> None:
    assert normalise_phone(written) == MOBILE


def test_mobile_dialled_with_long_distance_zero_normalises_to_the_mobile() -> None:
    assert normalise_phone("013800138000") == MOBILE


@pytest.mark.parametrize("written, expected", [
    ("010-12345678", BEIJING), ("01012345678", BEIJING), ("+86 10 1234 5678", BEIJING),
    ("+86 (0)10 1234 5678", BEIJING), ("0086 10 12345678", BEIJING),
    ("(021) 1234 5678", SHANGHAI), ("02112345678", SHANGHAI), ("021-1234-5678", SHANGHAI),
    ("0755-87654321", PhoneNumber("+8675587654321")), ("0391-2345678", PhoneNumber("+863912345678")),
])
def test_landline_drops_trunk_zero_of_area_code(written: str, expected: PhoneNumber) -> None:
    assert normalise_phone(written) == expected


@pytest.mark.parametrize("written", [
    "010-12345678-801", "010 12345678 ext 801", "010-12345678 ext. 801", "010-12345678转801",
    "010-12345678 转 801", "010-12345678 x801", "010-12345678X801", "010-12345678分机801", "+86 10 12345678 #801",
])
def test_landline_with_extension_normalises_to_e164_and_extension(written: str) -> None:
    assert normalise_phone(written) == PhoneNumber("+861012345678", "801")


@pytest.mark.parametrize("written, expected", [
    ("+1 415 555 2671", "+14155552671"), ("001-415-555-2671", "+14155552671"),
    ("+44 (0)20 7946 0958", "+442079460958"), ("+852 2123 4567", "+85221234567"),
])
def test_foreign_number_with_international_prefix_is_kept_as_e164(written: str, expected: str) -> None:
    assert normalise_phone(written).e164 == expected


def test_national_numbers_take_the_given_country_code() -> None:
    assert normalise_phone("0415 555 267", country_code="61") == PhoneNumber("+61415555267")


@pytest.mark.parametrize("garbage, reason", [
    ("", "empty"), ("   ", "empty"), ("anonymous", "unexpected character 'a'"), ("---", "no digits"),
    ("12345", "not a Chinese mobile"), ("1380013800", "not a Chinese mobile"),
    ("138001380001", "not a Chinese mobile"), ("12345678", "not a Chinese mobile"),
    ("010-1234", "7 or 8 digit subscriber"), ("010-02345678", "cannot start with 0"),
    ("5551234", "no area code"), ("+1 23", "7 to 15"), ("+123456789012345678", "7 to 15"),
    ("1+2", "'+' can only start"), ('"Evil" <13800138000>', "unexpected character '\"'"),
    ("13800138000\nEXEC Playback", "unexpected character '\\n'"), ("0000", "7 to 15"),
])
def test_garbage_raises_invalid_phone_number_with_reason(garbage: str, reason: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match=re.escape(reason)):
        normalise_phone(garbage)


def test_invalid_phone_number_is_a_value_error() -> None:
    assert issubclass(InvalidPhoneNumber, ValueError)


@pytest.mark.parametrize("ani", ["13800138000", "+8613800138000", "8613800138000", "008613800138000"])
def test_ani_forms_from_asterisk_give_the_customer_key(ani: str) -> None:
    assert parse_ani(ani) == MOBILE


@pytest.mark.parametrize("ani", ["", "anonymous", "unknown", "Restricted", "0", "<unknown>"])
def test_withheld_or_garbage_ani_gives_none(ani: str) -> None:
    assert parse_ani(ani) is None


def test_phone_number_prints_with_extension() -> None:
    assert str(PhoneNumber("+861012345678", "801")) == "+861012345678 ext 801"
