"""The dialer: every attempt dialled at most once, within the rules and the pacing, whatever AMI does.

Against FakeAsterisk (ivr/testing/fake_ami.py), which answers Originate with an
OriginateResponse and Status by ChannelId, on the test's database (SQLite, or
PostgreSQL with IVR_TEST_DATABASE_URL).
"""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

import ivr.tasks.campaigns as campaign_tasks
from ivr.config import get_settings
from ivr.db.models import CampaignAttempt, Policy
from ivr.db.session import session_scope
from ivr.dialer import pacing
from ivr.dialer.dial import DialOutcome, await_result, dial_attempt, outbound_channel, result_for_reason
from ivr.dialer.reconcile import reconcile_attempts
from ivr.domain import campaigns
from ivr.domain.campaigns import AttemptStatus, CampaignSpec
from ivr.telephony.errors import AmiTimeout
from ivr.telephony.queues import QueueControl
from ivr.testing.fake_ami import FakeAsterisk
from ivr.testing.small_book import SmallBook

SHANGHAI = ZoneInfo("Asia/Shanghai")
MOBILE = "+8613800138001"  # the small book's C1, holder of the motor and life policies
BUSY, NO_ANSWER = 5, 3  # OriginateResponse reasons


def local(day: int, hour: int, minute: int = 0, second: float = 0) -> datetime:
    return (datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI) + timedelta(seconds=second)).astimezone(
        timezone.utc)


MORNING = local(20, 10)


@pytest.fixture
def fake() -> FakeAsterisk:
    return FakeAsterisk()


@pytest.fixture
def ami(fake: FakeAsterisk) -> QueueControl:
    return QueueControl(fake)


def campaign(small_book: SmallBook, **changes: object) -> int:
    spec = CampaignSpec(**{"name": "due", "message": "premium due", "due_within_days": 30,
                           "calls_per_second": 100.0, **changes})
    campaign_id = campaigns.create_campaign(spec, "tester", MORNING).id
    campaigns.start_campaign(campaign_id, MORNING)
    campaigns.plan_attempts(campaign_id, MORNING)
    return campaign_id


def attempt_ids(campaign_id: int) -> list[int]:
    with session_scope() as session:
        return list(session.scalars(select(CampaignAttempt.id).where(CampaignAttempt.campaign_id == campaign_id)
                                    .order_by(CampaignAttempt.policy_id, CampaignAttempt.attempt_no)))


def attempt(attempt_id: int) -> CampaignAttempt:
    with session_scope() as session:
        row = session.get(CampaignAttempt, attempt_id)
        assert row is not None
        return row


# --- one attempt ---------------------------------------------------------------------------------


def test_a_go_attempt_originates_once_with_its_channel_id_and_attempt_variable(small_book, fake, ami) -> None:
    first = attempt_ids(campaign(small_book))[0]

    outcome = dial_attempt(first, MORNING, ami)

    (originate,) = fake.originates()
    row = attempt(first)
    assert outcome.action == "originated" and outcome.channel_id == row.channel_id
    assert row.status is AttemptStatus.DIALING and row.started_at == MORNING
    assert originate["ChannelId"] == row.channel_id and len(row.channel_id or "") == 36  # a UUID
    assert originate["Channel"] == f"PJSIP/{MOBILE}@outbound"
    assert (originate["Context"], originate["Exten"], originate["Async"]) == ("hotline-outbound", "s", "true")
    assert originate["Variable"] == [f"CAMPAIGN_ATTEMPT={first}", f"CAMPAIGN_NUMBER={MOBILE}"]
    assert await_result(outcome, ami, lambda: MORNING) is None  # answered: the flow records the result
    assert attempt(first).status is AttemptStatus.DIALING


