"""Campaigns: definitions, selection, planning, and the rules checked again just before every dial."""

from __future__ import annotations

import threading
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from ivr.config import get_settings, set_settings
from ivr.db.models import Campaign, CampaignAttempt, Customer, CustomerPhone, PhoneKind, Policy, PolicyStatus, ProductLine
from ivr.db.session import session_scope
from ivr.domain import campaigns
from ivr.domain.campaigns import AttemptStatus, CampaignSpec, CampaignState, DialAction, DialDecision
from ivr.domain.dnc import DncSource, opt_out
from ivr.domain.errors import InvalidTransition, ValidationError
from ivr.testing.small_book import SmallBook

SHANGHAI = ZoneInfo("Asia/Shanghai")
CYCLE = date(2026, 12, 1)  # the small book's due date


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in November 2026, Shanghai time, as UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI).astimezone(timezone.utc)


MORNING = local(20, 10)


def due_reminder(name: str = "due", **changes: object) -> int:
    spec = CampaignSpec(name=name, message="premium due", due_within_days=30)
    return campaigns.create_campaign(CampaignSpec(**{**spec.__dict__, **changes}), "tester", MORNING).id


def running(name: str = "due", **changes: object) -> int:
    campaign_id = due_reminder(name, **changes)
    campaigns.start_campaign(campaign_id, MORNING)
    return campaign_id


def set_policy(policy_no: str, **values: object) -> None:
    with session_scope() as session:
        session.execute(update(Policy).where(Policy.policy_no == policy_no).values(**values))


def attempts(campaign_id: int) -> list[CampaignAttempt]:
    with session_scope() as session:
        return list(session.scalars(select(CampaignAttempt).where(CampaignAttempt.campaign_id == campaign_id)
                                    .order_by(CampaignAttempt.policy_id, CampaignAttempt.attempt_no)))


def attempt_for(campaign_id: int, policy_no: str, attempt_no: int = 1) -> CampaignAttempt:
    with session_scope() as session:
        return session.scalars(select(CampaignAttempt).join(Policy, Policy.id == CampaignAttempt.policy_id).where(
            CampaignAttempt.campaign_id == campaign_id, Policy.policy_no == policy_no,
            CampaignAttempt.attempt_no == attempt_no)).one()


def planned(small_book: SmallBook, name: str = "due", at: datetime = MORNING, **changes: object) -> tuple[int, int]:
    """A running campaign planned ``at``; the id of its first attempt at the motor policy."""
    campaign_id = running(name, **changes)
    campaigns.plan_attempts(campaign_id, at)
    return campaign_id, attempt_for(campaign_id, small_book.motor_policy).id


def dial(attempt_id: int, now: datetime, status: AttemptStatus, key: str | None = None,
         **message: object) -> campaigns.RecordedResult:
    assert campaigns.dial_decision(attempt_id, now) == DialDecision(DialAction.GO)
    assert campaigns.begin_attempt(attempt_id, f"camp-{attempt_id}", now)
    return campaigns.record_result(attempt_id, status, key, now + timedelta(seconds=40), **message)  # type: ignore


# --- definitions ---------------------------------------------------------------------------------


def test_a_new_campaign_is_a_draft_with_the_default_rules(database_url: str) -> None:
    view = campaigns.get_campaign(due_reminder())

    assert view.state is CampaignState.DRAFT and view.created_by == "tester"
    assert (view.window_start, view.window_end) == (time(9), time(20))
    assert (view.max_attempts, view.min_gap_hours) == (3, 4)


@pytest.mark.parametrize("window", ["08:00-20:00", "09:00-21:30", "20:00-09:00", "9-20", "09:00-25:00"])
def test_a_window_reaching_into_the_night_or_unreadable_is_refused(database_url: str, window: str) -> None:
    with pytest.raises(ValidationError):
        due_reminder(window=window)


