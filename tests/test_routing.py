"""Routing: which queue and priority a caller who needs a person gets, and when anyone answers."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from ivr.config import get_settings, load_settings, set_settings
from ivr.db.models import Customer, PaymentFrequency, Policy, PolicyStatus, Tier
from ivr.db.session import session_scope
from ivr.domain.routing import (
    CalendarError,
    OpeningCalendar,
    Route,
    Standing,
    annual_premium,
    decide,
    is_open,
    load_holidays,
    parse_opening_hours,
    route,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
THRESHOLD = Decimal(50000)
STANDARD = Standing(Tier.STANDARD, Decimal("3000"))
VIP_TIER = Standing(Tier.VIP, Decimal("0"))
BIG_PREMIUM = Standing(Tier.STANDARD, THRESHOLD)


def decided(standing: Standing | None, intent: str = "") -> Route:
    return decide(standing, intent, THRESHOLD, 10)


# --- the routing rules -------------------------------------------------------------------------


def test_unknown_caller_goes_to_general_at_normal_priority():
    assert decided(None) == Route("general", 0, "unknown_caller")


def test_standard_customer_without_an_intent_goes_to_general():
    assert decided(STANDARD) == Route("general", 0, "standard")


def test_vip_tier_goes_to_the_vip_queue_ahead_of_others():
    assert decided(VIP_TIER) == Route("vip", 10, "vip_tier")


def test_annual_premium_at_the_threshold_makes_a_customer_vip_and_just_below_does_not():
    assert decided(BIG_PREMIUM) == Route("vip", 10, "vip_premium")
    assert decided(Standing(Tier.STANDARD, THRESHOLD - Decimal("0.01"))).queue == "general"


def test_claim_intent_goes_to_claims_and_a_vip_keeps_vip_priority_there():
    assert decided(STANDARD, "claim") == Route("claims", 0, "claim")
    assert decided(VIP_TIER, "claim") == Route("claims", 10, "claim+vip_tier")


def test_complaint_intent_goes_to_complaints_even_from_an_unknown_caller():
    assert decided(None, "complaint") == Route("complaints", 0, "complaint")
    assert decided(BIG_PREMIUM, "complaint") == Route("complaints", 10, "complaint+vip_premium")


@pytest.mark.parametrize("intent", ["anti_fraud", "agent_check", "sales_agent_line", "something_new"])
def test_other_intents_wait_in_general_or_vip(intent):
    assert decided(STANDARD, intent).queue == "general"
    assert decided(VIP_TIER, intent) == Route("vip", 10, "vip_tier")


def test_annual_premium_counts_each_payment_frequency_and_single_premiums_not_at_all():
    premiums = [(Decimal(100), PaymentFrequency.MONTHLY), (Decimal(100), PaymentFrequency.QUARTERLY),
                (Decimal(100), PaymentFrequency.SEMI_ANNUAL), (Decimal(100), PaymentFrequency.ANNUAL),
                (Decimal(99999), PaymentFrequency.SINGLE)]
    assert annual_premium(premiums) == Decimal(1200 + 400 + 200 + 100)


def _set_policy(policy_no: str, **values: object) -> None:
    with session_scope() as session:
        policy = session.scalar(select(Policy).where(Policy.policy_no == policy_no))
        for name, value in values.items():
            setattr(policy, name, value)


NOW = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)  # Monday 10:00 in Shanghai


def test_route_reads_tier_and_premiums_of_in_force_and_grace_policies_only(small_book):
    assert route(small_book.customer_id, "", NOW) == Route("general", 0, "standard")

    _set_policy(small_book.motor_policy, premium=Decimal("2500.00"), payment_frequency=PaymentFrequency.MONTHLY)
    _set_policy(small_book.life_policy, premium=Decimal("20000.00"), status=PolicyStatus.GRACE)
    assert route(small_book.customer_id, "", NOW) == Route("vip", 10, "vip_premium")  # 30000 + 20000

    _set_policy(small_book.life_policy, status=PolicyStatus.LAPSED)
    assert route(small_book.customer_id, "", NOW).queue == "general"


def test_a_policy_whose_cover_ended_does_not_count(small_book):
    _set_policy(small_book.motor_policy, premium=Decimal("60000.00"), end_date=date(2026, 11, 22))
    assert route(small_book.customer_id, "", NOW).queue == "general"
    _set_policy(small_book.motor_policy, end_date=date(2026, 11, 23))  # ends today: still covered
    assert route(small_book.customer_id, "", NOW).queue == "vip"


def test_route_uses_the_vip_settings_and_the_customer_flag(small_book):
    set_settings(get_settings().replace(vip_annual_premium=1000, vip_priority=7))
    assert route(small_book.customer_id, "claim", NOW) == Route("claims", 7, "claim+vip_premium")
    with session_scope() as session:
        session.get(Customer, small_book.other_customer_id).tier = Tier.VIP
    assert route(small_book.other_customer_id, "", NOW) == Route("vip", 7, "vip_tier")


def test_a_customer_id_that_does_not_exist_is_routed_like_an_unknown_caller(small_book):
    assert route(999999, "", NOW) == Route("general", 0, "unknown_caller")


# --- opening hours -------------------------------------------------------------------------------


def calendar(hours: str = "mon-fri 08:00-20:00; sat 09:00-17:00", holidays: frozenset[date] = frozenset(),
             zone: str = "Asia/Shanghai") -> OpeningCalendar:
    return OpeningCalendar(parse_opening_hours(hours), holidays, ZoneInfo(zone))


def local(*args: int, zone: ZoneInfo = SHANGHAI) -> datetime:
    return datetime(*args, tzinfo=zone)


@pytest.mark.parametrize(("moment", "expected"), [
    (local(2026, 11, 23, 7, 59), False),  # Monday, a minute before opening
    (local(2026, 11, 23, 8, 0), True),  # opening minute
    (local(2026, 11, 23, 19, 59, 59), True),
    (local(2026, 11, 23, 20, 0), False),  # the end is exclusive
    (local(2026, 11, 28, 9, 0), True),  # Saturday
    (local(2026, 11, 28, 17, 0), False),
    (local(2026, 11, 29, 12, 0), False),  # Sunday: no rule
    (local(2026, 11, 24, 0, 0), False),  # midnight
])
def test_opening_hours_by_weekday_with_exclusive_ends(moment, expected):
    assert calendar().is_open(moment) is expected


def test_a_moment_in_utc_is_judged_in_the_centres_zone():
    assert calendar().is_open(datetime(2026, 11, 23, 0, 30, tzinfo=timezone.utc))  # 08:30 Monday in Shanghai
    assert not calendar().is_open(datetime(2026, 11, 22, 23, 30, tzinfo=timezone.utc))  # 07:30 Monday


def test_round_the_clock_hours_are_open_either_side_of_midnight():
    always = calendar("mon-sun 00:00-24:00")
    assert always.is_open(local(2026, 11, 29, 23, 59, 59))
    assert always.is_open(local(2026, 11, 30, 0, 0))


def test_a_span_across_midnight_is_written_as_two_days():
    late = calendar("fri 22:00-24:00; sat 00:00-02:00")
    assert late.is_open(local(2026, 11, 27, 23, 0)) and late.is_open(local(2026, 11, 28, 1, 59))
    assert not late.is_open(local(2026, 11, 28, 2, 0))
    with pytest.raises(CalendarError, match="split a span across midnight"):
        parse_opening_hours("fri 22:00-02:00")


def test_holidays_are_closed_all_day_in_local_time():
    holiday = calendar(holidays=frozenset({date(2026, 10, 1)}))  # a Thursday
    assert not holiday.is_open(local(2026, 10, 1, 10, 0))
    assert holiday.is_open(local(2026, 10, 2, 10, 0))
    # 2026-09-30 20:00 UTC is already 1 October 04:00... and 02:00 UTC on 1 Oct is 10:00 there
    assert not holiday.is_open(datetime(2026, 10, 1, 2, 0, tzinfo=timezone.utc))


def test_shanghai_has_no_daylight_saving_so_summer_and_winter_hours_match_in_utc():
    for day in (date(2026, 1, 15), date(2026, 7, 15)):  # Thursdays
        assert calendar().is_open(datetime(day.year, day.month, day.day, 0, 0, tzinfo=timezone.utc))  # 08:00
        assert not calendar().is_open(datetime(day.year, day.month, day.day, 12, 0, tzinfo=timezone.utc))  # 20:00


def test_a_zone_with_daylight_saving_follows_local_clock_time():
    london = calendar("mon-fri 09:00-17:00", zone="Europe/London")
    assert london.is_open(datetime(2026, 7, 15, 8, 30, tzinfo=timezone.utc))  # 09:30 BST
    assert not london.is_open(datetime(2026, 1, 15, 8, 30, tzinfo=timezone.utc))  # 08:30 GMT


def test_day_lists_several_spans_and_an_empty_calendar():
    hours = parse_opening_hours("mon,wed-thu 09:00-12:00, 13:00-17:00")
    assert hours == {0: ((540, 720), (780, 1020)), 2: ((540, 720), (780, 1020)), 3: ((540, 720), (780, 1020))}
    assert parse_opening_hours("") == {}
    assert not calendar("").is_open(local(2026, 11, 23, 10, 0))


@pytest.mark.parametrize("text", ["monday 08:00-20:00", "mon-fri 8-20", "fri-mon 08:00-20:00",
                                  "mon 08:00-25:00", "mon 10:00-09:00"])
def test_unreadable_opening_hours_say_what_is_wrong(text):
    with pytest.raises(CalendarError, match="opening_hours"):
        parse_opening_hours(text)


def test_a_naive_moment_is_refused():
    with pytest.raises(ValueError, match="naive"):
        calendar().is_open(datetime(2026, 11, 23, 10, 0))


def test_holidays_from_dates_and_files_with_comments(tmp_path: Path):
    path = tmp_path / "holidays.txt"
    path.write_text("# national days\n2026-10-01\n2026-10-02  # second day\n\n", encoding="utf-8")
    assert load_holidays(f"2026-01-01, {path}") == {date(2026, 1, 1), date(2026, 10, 1), date(2026, 10, 2)}
    assert load_holidays("") == frozenset()


def test_unreadable_holidays_name_the_file_and_line(tmp_path: Path):
    path = tmp_path / "holidays.txt"
    path.write_text("2026-10-01\n2026-13-01\n", encoding="utf-8")
    with pytest.raises(CalendarError, match=r"line 2: '2026-13-01'"):
        load_holidays(str(path))
    with pytest.raises(CalendarError, match="cannot read the file"):
        load_holidays(str(tmp_path / "missing.txt"))
    with pytest.raises(CalendarError, match="not a YYYY-MM-DD"):
        load_holidays("2026-02-30")


def test_is_open_reads_the_settings_and_a_toml_list_of_holidays(tmp_path: Path):
    config = tmp_path / "hotline.toml"
    config.write_text('opening_hours = "mon-sun 00:00-24:00"\nholidays = [2026-10-01, "2026-10-02"]\n'
                      'timezone = "Asia/Shanghai"\n', encoding="utf-8")
    settings = load_settings({"IVR_CONFIG_FILE": str(config)})
    assert settings.holidays == "2026-10-01,2026-10-02"
    previous = get_settings()
    set_settings(settings)
    try:
        assert is_open(local(2026, 10, 3, 3, 0))
        assert not is_open(local(2026, 10, 2, 12, 0))
    finally:
        set_settings(previous)


def test_timezone_setting_is_one_zone_for_everything():
    assert load_settings({}).zone() == SHANGHAI
    assert load_settings({"IVR_TIMEZONE": "UTC"}).zone() == ZoneInfo("UTC")