def test_a_redelivered_dial_dials_once(small_book, fake, ami) -> None:
    first = attempt_ids(campaign(small_book))[0]

    outcomes = [dial_attempt(first, MORNING, ami), dial_attempt(first, MORNING + timedelta(seconds=1), ami)]

    assert [o.action for o in outcomes] == ["originated", "skipped"]
    assert outcomes[1].reason == "already_dialing"
    assert len(fake.originates()) == 1
    assert attempt(first).status is AttemptStatus.DIALING  # the redelivery's skip changed nothing


def test_two_workers_racing_for_one_attempt_originate_once(small_book, fake, ami) -> None:
    first = attempt_ids(campaign(small_book))[0]
    outcomes: list[DialOutcome] = []
    start = threading.Barrier(4)

    def worker() -> None:
        start.wait()
        outcomes.append(dial_attempt(first, MORNING, ami))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(outcomes) == 4
    assert [o.action for o in outcomes].count("originated") == 1
    assert len(fake.originates()) == 1


def test_a_policy_paid_before_the_dial_is_skipped_and_not_called(small_book, fake, ami) -> None:
    campaign_id = campaign(small_book)
    with session_scope() as session:
        session.execute(update(Policy).where(Policy.policy_no == small_book.motor_policy)
                        .values(next_due_date=date(2027, 12, 1)))
    motor = next(a for a in attempt_ids(campaign_id) if _policy_no(a) == small_book.motor_policy)

    outcome = dial_attempt(motor, MORNING, ami)

    assert (outcome.action, outcome.reason) == ("skipped", "paid")
    assert attempt(motor).status is AttemptStatus.SKIPPED and attempt(motor).skip_reason == "paid"
    assert fake.originates() == []


def test_outside_the_window_nothing_is_dialled_and_the_retry_time_is_given(small_book, fake, ami) -> None:
    first = attempt_ids(campaign(small_book))[0]
    late_evening = local(20, 20, 30)

    outcome = dial_attempt(first, late_evening, ami)

    assert (outcome.action, outcome.reason) == ("wait", "window")
    assert outcome.retry_at == local(21, 9)
    assert fake.originates() == []
    assert attempt(first).status is AttemptStatus.PLANNED and attempt(first).not_before == local(21, 9)


def test_a_number_that_is_not_e164_is_never_sent_to_asterisk() -> None:
    assert outbound_channel("+8613800138001", "outbound") == "PJSIP/+8613800138001@outbound"
    for bad in ("13800138001", "+86 138", "+8613800138001@evil", "+0123456789", ""):
        with pytest.raises(ValueError):
            outbound_channel(bad, "outbound")


# --- pacing --------------------------------------------------------------------------------------


def test_pacing_arithmetic() -> None:
    assert pacing.slot_interval(4) == timedelta(milliseconds=250)
    assert pacing.batch_size(max_channels=10, dialing=7, calls_per_second=5, tick_seconds=10) == 3
    assert pacing.batch_size(max_channels=10, dialing=0, calls_per_second=0.2, tick_seconds=10) == 2
    assert pacing.batch_size(max_channels=10, dialing=12, calls_per_second=5, tick_seconds=10) == 0
    assert pacing.countdowns(3, 2) == [0.0, 0.5, 1.0]
    with pytest.raises(ValueError):
        pacing.slot_interval(0)


def test_pacing_caps_the_concurrent_calls(small_book, fake, ami) -> None:
    first, second, third = attempt_ids(campaign(small_book, max_channels=2))

    outcomes = [dial_attempt(a, MORNING + timedelta(seconds=n), ami) for n, a in enumerate((first, second, third))]

    assert [o.action for o in outcomes] == ["originated", "originated", "paced"]
    assert outcomes[2].reason == "channels" and attempt(third).status is AttemptStatus.PLANNED
    campaigns.record_result(first, AttemptStatus.ANSWERED, "3", MORNING + timedelta(seconds=60))
    assert dial_attempt(third, MORNING + timedelta(seconds=61), ami).action == "originated"
    assert len(fake.originates()) == 3