def test_a_configured_default_window_reaching_into_the_night_is_refused_too(database_url: str) -> None:
    set_settings(get_settings().replace(campaign_window="08:00-22:00"))

    with pytest.raises(ValidationError, match="21:00-09:00"):
        due_reminder()


def test_a_window_up_to_21_00_is_allowed(database_url: str) -> None:
    assert campaigns.get_campaign(due_reminder(window="09:00-21:00")).window_end == time(21)


def test_a_campaign_must_say_whom_it_calls_and_have_a_new_name(database_url: str) -> None:
    due_reminder()

    with pytest.raises(ValidationError, match="choose whom to call"):
        due_reminder("other", due_within_days=None)
    with pytest.raises(ValidationError) as taken:
        due_reminder()
    assert taken.value.error_id == "campaign_name_taken"


def test_a_campaign_can_be_updated_until_it_is_stopped(database_url: str) -> None:
    campaign_id = due_reminder()

    changed = campaigns.update_campaign(
        campaign_id, CampaignSpec("due", "new text", include_grace=True, max_attempts=2), MORNING)
    campaigns.stop_campaign(campaign_id, MORNING)

    assert changed.message == "new text" and changed.include_grace and changed.max_attempts == 2
    with pytest.raises(InvalidTransition):
        campaigns.update_campaign(campaign_id, CampaignSpec("due", "again", include_grace=True), MORNING)


def test_start_pause_resume_stop_and_the_moves_refused(database_url: str) -> None:
    campaign_id = due_reminder()
    with pytest.raises(InvalidTransition):
        campaigns.pause_campaign(campaign_id, MORNING)

    states = [campaigns.start_campaign(campaign_id, MORNING).state,
              campaigns.pause_campaign(campaign_id, MORNING).state,
              campaigns.start_campaign(campaign_id, MORNING).state,
              campaigns.stop_campaign(campaign_id, MORNING).state]

    assert states == [CampaignState.RUNNING, CampaignState.PAUSED, CampaignState.RUNNING, CampaignState.STOPPED]
    with pytest.raises(InvalidTransition, match="stopped; it cannot start"):
        campaigns.start_campaign(campaign_id, MORNING)


# --- selection and planning ----------------------------------------------------------------------


def test_selection_takes_payable_unpaid_policies_due_in_the_window(small_book: SmallBook) -> None:
    set_policy(small_book.life_policy, status=PolicyStatus.TERMINATED)
    set_policy(small_book.other_policy, next_due_date=date(2027, 3, 1))  # beyond 30 days

    targets = campaigns.select_targets(due_reminder(), MORNING)

    assert [(t.policy_no, t.cycle, t.number) for t in targets] == [(small_book.motor_policy, CYCLE, "+8613800138001")]


def test_selection_by_product_line_and_branch(small_book: SmallBook) -> None:
    lines = campaigns.select_targets(due_reminder("life", product_lines=(ProductLine.LIFE,)), MORNING)
    beijing = campaigns.select_targets(due_reminder("bj", branches=("北京分公司",)), MORNING)
    shanghai = campaigns.select_targets(due_reminder("sh", branches=("上海分公司",)), MORNING)

    assert [t.policy_no for t in lines] == [small_book.life_policy]
    assert len(beijing) == 3 and shanghai == []


def test_grace_and_lapsing_soon_select_policies_in_their_grace_period(small_book: SmallBook) -> None:
    grace_days = get_settings().grace_period_days
    set_policy(small_book.motor_policy, status=PolicyStatus.GRACE, next_due_date=date(2026, 11, 1))  # lapses 12-31
    set_policy(small_book.life_policy, status=PolicyStatus.GRACE,
               next_due_date=date(2026, 11, 20) - timedelta(days=grace_days - 5))  # lapses in 5 days

    grace = campaigns.select_targets(due_reminder("grace", due_within_days=None, include_grace=True), MORNING)
    lapsing = campaigns.select_targets(due_reminder("lapsing", due_within_days=None, lapsing_within_days=7), MORNING)

    assert {t.policy_no for t in grace} == {small_book.motor_policy, small_book.life_policy}
    assert [t.policy_no for t in lapsing] == [small_book.life_policy]


