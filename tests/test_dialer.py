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
    assert originate["Variable"] == [f"CAMPAIGN_ATTEMPT={first}"]
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


def test_pacing_caps_the_call_starts_per_second_with_an_injected_clock(small_book, fake, ami) -> None:
    first, second, third = attempt_ids(campaign(small_book, calls_per_second=1.0))
    fake.originate_reasons[MOBILE] = BUSY
    fake.originate_reasons["+8613800138002"] = BUSY

    started = dial_attempt(first, MORNING, ami)
    too_soon = dial_attempt(second, MORNING + timedelta(milliseconds=500), ami)
    on_time = dial_attempt(second, MORNING + timedelta(seconds=1), ami)

    assert (started.action, on_time.action) == ("originated", "originated")
    assert (too_soon.action, too_soon.reason, too_soon.retry_at) == ("paced", "rate", MORNING + timedelta(seconds=1))
    assert len(fake.originates()) == 2 and attempt(third).status is AttemptStatus.PLANNED


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
