"""Mandarin numbers, digits, dates and money as a list of prompt ids to play.

Debian ships no Mandarin Asterisk sounds, so SAY NUMBER and friends cannot
speak Chinese; these pure functions turn a value into the ``zh_*`` fragments
of ``ivr/flows/prompts/zh.toml``, which the conversation plays in one go.

The reading rules, as a Mandarin speaker says amounts on the phone:

- Groups of four digits, with 万 and 亿 between them: 123456789 is
  一亿二千三百四十五万六千七百八十九.
- One 零 for each run of zeros between spoken digits, none at the end:
  1005 一千零五, 10010 一万零一十, 100200 十万零二百, 1000000 一百万.
- 十 alone at the very start of a number (10 十, 15 十五, 100000 十万), but
  一十 after other digits (110 一百一十, 10010 一万零一十).
- 两 for a 2 that is the first digit spoken in its four-digit group and
  stands before 百, 千, 万 or 亿 (200 两百, 2000 两千, 20000 两万, 22000
  两万两千, 2亿 两亿); 二 everywhere else (2 二, 20 二十, 1200 一千二百,
  200000 二十万, 二角). 二百 is as correct as 两百; we pick one and keep it.
- Money: 元, 角, 分, with 零 for a missing 角 before 分 (1234.05
  一千二百三十四元零五分). Whole amounts end in 元 (not the cheque-style 元整).
- Dates: the year digit by digit, month and day as numbers
  (2026-12-01 二零二六年十二月一日). Digits are read one by one, 1 as 一 (not 幺).
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

DIGIT = tuple(f"zh_{d}" for d in range(10))
LIANG = "zh_liang"
TEN, HUNDRED, THOUSAND = "zh_10", "zh_100", "zh_1000"
TEN_THOUSAND, HUNDRED_MILLION = "zh_10000", "zh_1e8"
YUAN, JIAO, FEN = "zh_yuan", "zh_jiao", "zh_fen"
YEAR, MONTH, DAY = "zh_nian", "zh_yue", "zh_ri"

#: Every fragment these functions can return; each is a prompt id in zh.toml only.
FRAGMENTS = frozenset(DIGIT + (LIANG, TEN, HUNDRED, THOUSAND, TEN_THOUSAND, HUNDRED_MILLION,
                               YUAN, JIAO, FEN, YEAR, MONTH, DAY))

#: Largest number spoken: 9999亿9999万9999.
MAX_NUMBER = 10**12 - 1

_GROUP_UNITS = ((THOUSAND, 1000), (HUNDRED, 100), (TEN, 10), (None, 1))


def number_fragments(n: int) -> list[str]:
    """``n`` (0 to MAX_NUMBER) as Mandarin fragments: 1005 -> 一千零五."""
    if not 0 <= n <= MAX_NUMBER:
        raise ValueError(f"cannot speak {n} in Mandarin: 0 to {MAX_NUMBER} only")
    if n == 0:
        return [DIGIT[0]]
    return _number(n, at_start=True, before_unit=False)


def digits_fragments(digits: str) -> list[str]:
    """Each digit on its own: "1005" -> 一零零五."""
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"not a digit string: {digits!r}")
    return [DIGIT[int(d)] for d in digits]


def date_fragments(day: date) -> list[str]:
    """2026-12-01 -> 二零二六年十二月一日."""
    return (digits_fragments(f"{day.year:04d}") + [YEAR]
            + number_fragments(day.month) + [MONTH]
            + number_fragments(day.day) + [DAY])


def money_fragments(amount: Decimal) -> list[str]:
    """Yuan, jiao and fen, rounded to the fen: 1234.05 -> 一千二百三十四元零五分."""
    fen_total = int(amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) * 100)
    if fen_total < 0:
        raise ValueError(f"cannot speak a negative amount: {amount}")
    yuan, cents = divmod(fen_total, 100)
    jiao, fen = divmod(cents, 10)
    spoken: list[str] = []
    if yuan or not cents:
        spoken += number_fragments(yuan) + [YUAN]
    if jiao:
        spoken += number_fragments(jiao) + [JIAO]
    if fen:
        if yuan and not jiao:
            spoken.append(DIGIT[0])
        spoken += number_fragments(fen) + [FEN]
    return spoken


def _number(n: int, *, at_start: bool, before_unit: bool) -> list[str]:
    """1 <= n: split off 亿 and 万 from the top, one 零 for a gap below them."""
    for unit_id, unit in ((HUNDRED_MILLION, 10**8), (TEN_THOUSAND, 10**4)):
        if n >= unit:
            high, rest = divmod(n, unit)
            spoken = _number(high, at_start=at_start, before_unit=True) + [unit_id]
            if rest:
                if rest < unit // 10:
                    spoken.append(DIGIT[0])
                spoken += _number(rest, at_start=False, before_unit=before_unit)
            return spoken
    return _group(n, at_start=at_start, before_unit=before_unit)


def _group(n: int, *, at_start: bool, before_unit: bool) -> list[str]:
    """1 <= n < 10000; ``before_unit``: 万 or 亿 follows this group."""
    spoken: list[str] = []
    gap = False
    for unit_id, unit in _GROUP_UNITS:
        digit = n // unit % 10
        if digit == 0:
            gap = bool(spoken)
            continue
        if gap:
            spoken.append(DIGIT[0])
            gap = False
        first = not spoken
        if first and digit == 2 and (unit_id in (THOUSAND, HUNDRED) or (unit_id is None and before_unit)):
            spoken.append(LIANG)
        elif not (first and at_start and digit == 1 and unit_id == TEN):
            spoken.append(DIGIT[digit])
        if unit_id:
            spoken.append(unit_id)
    return spoken