def test_the_mobile_is_called_first_and_a_blocked_mobile_gives_way_to_the_home_phone(small_book: SmallBook) -> None:
    with session_scope() as session:
        session.add(CustomerPhone(customer_id=small_book.customer_id, number="+861012345678", kind=PhoneKind.HOME))
    campaign_id = due_reminder(product_lines=(ProductLine.MOTOR,))
    first = campaigns.select_targets(campaign_id, MORNING)

    opt_out("13800138001", None, DncSource.IMPORT, MORNING, actor="test")

    assert [t.number for t in first] == ["+8613800138001"]
    assert [t.number for t in campaigns.select_targets(campaign_id, MORNING)] == ["+861012345678"]


def test_planning_twice_creates_no_duplicates(small_book: SmallBook) -> None:
    campaign_id = due_reminder()

    first = campaigns.plan_attempts(campaign_id, MORNING)
    second = campaigns.plan_attempts(campaign_id, MORNING + timedelta(hours=1))

    assert (first.selected, first.planned, first.already_planned) == (3, 3, 0)
    assert (second.selected, second.planned, second.already_planned) == (3, 0, 3)
    assert len(attempts(campaign_id)) == 3


def test_a_stopped_campaign_plans_nothing(small_book: SmallBook) -> None:
    campaign_id = due_reminder()
    campaigns.stop_campaign(campaign_id, MORNING)

    with pytest.raises(InvalidTransition):
        campaigns.plan_attempts(campaign_id, MORNING)


# --- dial time -----------------------------------------------------------------------------------


def test_a_policy_paid_between_selection_and_dial_is_skipped_as_paid(small_book: SmallBook) -> None:
    _, attempt_id = planned(small_book)

    set_policy(small_book.motor_policy, paid_to_date=date(2027, 12, 1), next_due_date=date(2027, 12, 1))

    assert campaigns.dial_decision(attempt_id, MORNING) == DialDecision(DialAction.SKIP, "paid")
    assert campaigns.skip_attempt(attempt_id, "paid", MORNING)
    assert not campaigns.begin_attempt(attempt_id, "late-channel", MORNING)


@pytest.mark.parametrize(("change", "reason"), [
    ({"status": PolicyStatus.TERMINATED}, "terminated"),
    ({"status": PolicyStatus.LAPSED}, "no_longer_matching"),
    ({"product_line": ProductLine.HEALTH}, "no_longer_matching"),
])
def test_a_terminated_or_no_longer_matching_policy_is_skipped(small_book: SmallBook, change: dict[str, object],
                                                              reason: str) -> None:
    _, attempt_id = planned(small_book, product_lines=(ProductLine.MOTOR,))

    set_policy(small_book.motor_policy, **change)

    assert campaigns.dial_decision(attempt_id, MORNING) == DialDecision(DialAction.SKIP, reason)


def test_a_number_put_on_do_not_call_is_never_called_by_a_second_campaign(small_book: SmallBook) -> None:
    _, first_attempt = planned(small_book, "first")
    _, second_attempt = planned(small_book, "second")

    opt_out("+8613800138001", small_book.customer_id, DncSource.IVR_KEY_9, MORNING, actor="test")
    later = running("later")

    assert campaigns.dial_decision(first_attempt, MORNING).reason == "do_not_call"
    assert campaigns.dial_decision(second_attempt, MORNING + timedelta(days=5)).reason == "do_not_call"
    assert {t.customer_id for t in campaigns.select_targets(later, MORNING)} == {small_book.other_customer_id}


