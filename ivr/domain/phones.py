"""Phone numbers as one key, whichever way a person, a core system or a trunk wrote them.

A customer's mobile reaches us as ``13800138000`` from the policy book, as
``+86 138 0013 8000`` from a web form and as ``8613800138000`` in the ANI of a
call. Recognising the caller needs all of them to be the same string, so every
number is reduced to E.164 (``+8613800138000``) plus an extension. Chinese
landlines lose their trunk ``0``: ``010-12345678`` is ``+861012345678``.

The functions are pure: the country code of numbers written without one is a
parameter (``Settings.country_code`` at the call sites), not read from config.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

CHINA = "86"

# Markers that introduce an extension: "ext 801", "ext. 801", "x801", "转801", "分机801", "#801".
_EXTENSION_MARKER = re.compile(r"^(?P<main>.*?) *(?:ext\.?|x|转|分机|#) *(?P<ext>[0-9]{1,6})$",
                               re.IGNORECASE)
# A dash-separated tail, "010-12345678-801": an extension only if what precedes it is a whole number.
_DASH_TAIL = re.compile(r"^(?P<main>.*[0-9]) *- *(?P<ext>[0-9]{1,6})$")
_SEPARATORS = " -.()/"
_CHINA_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
_MAX_E164_DIGITS = 15
_MIN_FOREIGN_DIGITS = 7


class InvalidPhoneNumber(ValueError):
    """Text that is not a phone number; the message says what is wrong with it."""


@dataclass(frozen=True)
class PhoneNumber:
    """A number reduced to its lookup key: E.164 plus an extension ("" when none)."""

    e164: str
    extension: str = ""

    def __str__(self) -> str:
        return f"{self.e164} ext {self.extension}" if self.extension else self.e164


def normalise_phone(text: str, country_code: str = CHINA) -> PhoneNumber:
    """Reduce any written form of a number to E.164 and an extension.

    ``country_code`` is assumed for numbers written without one.
    Raises InvalidPhoneNumber with the reason when ``text`` is not a number.
    """
    cleaned = unicodedata.normalize("NFKC", text).strip()  # full-width digits from Chinese keyboards
    if not cleaned:
        raise InvalidPhoneNumber("empty phone number")
    marked = _EXTENSION_MARKER.match(cleaned)
    if marked:
        return PhoneNumber(_e164(marked["main"], country_code), marked["ext"])
    try:
        return PhoneNumber(_e164(cleaned, country_code))
    except InvalidPhoneNumber:
        dashed = _DASH_TAIL.match(cleaned)
        main = _or_none(_e164, dashed["main"], country_code) if dashed else None
        if dashed is None or main is None:
            raise
        return PhoneNumber(main, dashed["ext"])


def parse_ani(ani: str, country_code: str = CHINA) -> PhoneNumber | None:
    """The caller's number from Asterisk's ANI, or None when it cannot identify anyone.

    Withheld and garbage caller IDs (``anonymous``, ``unknown``, an empty string,
    text injected into the caller ID) are normal on a hotline, not errors. A bare
    Chinese mobile, what most calls present, skips the general parser: this runs
    on every call before anything else (docs/benchmarks.md, "Caller recognition").
    """
    if country_code == CHINA and _CHINA_MOBILE.fullmatch(ani):
        return PhoneNumber(f"+{CHINA}{ani}")
    try:
        return normalise_phone(ani, country_code)
    except InvalidPhoneNumber:
        return None


def _e164(text: str, country_code: str) -> str:
    """E.164 for a number without its extension."""
    text = text.strip()
    unexpected = [ch for ch in text if ch not in string.digits + _SEPARATORS + "+"]
    if unexpected:
        raise InvalidPhoneNumber(f"unexpected character {unexpected[0]!r} in phone number {text!r}")
    if "+" in text[1:]:
        raise InvalidPhoneNumber(f"'+' can only start a phone number: {text!r}")
    digits = re.sub(r"[^0-9]", "", text)
    if not digits:
        raise InvalidPhoneNumber(f"no digits in phone number {text!r}")
    if text.startswith("+") or digits.startswith("00"):
        international = re.sub(r"[^0-9]", "", text.replace("(0)", ""))  # "+44 (0)20 …": the (0) is not dialled
        return _international(international.removeprefix("00"))
    if digits.startswith("0"):
        return _national(digits[1:], country_code)
    without_code = digits[len(country_code):]
    if digits.startswith(country_code) and _or_none(_national, without_code, country_code):
        return _national(without_code, country_code)  # "86 13800138000": the code without + or 00
    return _national(digits, country_code)


def _international(digits: str) -> str:
    """A number written with its country code (after ``+`` or ``00``)."""
    if digits.startswith(CHINA):
        national = digits[len(CHINA):]
        return _national(national[1:] if national.startswith("0") else national, CHINA)  # "+86 (0)10 …"
    if not _MIN_FOREIGN_DIGITS <= len(digits) <= _MAX_E164_DIGITS:
        raise InvalidPhoneNumber(f"+{digits} has {len(digits)} digits; international numbers have "
                                 f"{_MIN_FOREIGN_DIGITS} to {_MAX_E164_DIGITS}")
    return f"+{digits}"


def _national(significant: str, country_code: str) -> str:
    """E.164 for a national significant number (trunk prefix already removed)."""
    if country_code == CHINA:
        return f"+{CHINA}{_check_chinese(significant)}"
    return _international(country_code + significant)


def _or_none(parse: Callable[[str, str], str], text: str, country_code: str) -> str | None:
    """``parse(text, country_code)``, or None where the text is not that kind of number."""
    try:
        return parse(text, country_code)
    except InvalidPhoneNumber:
        return None


def _check_chinese(significant: str) -> str:
    """Validate a Chinese national number: an 11-digit mobile, or area code plus subscriber.

    Area codes are 10 and 20-29 (two digits) or three digits starting 3-9;
    subscriber numbers have 7 or 8 digits and never start with 0.
    """
    if significant.startswith("1") and not significant.startswith("10"):
        if _CHINA_MOBILE.match(significant):
            return significant
        raise InvalidPhoneNumber(f"{significant} is not a Chinese mobile number (11 digits, 13x-19x)")
    if not significant or significant[0] == "0":
        raise InvalidPhoneNumber("number starts with too many zeros")
    area_length = 2 if significant.startswith(("10", "2")) else 3
    area, subscriber = significant[:area_length], significant[area_length:]
    if len(subscriber) not in (7, 8):
        if len(significant) in (7, 8):
            raise InvalidPhoneNumber(f"landline {significant} has no area code")
        raise InvalidPhoneNumber(f"landline 0{area} {subscriber} needs a 7 or 8 digit subscriber number")
    if subscriber[0] == "0":
        raise InvalidPhoneNumber(f"landline subscriber number {subscriber} cannot start with 0")
    return significant