def test_pacing_books_slots_one_interval_apart_and_the_call_waits_for_its_slot(small_book, fake, ami) -> None:
    first, second, third = attempt_ids(campaign(small_book, calls_per_second=0.5))  # a slot every 2 s (+3 %)
    fake.originate_reasons[MOBILE] = BUSY
    fake.originate_reasons["+8613800138002"] = BUSY
    waits: list[float] = []
    slot = timedelta(seconds=2 * (1 + pacing.RATE_GUARD))

    started = dial_attempt(first, MORNING, ami, sleep=waits.append)
    too_soon = dial_attempt(second, MORNING + timedelta(milliseconds=500), ami, sleep=waits.append)
    booked = dial_attempt(second, MORNING + timedelta(milliseconds=1500), ami, sleep=waits.append)

    assert (started.action, booked.action) == ("originated", "originated")
    assert (too_soon.action, too_soon.reason) == ("paced", "rate")
    assert too_soon.retry_at == MORNING + slot - pacing.BOOK_AHEAD  # more than BOOK_AHEAD before its slot
    assert attempt(second).started_at == MORNING + slot  # its slot, exactly one interval after the first
    assert waits[0] == 0.0 and 0.4 < waits[1] <= (slot - timedelta(milliseconds=1500)).total_seconds()
    assert len(fake.originates()) == 2 and attempt(third).status is AttemptStatus.PLANNED


def test_a_late_worker_starts_now_and_never_catches_up_with_a_burst(small_book, fake, ami) -> None:
    first, second, third = attempt_ids(campaign(small_book, calls_per_second=1.0))
    fake.originate_reasons[MOBILE] = BUSY
    fake.originate_reasons["+8613800138002"] = BUSY

    dial_attempt(first, MORNING, ami, sleep=lambda _: None)
    dial_attempt(second, MORNING + timedelta(seconds=10), ami, sleep=lambda _: None)  # long after its slot
    burst = dial_attempt(third, MORNING + timedelta(seconds=10, milliseconds=500), ami, sleep=lambda _: None)

    assert attempt(second).started_at == MORNING + timedelta(seconds=10)
    assert burst.action == "originated"
    assert attempt(third).started_at == MORNING + timedelta(seconds=10) + timedelta(seconds=1 + pacing.RATE_GUARD)


# --- outcomes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("reason", "status", "wait"), [(BUSY, AttemptStatus.BUSY, timedelta(hours=4)),
                                                        (NO_ANSWER, AttemptStatus.NO_ANSWER, timedelta(hours=4))])
def test_busy_and_no_answer_are_recorded_and_retried(small_book, fake, ami, reason, status, wait) -> None:
    campaign_id = campaign(small_book)
    first = attempt_ids(campaign_id)[0]
    fake.originate_reasons[MOBILE] = reason
    ended = MORNING + timedelta(seconds=35)

    recorded = await_result(dial_attempt(first, MORNING, ami), ami, lambda: ended)

    assert recorded is status and attempt(first).status is status
    retry = attempt(max(attempt_ids(campaign_id)))
    assert (retry.attempt_no, retry.status) == (2, AttemptStatus.PLANNED)
    # campaigns.retry_after: busy 1 h, no answer 2 h, but never sooner than min_gap_hours (4)
    assert retry.not_before == ended + max(wait, campaigns.retry_after(status, 1) or wait)


def test_originate_reasons_map_to_results() -> None:
    assert [result_for_reason(r) for r in ("busy", "no answer", "congestion", "failed", "hung up", "reason 2")] == [
        AttemptStatus.BUSY, AttemptStatus.NO_ANSWER, AttemptStatus.CONGESTION, AttemptStatus.FAILED,
        AttemptStatus.NO_ANSWER, AttemptStatus.FAILED]


