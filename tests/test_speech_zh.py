"""Mandarin numbers, digits, dates and money, read as a Mandarin speaker reads them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ivr.flows.prompts import PROMPTS
from ivr.flows.speech_zh import (FRAGMENTS, MAX_NUMBER, date_fragments, digits_fragments, money_fragments,
                                 number_fragments)


def spoken(fragments: list[str]) -> str:
    """The Chinese text of the fragments, as zh.toml has it."""
    return "".join(PROMPTS["zh"][fragment] for fragment in fragments)


@pytest.mark.parametrize("number, text", [
    (0, "零"), (1, "一"), (7, "七"), (19, "十九"), (99, "九十九"), (123, "一百二十三"),
    (1234, "一千二百三十四"), (123456789, "一亿两千三百四十五万六千七百八十九"),
])
def test_plain_numbers(number, text):
    assert spoken(number_fragments(number)) == text


@pytest.mark.parametrize("number, text", [
    (101, "一百零一"), (1005, "一千零五"), (1050, "一千零五十"), (1500, "一千五百"),
    (10010, "一万零一十"), (10100, "一万零一百"), (100200, "十万零两百"), (1000000, "一百万"),
    (1020000, "一百零二万"), (10000001, "一千万零一"), (100000000, "一亿"), (100010000, "一亿零一万"),
    (105000000, "一亿零五百万"), (150000000, "一亿五千万"), (100000005, "一亿零五"),
])
def test_one_zero_for_each_gap_and_none_at_the_end(number, text):
    assert spoken(number_fragments(number)) == text


@pytest.mark.parametrize("number, text", [
    (10, "十"), (15, "十五"), (100000, "十万"), (110000, "十一万"), (1000000000, "十亿"),
    (110, "一百一十"), (1010, "一千零一十"), (10010, "一万零一十"), (210000, "二十一万"),
])
def test_ten_is_shi_at_the_start_and_yi_shi_after_other_digits(number, text):
    assert spoken(number_fragments(number)) == text


@pytest.mark.parametrize("number, text", [
    (2, "二"), (20, "二十"), (22, "二十二"), (200, "两百"), (202, "两百零二"), (2000, "两千"),
    (2222, "两千二百二十二"), (1200, "一千二百"), (12000, "一万两千"), (20000, "两万"), (22000, "两万两千"),
    (200000, "二十万"), (1020000, "一百零二万"), (200000000, "两亿"), (220000000, "两亿两千万"),
])
def test_liang_before_bai_qian_wan_yi_at_the_head_of_a_group(number, text):
    assert spoken(number_fragments(number)) == text


def test_largest_number_and_beyond():
    assert spoken(number_fragments(MAX_NUMBER)) == "九千九百九十九亿九千九百九十九万九千九百九十九"
    for wrong in (-1, MAX_NUMBER + 1):
        with pytest.raises(ValueError):
            number_fragments(wrong)


@pytest.mark.parametrize("amount, text", [
    ("1234.50", "一千二百三十四元五角"), ("1234.5", "一千二百三十四元五角"),
    ("1234.05", "一千二百三十四元零五分"), ("1234.56", "一千二百三十四元五角六分"),
    ("1234.00", "一千二百三十四元"), ("1234", "一千二百三十四元"), ("0.5", "五角"), ("0.05", "五分"),
    ("0.56", "五角六分"), ("0", "零元"), ("10.10", "十元一角"), ("2000.02", "两千元零二分"),
    ("3250.005", "三千二百五十元零一分"),  # rounded half up to the fen
])
def test_money_in_yuan_jiao_and_fen(amount, text):
    assert spoken(money_fragments(Decimal(amount))) == text


def test_a_negative_amount_is_refused():
    with pytest.raises(ValueError):
        money_fragments(Decimal("-1"))


@pytest.mark.parametrize("day, text", [
    (date(2026, 12, 1), "二零二六年十二月一日"), (date(2020, 2, 20), "二零二零年二月二十日"),
    (date(2009, 10, 31), "二零零九年十月三十一日"), (date(2031, 1, 12), "二零三一年一月十二日"),
])
def test_dates_read_the_year_digit_by_digit(day, text):
    assert spoken(date_fragments(day)) == text


def test_digits_one_by_one_with_yi_not_yao():
    assert spoken(digits_fragments("8810010012")) == "八八一零零一零零一二"
    for wrong in ("12a4", "", "１２", "-1"):
        with pytest.raises(ValueError):
            digits_fragments(wrong)


def test_every_fragment_is_in_the_mandarin_catalogue():
    assert FRAGMENTS <= PROMPTS["zh"].keys()