def test_outside_the_window_the_attempt_waits_for_the_next_window_start(small_book: SmallBook) -> None:
    _, attempt_id = planned(small_book, at=local(20, 6))

    early = campaigns.dial_decision(attempt_id, local(20, 7))
    late = campaigns.dial_decision(attempt_id, local(20, 20, 30))

    assert early == DialDecision(DialAction.WAIT, "window", local(20, 9))
    assert late == DialDecision(DialAction.WAIT, "window", local(21, 9))


def test_the_window_is_the_customers_local_time_when_they_live_elsewhere(small_book: SmallBook) -> None:
    _, attempt_id = planned(small_book, at=local(20, 6))
    with session_scope() as session:
        session.execute(update(Customer).where(Customer.id == small_book.customer_id)
                        .values(time_zone="Europe/London"))  # 8 hours behind Shanghai in November
    london = ZoneInfo("Europe/London")

    shanghai_morning = campaigns.dial_decision(attempt_id, local(20, 10))  # 02:00 in London
    london_morning = campaigns.dial_decision(attempt_id, datetime(2026, 11, 20, 9, tzinfo=london))

    assert shanghai_morning == DialDecision(DialAction.WAIT, "window", datetime(2026, 11, 20, 9, tzinfo=london))
    assert london_morning == DialDecision(DialAction.GO)  # 17:00 in Shanghai


def test_never_between_21_00_and_09_00_even_if_a_campaign_says_so(small_book: SmallBook) -> None:
    campaign_id, attempt_id = planned(small_book, at=local(20, 6))
    with session_scope() as session:  # written past the validation, as an old row or a bad hand edit would be
        session.execute(update(Campaign).where(Campaign.id == campaign_id).values(window_start="00:00",
                                                                                   window_end="23:59"))

    assert campaigns.dial_decision(attempt_id, local(20, 22)).wait_until == local(21, 9)
    assert campaigns.dial_decision(attempt_id, local(20, 8, 59)).wait_until == local(20, 9)
    assert campaigns.dial_decision(attempt_id, local(20, 20, 59)).action is DialAction.GO


def test_no_calls_on_a_holiday(small_book: SmallBook) -> None:
    _, attempt_id = planned(small_book)
    set_settings(get_settings().replace(holidays="2026-11-20,2026-11-21"))

    assert campaigns.dial_decision(attempt_id, MORNING).wait_until == local(22, 9)


def test_a_paused_campaign_holds_its_attempts_and_a_stopped_one_skips_them(small_book: SmallBook) -> None:
    campaign_id, attempt_id = planned(small_book)

    campaigns.pause_campaign(campaign_id, MORNING)
    paused = campaigns.dial_decision(attempt_id, MORNING)
    campaigns.stop_campaign(campaign_id, MORNING)

    assert paused == DialDecision(DialAction.HOLD, "campaign_paused")
    assert campaigns.dial_decision(attempt_id, MORNING) == DialDecision(DialAction.SKIP, "campaign_stopped")


def test_busy_and_unanswered_calls_are_retried_4_hours_apart_at_most_3_times(small_book: SmallBook) -> None:
    campaign_id, first = planned(small_book)

    busy = dial(first, MORNING, AttemptStatus.BUSY)
    assert busy.retry_not_before == MORNING + timedelta(seconds=40, hours=4)
    assert campaigns.dial_decision(busy.retry_attempt_id, MORNING + timedelta(hours=1)) == DialDecision(
        DialAction.WAIT, "too_soon", busy.retry_not_before)
    unanswered = dial(busy.retry_attempt_id, busy.retry_not_before, AttemptStatus.NO_ANSWER)
    third = unanswered.retry_not_before
    assert third == busy.retry_not_before + timedelta(seconds=40, hours=4)  # no answer twice: 2 h doubled
    last = dial(unanswered.retry_attempt_id, third, AttemptStatus.BUSY)

    assert last.retry_attempt_id is None
    policy_id = attempt_for(campaign_id, small_book.motor_policy).policy_id
    motor = [a for a in attempts(campaign_id) if a.policy_id == policy_id]
    assert [(a.attempt_no, a.status) for a in motor] == [
        (1, AttemptStatus.BUSY), (2, AttemptStatus.NO_ANSWER), (3, AttemptStatus.BUSY)]