def test_hangup_causes_decide_over_the_originate_reason() -> None:
    # (reason, Q.850 cause) as Asterisk 22 reports a 486, 404, 484, 503, 603 and a cause we do not map
    seen = [("failed", 17), ("failed", 1), ("failed", 28), ("failed", 41), ("failed", 21), ("no answer", 102)]
    assert [result_for_reason(reason, cause) for reason, cause in seen] == [
        AttemptStatus.BUSY, AttemptStatus.INVALID_NUMBER, AttemptStatus.INVALID_NUMBER, AttemptStatus.CONGESTION,
        AttemptStatus.NO_ANSWER, AttemptStatus.NO_ANSWER]


def test_a_number_that_fails_as_unallocated_is_recorded_invalid_and_never_retried(small_book, fake, ami) -> None:
    campaign_id = campaign(small_book)
    first = attempt_ids(campaign_id)[0]
    fake.originate_reasons[MOBILE], fake.originate_causes[MOBILE] = 0, 1  # 404 Not Found

    recorded = await_result(dial_attempt(first, MORNING, ami), ami, lambda: MORNING + timedelta(seconds=2))

    assert recorded is AttemptStatus.INVALID_NUMBER
    assert [a for a in attempt_ids(campaign_id) if attempt(a).policy_id == attempt(first).policy_id] == [first]


# --- AMI faults ----------------------------------------------------------------------------------


def test_ami_down_at_originate_puts_the_attempt_back_and_it_is_dialled_once_later(small_book, fake, ami) -> None:
    first = attempt_ids(campaign(small_book))[0]
    fake.up = False

    down = dial_attempt(first, MORNING, ami)

    assert down.action == "ami_down" and down.retry_at is not None
    assert attempt(first).status is AttemptStatus.PLANNED and attempt(first).channel_id is None
    fake.up = True
    later = dial_attempt(first, MORNING + timedelta(seconds=5), ami)
    again = dial_attempt(first, MORNING + timedelta(seconds=6), ami)
    assert (later.action, again.action) == ("originated", "skipped")
    assert len(fake.originates()) == 1


def test_an_originate_whose_fate_is_unknown_stays_dialing_and_is_never_sent_again(small_book, fake, ami,
                                                                                 monkeypatch) -> None:
    first = attempt_ids(campaign(small_book))[0]

    def lost(*args: object, **kwargs: object) -> str:
        fake.sent.append({"Action": "Originate", **kwargs})  # it went out; the reply never came
        raise AmiTimeout("no reply to Originate")

    monkeypatch.setattr(ami, "originate", lost)
    unknown = dial_attempt(first, MORNING, ami)
    monkeypatch.undo()
    redelivered = dial_attempt(first, MORNING + timedelta(seconds=5), ami)

    assert unknown.action == "unknown" and attempt(first).status is AttemptStatus.DIALING
    assert redelivered.action == "skipped" and len(fake.originates()) == 1


# --- reconciliation ------------------------------------------------------------------------------


def test_reconciliation_closes_stuck_attempts_without_a_channel_and_leaves_calls_in_progress(
        small_book, fake, ami) -> None:
    first, second, third = attempt_ids(campaign(small_book))
    gone, in_call = dial_attempt(first, MORNING, ami), dial_attempt(second, MORNING + timedelta(seconds=1), ami)
    fake.channels.discard(gone.channel_id)  # hung up, nobody recorded the result
    recent = dial_attempt(third, MORNING + timedelta(minutes=9), ami)
    fake.channels.discard(recent.channel_id)

    done = reconcile_attempts(MORNING + timedelta(minutes=10), ami, after=timedelta(minutes=2))

    assert (done.checked, done.closed, done.in_call, done.ami_down) == (2, 1, 1, False)
    assert attempt(first).status is AttemptStatus.FAILED
    assert attempt(second).status is AttemptStatus.DIALING  # still talking
    assert attempt(third).status is AttemptStatus.DIALING  # too recent to judge
    assert len(fake.originates()) == 3  # nothing dialled again
    statuses = [s["Channel"] for s in fake.sent if s["Action"] == "Status"]
    assert statuses == [gone.channel_id, in_call.channel_id]


def test_reconciliation_asks_only_its_own_asterisk_about_the_attempts_dialled_through_it(
        small_book, fake, ami) -> None:
    """Two Asterisks, a worker each: this one's AMI does not know the other's channels."""
    mine, theirs = attempt_ids(campaign(small_book))[:2]
    here, there = get_settings(), get_settings().replace(asterisk_host="10.0.0.2")
    fake.channels.discard(dial_attempt(mine, MORNING, ami, here).channel_id)
    fake.channels.discard(dial_attempt(theirs, MORNING, ami, there).channel_id)  # not in this fake either

    done = reconcile_attempts(MORNING + timedelta(minutes=10), ami, after=timedelta(minutes=2),
                              dialled_via="127.0.0.1:5038")

    assert (attempt(mine).dialled_via, attempt(theirs).dialled_via) == ("127.0.0.1:5038", "10.0.0.2:5038")
    assert (done.checked, done.closed) == (1, 1)
    assert attempt(mine).status is AttemptStatus.FAILED
    assert attempt(theirs).status is AttemptStatus.DIALING  # left to a worker of 10.0.0.2
    assert [s["Channel"] for s in fake.sent if s["Action"] == "Status"] == [attempt(mine).channel_id]


def test_reconciliation_closes_nothing_while_ami_is_down(small_book, fake, ami) -> None:
    first = attempt_ids(campaign(small_book))[0]
    fake.channels.discard(dial_attempt(first, MORNING, ami).channel_id)
    fake.up = False

    done = reconcile_attempts(MORNING + timedelta(minutes=10), ami, after=timedelta(minutes=2))

    assert done.ami_down and done.closed == 0
    assert attempt(first).status is AttemptStatus.DIALING


# --- the tasks, called in process ----------------------------------------------------------------


@pytest.fixture
def worker_ami(monkeypatch: pytest.MonkeyPatch, ami: QueueControl) -> QueueControl:
    monkeypatch.setattr(campaign_tasks, "_control", ami)
    monkeypatch.setattr(campaign_tasks, "clock", lambda: MORNING)
    return ami


def test_the_dial_task_called_twice_dials_once(small_book, fake, worker_ami) -> None:
    first = attempt_ids(campaign(small_book))[0]

    results = [campaign_tasks.dial_attempt(first), campaign_tasks.dial_attempt(first)]

    assert [r["action"] for r in results] == ["originated", "skipped"]
    assert len(fake.originates()) == 1


def test_the_tick_enqueues_only_what_pacing_allows(small_book, fake, worker_ami, monkeypatch) -> None:
    campaign_id = campaign(small_book, max_channels=2)
    sent: list[tuple[tuple[int, ...], float, float]] = []
    monkeypatch.setattr(campaign_tasks.dial_attempt, "apply_async",
                        lambda args, countdown, expires: sent.append((args, countdown, expires)))

    enqueued = campaign_tasks.campaign_tick()

    assert enqueued == {str(campaign_id): 2}
    assert [args for args, _, _ in sent] == [(a,) for a in attempt_ids(campaign_id)[:2]]
    assert [(countdown, expires) for _, countdown, expires in sent] == [(0.0, 10.0), (0.01, 10.01)]


def _policy_no(attempt_id: int) -> str:
    with session_scope() as session:
        return session.scalar(select(Policy.policy_no).join(CampaignAttempt, CampaignAttempt.policy_id == Policy.id)
                              .where(CampaignAttempt.id == attempt_id)) or ""


# --- the abandoned-rate throttle -----------------------------------------------------------------