def test_attempts_per_policy_and_cycle_count_across_campaigns(small_book: SmallBook) -> None:
    _, first = planned(small_book, "first", max_attempts=1)
    _, second = planned(small_book, "second", max_attempts=1)

    dial(first, MORNING, AttemptStatus.ANSWERED, "2")

    assert campaigns.dial_decision(second, MORNING + timedelta(hours=5)) == DialDecision(DialAction.SKIP,
                                                                                          "max_attempts")


def test_a_number_that_failed_as_invalid_is_never_tried_again(small_book: SmallBook) -> None:
    _, first = planned(small_book, "first")

    result = dial(first, MORNING, AttemptStatus.INVALID_NUMBER)
    _, again = planned(small_book, "second")

    assert result.retry_attempt_id is None
    assert campaigns.dial_decision(again, MORNING + timedelta(hours=5)).reason == "invalid_number"


def test_retry_after_doubles_for_busy_and_no_answer_and_never_retries_the_others() -> None:
    assert [campaigns.retry_after(AttemptStatus.BUSY, n) for n in (1, 2, 3)] == [
        timedelta(hours=1), timedelta(hours=2), timedelta(hours=4)]
    assert campaigns.retry_after(AttemptStatus.NO_ANSWER, 2) == timedelta(hours=4)
    assert campaigns.retry_after(AttemptStatus.INVALID_NUMBER, 1) is None
    assert campaigns.retry_after(AttemptStatus.ANSWERED, 1) is None


def test_two_workers_beginning_the_same_attempt_exactly_one_dials(small_book: SmallBook) -> None:
    _, attempt_id = planned(small_book)
    barrier = threading.Barrier(4)
    results: list[bool] = []

    def worker(n: int) -> None:
        barrier.wait()
        results.append(campaigns.begin_attempt(attempt_id, f"chan-{n}", MORNING))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False, False, False, True]
    assert campaigns.dial_decision(attempt_id, MORNING).action is DialAction.SKIP


def test_a_channel_id_belongs_to_one_attempt(small_book: SmallBook) -> None:
    campaign_id, first = planned(small_book)
    other = attempt_for(campaign_id, small_book.life_policy).id
    campaigns.begin_attempt(first, "chan-1", MORNING)

    with pytest.raises(ValidationError, match="another attempt"):
        campaigns.begin_attempt(other, "chan-1", MORNING)


def test_a_result_is_recorded_once_with_its_key_and_duration(small_book: SmallBook) -> None:
    campaign_id, attempt_id = planned(small_book)
    with pytest.raises(InvalidTransition):
        campaigns.record_result(attempt_id, AttemptStatus.ANSWERED, "1", MORNING)

    dial(attempt_id, MORNING, AttemptStatus.ANSWERED, "1")

    recorded = attempt_for(campaign_id, small_book.motor_policy)
    assert (recorded.status, recorded.key_pressed, recorded.duration_seconds) == (AttemptStatus.ANSWERED, "1", 40)
    with pytest.raises(InvalidTransition):
        campaigns.record_result(attempt_id, AttemptStatus.BUSY, None, MORNING)


def test_already_paid_stops_calls_for_the_cycle_only(small_book: SmallBook) -> None:
    campaign_id, attempt_id = planned(small_book)
    _, again = planned(small_book, "second")
    policy_id = attempt_for(campaign_id, small_book.motor_policy).policy_id
    dial(attempt_id, MORNING, AttemptStatus.ANSWERED, "3")

    assert campaigns.report_paid(policy_id, CYCLE, attempt_id, MORNING)
    assert not campaigns.report_paid(policy_id, CYCLE, None, MORNING)

    assert campaigns.dial_decision(again, MORNING + timedelta(hours=5)).reason == "reported_paid"
    assert small_book.motor_policy not in {t.policy_no for t in campaigns.select_targets(campaign_id, MORNING)}
    set_policy(small_book.motor_policy, next_due_date=date(2026, 12, 15))  # the next cycle
    assert small_book.motor_policy in {t.policy_no for t in campaigns.select_targets(campaign_id, MORNING)}