def test_the_throttle_from_the_abandoned_rate_worked_out_by_hand() -> None:
    full = pacing.throttle(max_channels=10, calls_per_second=2.0, answered=100, abandoned=1)  # 1 %
    assert (full.max_channels, full.calls_per_second, full.mode) == (10, 2.0, "full")
    # 2.5 %: halfway from 2 % to 3 %, so half: 5 channels, 1 call start a second
    half = pacing.throttle(max_channels=10, calls_per_second=2.0, answered=200, abandoned=5)
    assert (half.max_channels, half.calls_per_second, half.mode) == (5, 1.0, "slowing")
    # 2.8 %: a fifth left: 10 x 0.2 = 2 channels; 2.0 x 0.2 = 0.4 starts a second
    fifth = pacing.throttle(max_channels=10, calls_per_second=2.0, answered=250, abandoned=7)
    assert (fifth.max_channels, fifth.mode) == (2, "slowing")
    assert fifth.calls_per_second == pytest.approx(0.4)
    # 2.9 %: a tenth: 3 channels x 0.1 rounds down to 0, kept at 1; 1.0 x 0.1 = 0.1, kept at one start in 5 s
    tenth = pacing.throttle(max_channels=3, calls_per_second=1.0, answered=1000, abandoned=29)
    assert (tenth.max_channels, tenth.calls_per_second) == (1, 0.2)
    # 3 % and over: one call at a time, one start in 5 s (or the campaign's own rate, if slower)
    limit = pacing.throttle(max_channels=10, calls_per_second=2.0, answered=100, abandoned=3)
    assert (limit.max_channels, limit.calls_per_second, limit.mode) == (1, 0.2, "one_at_a_time")
    assert pacing.throttle(max_channels=10, calls_per_second=0.1, answered=100, abandoned=9).calls_per_second == 0.1


def test_a_few_answered_calls_do_not_throttle_wildly() -> None:
    # 1 abandoned of the first 3 calls reads as 1 of 50 (2 %): still full speed, not 33 %
    assert pacing.abandoned_rate(answered=3, abandoned=1) == 0.02
    assert pacing.throttle(10, 2.0, answered=3, abandoned=1).max_channels == 10
    # 2 of the first 10 reads as 4 %: careful, one call at a time
    assert pacing.throttle(10, 2.0, answered=10, abandoned=2).mode == "one_at_a_time"
    assert pacing.throttle(10, 2.0, answered=0, abandoned=0).mode == "full"


def _answered_calls(campaign_id: int, count: int, abandoned: int, ended: datetime) -> None:
    """``count`` answered calls of the campaign that ended at ``ended``, the first ``abandoned`` of them
    abandoned (their message never began), the others with a message 400 ms after answer."""
    with session_scope() as session:
        first = session.scalar(select(CampaignAttempt).where(CampaignAttempt.campaign_id == campaign_id)
                               .order_by(CampaignAttempt.id))
        assert first is not None
        for n in range(count):
            session.add(CampaignAttempt(
                campaign_id=campaign_id, policy_id=first.policy_id, customer_id=first.customer_id,
                cycle=date(2020, 1, 1) + timedelta(days=n), attempt_no=1, number=first.number,
                status=AttemptStatus.ANSWERED, skip_reason="", planned_at=ended, not_before=ended, started_at=ended,
                answered_at=ended, ended_at=ended, message_started_at=None if n < abandoned else ended,
                message_delay_ms=None if n < abandoned else 400))


def test_at_3_percent_abandoned_the_campaign_dials_one_call_at_a_time_across_workers(small_book, fake, ami) -> None:
    campaign_id = campaign(small_book, max_channels=10, calls_per_second=100.0)
    first, second, third = attempt_ids(campaign_id)
    _answered_calls(campaign_id, 100, 3, MORNING - timedelta(minutes=30))

    limits = pacing.campaign_throttle(campaigns.get_campaign(campaign_id), MORNING)
    outcomes = [dial_attempt(first, MORNING, ami), dial_attempt(second, MORNING + timedelta(seconds=6), ami)]

    assert (limits.max_channels, limits.calls_per_second, limits.abandoned_rate) == (1, 0.2, 0.03)
    assert [o.action for o in outcomes] == ["originated", "paced"] and outcomes[1].reason == "channels"
    campaigns.record_result(first, AttemptStatus.BUSY, None, MORNING + timedelta(seconds=7))
    too_soon = dial_attempt(second, MORNING + timedelta(seconds=4), ami)
    next_slot = MORNING + timedelta(seconds=5 * (1 + pacing.RATE_GUARD))  # one start every 5 s
    assert (too_soon.action, too_soon.reason, too_soon.retry_at) == ("paced", "rate", next_slot - pacing.BOOK_AHEAD)
    assert dial_attempt(second, MORNING + timedelta(seconds=8), ami).action == "originated"
    assert attempt(third).status is AttemptStatus.PLANNED