def test_figures_for_the_campaign_page(small_book: SmallBook) -> None:
    campaign_id = running()
    campaigns.plan_attempts(campaign_id, MORNING)
    motor, life, other = (attempt_for(campaign_id, p).id for p in (small_book.motor_policy, small_book.life_policy,
                                                                    small_book.other_policy))
    dial(motor, MORNING, AttemptStatus.ANSWERED, "3", message_started_at=MORNING, message_delay_ms=300)
    campaigns.report_paid(attempt_for(campaign_id, small_book.motor_policy).policy_id, CYCLE, motor, MORNING)
    dial(life, MORNING, AttemptStatus.CUSTOMER_HUNG_UP)  # before the message began
    campaigns.skip_attempt(other, "do_not_call", MORNING)

    figures = campaigns.campaign_figures(campaign_id)

    assert (figures.targets, figures.attempts, figures.dialled, figures.reached) == (3, 3, 2, 2)
    assert figures.contact_rate == pytest.approx(2 / 3)
    assert (figures.already_paid, figures.abandoned, figures.abandoned_rate) == (1, 1, 0.5)
    assert (figures.answered_calls, figures.late_messages, figures.no_agent_free) == (2, 1, 0)
    assert figures.skipped_by_reason == {"do_not_call": 1}


def test_plan_attempts_records_when_the_campaign_was_planned(small_book: SmallBook) -> None:
    campaign_id = running()
    assert campaigns.get_campaign(campaign_id).last_planned_at is None

    campaigns.plan_attempts(campaign_id, MORNING)

    assert campaigns.get_campaign(campaign_id).last_planned_at == MORNING


@pytest.mark.parametrize(("status", "delay_ms", "started", "no_agent", "abandoned"), [
    (AttemptStatus.ANSWERED, 1999, True, False, False),  # spoke in time
    (AttemptStatus.ANSWERED, 2000, True, False, False),  # exactly 2 s: in time
    (AttemptStatus.ANSWERED, 2001, True, False, True),  # late
    (AttemptStatus.ANSWERED, None, True, False, False),  # began, delay unknown: not counted late
    (AttemptStatus.ANSWERED, None, False, False, True),  # never began (the flow never ran)
    (AttemptStatus.CUSTOMER_HUNG_UP, None, False, False, True),  # hung up before the message
    (AttemptStatus.CUSTOMER_HUNG_UP, 400, True, False, False),  # hung up after it began
    (AttemptStatus.ANSWERED, 400, True, True, True),  # wanted a person, none free
    (AttemptStatus.BUSY, None, False, False, False),  # nobody answered: not an answered call
    (AttemptStatus.FAILED, None, False, False, False),
])
def test_the_one_definition_of_an_abandoned_call(small_book: SmallBook, status: AttemptStatus, delay_ms: int | None,
                                                 started: bool, no_agent: bool, abandoned: bool) -> None:
    campaign_id = running()
    campaigns.plan_attempts(campaign_id, MORNING)
    motor = attempt_for(campaign_id, small_book.motor_policy).id
    dial(motor, MORNING, status, message_started_at=MORNING if started else None, message_delay_ms=delay_ms,
         agent_unavailable=no_agent)

    with session_scope() as session:
        counted = session.scalar(select(func.count()).select_from(CampaignAttempt).where(
            CampaignAttempt.id == motor, campaigns.abandoned_call()))
    assert counted == int(abandoned)
    assert campaigns.campaign_figures(campaign_id).abandoned == int(abandoned)