def test_calls_that_ended_over_an_hour_ago_no_longer_slow_the_campaign(small_book, fake, ami) -> None:
    campaign_id = campaign(small_book, max_channels=10, calls_per_second=100.0)
    _answered_calls(campaign_id, 100, 3, MORNING - timedelta(minutes=61))

    limits = pacing.campaign_throttle(campaigns.get_campaign(campaign_id), MORNING)

    assert (limits.max_channels, limits.mode) == (10, "full")


def test_the_tick_enqueues_fewer_when_the_campaign_is_slowed(small_book, fake, worker_ami, monkeypatch) -> None:
    campaign_id = campaign(small_book, max_channels=10, calls_per_second=2.0)
    _answered_calls(campaign_id, 200, 5, MORNING - timedelta(minutes=5))  # 2.5 %: 5 channels, 1 a second
    sent: list[tuple[tuple[int, ...], float, float]] = []
    monkeypatch.setattr(campaign_tasks.dial_attempt, "apply_async",
                        lambda args, countdown, expires: sent.append((args, countdown, expires)))

    campaign_tasks.campaign_tick()

    assert [countdown for _, countdown, _ in sent] == [0.0, 1.0, 2.0]  # the 3 due, one a second (not 0.5 s)


# --- answered, and the flow never spoke -----------------------------------------------------------


def test_an_answered_call_the_flow_never_recorded_is_closed_as_answered_and_abandoned(small_book, fake, ami) -> None:
    campaign_id = campaign(small_book)
    first = attempt_ids(campaign_id)[0]
    outcome = dial_attempt(first, MORNING, ami)
    assert await_result(outcome, ami, lambda: MORNING + timedelta(seconds=3)) is None  # answered
    assert attempt(first).answered_at == MORNING + timedelta(seconds=3)
    fake.channels.discard(outcome.channel_id)  # the FastAGI server was down: the call went and nobody recorded it

    done = reconcile_attempts(MORNING + timedelta(minutes=10), ami, after=timedelta(minutes=2))

    row = attempt(first)
    assert done.closed == 1 and (row.status, row.message_started_at) == (AttemptStatus.ANSWERED, None)
    assert row.answered_at == MORNING + timedelta(seconds=3)
    assert campaigns.campaign_figures(campaign_id).abandoned == 1


# --- planning on its own schedule -----------------------------------------------------------------


def test_the_tick_only_enqueues_and_plan_campaigns_selects_what_fell_due(small_book, fake, worker_ami,
                                                                          monkeypatch) -> None:
    spec = CampaignSpec(name="daily", message="premium due", due_within_days=30, calls_per_second=100.0)
    campaign_id = campaigns.create_campaign(spec, "tester", MORNING).id
    campaigns.start_campaign(campaign_id, MORNING)
    monkeypatch.setattr(campaign_tasks.dial_attempt, "apply_async", lambda *args, **kwargs: None)

    assert campaign_tasks.campaign_tick() == {str(campaign_id): 0} and attempt_ids(campaign_id) == []
    assert campaign_tasks.plan_campaigns() == {str(campaign_id): 3}
    assert campaign_tasks.plan_campaigns() == {str(campaign_id): 0}  # nothing new fell due
    assert campaigns.get_campaign(campaign_id).last_planned_at == MORNING
    assert campaign_tasks.campaign_tick() == {str(campaign_id): 3}
