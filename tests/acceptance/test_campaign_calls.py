"""Premium-reminder campaigns end to end: Celery workers on the real broker dial through the sandbox's
Asterisk (AMI Originate to ``PJSIP/<number>@outbound``) into pjsua2 customers, who answer and key,
are busy, or never answer; the reminder flow runs on the session's FastAGI server.

The customers sit behind the sandbox's outbound trunk (``CustomerExchange``), each arranged per
number. Each test's campaign selects only its own customers (a branch of its own). The dialer's
calling window is in local time: this module's settings put the contact centre in a time zone where
it is about noon now, so the tests do not depend on the hour they run at. Waiting hours between
retries is done by moving the attempts' times back in the database, then dialing for real again.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy import select

import ivr.tasks.campaigns as campaign_tasks
from ivr.config import get_settings, set_settings
from ivr.db.models import (AgentStatus, AttemptStatus, CallbackRequest, CallbackStatus, CampaignAttempt, Gender, PaymentFrequency, PaymentReconciliation,
                           PhoneKind, Policy, PolicyStatus, ProductLine, Tier)
from ivr.db.session import session_scope
from ivr.domain import campaigns
from ivr.domain.agent_states import AgentAction
from ivr.domain.book_import import AgentRow, Book, CustomerRow, PolicyRow, write_book
from ivr.domain.campaigns import CampaignSpec
from ivr.domain.phones import normalise_phone
from ivr.domain.users import ConsoleRole, put_user
from ivr.switchboard.agent_desk import AgentDesk
from ivr.telephony.ami_link import AmiLink, Backoff
from ivr.telephony.queues import QueueControl
from ivr.testing.campaign_attempts import noon_zone
from ivr.testing.celery_worker import celery_on_test_broker, result_within, worker_in_thread
from ivr.testing.ivr_call import IvrCall, agi_rx
from ivr.testing.speech_audio import spoken_wav
from ivr.testing.waiting import eventually

pytestmark = pytest.mark.acceptance

RING_SECONDS = 8  # a customer who never answers rings this long
RECONCILE_AFTER_SECONDS = 3  # reconciliation looks at attempts dialing longer than this
OUTCOME_TIMEOUT = RING_SECONDS + 30
AGENT_USER, AGENT_ENDPOINT = "campaign-agent", "agent3"


@dataclass(frozen=True)
class Customer:
    """One test customer: the only holder in their branch, one policy due in 5 days."""

    key: str  # also the branch: each test's campaign selects its own customers
    number: str  # E.164, as dialled
    birth_year: int
    language: str = "en"

    @property
    def policy_no(self) -> str:
        return f"770000{self.number[-4:]}"


QUEUED = Customer("cmp-queue", "+8613700005001", 1971)
PAID = Customer("cmp-paid", "+8613700005002", 1972, "zh")
STOPS = Customer("cmp-stop", "+8613700005003", 1973)
BUSY = Customer("cmp-busy", "+8613700005004", 1974)
SILENT = Customer("cmp-silent", "+8613700005005", 1975)
PAID_LATE = Customer("cmp-paid-late", "+8613700005006", 1976)
WINDOW = Customer("cmp-window", "+8613700005007", 1977)
TWICE = Customer("cmp-twice", "+8613700005008", 1978)
NOBODY_FREE = Customer("cmp-nobody-free", "+8613700005009", 1979, "zh")
RESTART = Customer("cmp-restart", "+8613700005010", 1980)
MACHINE = Customer("cmp-machine", "+8613700005011", 1981)  # an answering machine takes the call
HELLO = Customer("cmp-hello", "+8613700005012", 1982)  # a person who says hello when they answer
CUSTOMERS = (QUEUED, PAID, STOPS, BUSY, SILENT, PAID_LATE, WINDOW, TWICE, NOBODY_FREE, RESTART, MACHINE, HELLO)


@pytest.fixture(scope="module")
def dialer_settings(hotline) -> Iterator[None]:
    previous = get_settings()
    set_settings(previous.replace(timezone=noon_zone(datetime.now(timezone.utc)), holidays="",
                                  campaign_ring_seconds=RING_SECONDS,
                                  campaign_reconcile_seconds=RECONCILE_AFTER_SECONDS))
    yield
    set_settings(previous)


@pytest.fixture(scope="module")
def campaign_book(dialer_settings) -> None:
    """The customers, each with a policy due in five days, sold in a branch of their own."""
    due = get_settings().today() + timedelta(days=5)
    agents = [AgentRow(f"870100{i:02d}", f"Campaign agent {i}", f"0201000000000000{7000 + i}", c.key,
                       AgentStatus.ACTIVE) for i, c in enumerate(CUSTOMERS)]
    customers = [CustomerRow(f"CMP{i:05d}", f"Customer {c.key}", Gender.UNKNOWN, date(c.birth_year, 6, 1),
                             f"E7700{i:04d}", c.language, Tier.STANDARD,
                             ((PhoneKind.MOBILE, normalise_phone(c.number)),)) for i, c in enumerate(CUSTOMERS)]
    policies = [PolicyRow(c.policy_no, f"CMP{i:05d}", ProductLine.LIFE, "Term Life", PolicyStatus.IN_FORCE,
                          Decimal("200000.00"), Decimal("1860.00"), PaymentFrequency.ANNUAL, date(2020, 1, 1), None,
                          due, due, f"870100{i:02d}") for i, c in enumerate(CUSTOMERS)]
    with session_scope() as session:
        write_book(session, Book(agents=agents, customers=customers, policies=policies), "test-salt")


@pytest.fixture(scope="module")
def ami(hotline) -> Iterator[QueueControl]:
    """One AMI link for the dialer tasks of this process and the agent's queue log-in."""
    link = AmiLink(backoff=Backoff(initial=0.2, cap=2.0))
    link.start()
    eventually(lambda: link.status().connected, what="AMI link up")
    control = QueueControl(link)
    previous, campaign_tasks._control = campaign_tasks._control, control
    yield control
    campaign_tasks._control = previous
    link.stop()


@pytest.fixture(scope="module")
def workers(campaign_book, ami, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Celery]:
    """A Celery worker on the test broker (Redis on CI, else the embedded SQLite transport), six threads:
    a dial task holds its thread while the customer's phone rings."""
    with celery_on_test_broker(tmp_path_factory.mktemp("campaign-broker")) as app:
        with worker_in_thread(app, "dialer@test", concurrency=6):
            yield app


@pytest.fixture(scope="module")
def customers(sip_caller, hotline) -> Iterator:
    exchange = sip_caller.customer_exchange("outbound", "outbound-sandbox")
    yield exchange
    exchange.close()


def _campaign(customer: Customer, name: str, **spec: object) -> int:
    now = datetime.now(timezone.utc)
    campaign_id = campaigns.create_campaign(CampaignSpec(name, "Your premium is due", due_within_days=10,
                                                         branches=(customer.key,), **spec), "tester", now).id
    campaigns.start_campaign(campaign_id, now)
    campaigns.plan_attempts(campaign_id, now)
    return campaign_id


def _attempts(campaign_id: int) -> list[CampaignAttempt]:
    with session_scope() as session:
        return list(session.scalars(select(CampaignAttempt).where(CampaignAttempt.campaign_id == campaign_id)
                                    .order_by(CampaignAttempt.attempt_no)))


def _attempt(campaign_id: int, attempt_no: int = 1) -> CampaignAttempt:
    return next(a for a in _attempts(campaign_id) if a.attempt_no == attempt_no)


def _tick(workers: Celery) -> dict:
    """The beat's tick, through the broker: the due attempts are enqueued as dial tasks."""
    return result_within(campaign_tasks.campaign_tick.delay(), 30)


def _beat_until_finished(workers: Celery, campaign_id: int, attempt_no: int) -> CampaignAttempt:
    """Tick as the beat would (every few seconds) until the attempt has its result: a dial that found
    the campaign's pacing slot taken (``paced``) is offered again by the next tick."""
    def ticked_and_finished() -> CampaignAttempt | None:
        _tick(workers)
        try:
            return eventually(lambda: _finished(campaign_id, attempt_no), 3, "a result")
        except AssertionError:
            return None

    return eventually(ticked_and_finished, OUTCOME_TIMEOUT, f"attempt {attempt_no}'s result", interval=0)


def _finished(campaign_id: int, attempt_no: int = 1) -> CampaignAttempt | None:
    attempt = _attempt(campaign_id, attempt_no)
    return None if attempt.status in (AttemptStatus.PLANNED, AttemptStatus.DIALING) else attempt


def _result(campaign_id: int, attempt_no: int = 1) -> CampaignAttempt:
    return eventually(lambda: _finished(campaign_id, attempt_no), OUTCOME_TIMEOUT, "the attempt's result")


def _reminder(exchange, customer: Customer, log) -> IvrCall:
    """The customer's phone rings; they answer and key their birth year when asked."""
    call = IvrCall.answered(exchange.wait_for_call_to(customer.number, 30), log, "hotline-outbound")
    call.asked("enter_birth_year", customer.language)
    call.sip.send_dtmf(str(customer.birth_year))
    return call


@pytest.fixture
def agent_on_duty(ami: QueueControl, agent_phone) -> Iterator:
    """An agent whose pjsua2 phone answers at once, logged in to the general queue."""
    phone = agent_phone(AGENT_ENDPOINT)
    user = put_user(AGENT_USER, "Campaign Agent", ConsoleRole.AGENT, "campaign-agent-password-1",
                    sip_endpoint=AGENT_ENDPOINT)
    desk = AgentDesk(ami, lambda: datetime.now(timezone.utc))
    desk.act(user.id, AgentAction.LOG_IN, queues=["general"])
    yield phone
    desk.act(user.id, AgentAction.LOG_OUT)


def test_customer_who_presses_1_is_queued_to_an_agent(workers, customers, agent_on_duty, asterisk_log) -> None:
    customers.answers(QUEUED.number)
    campaign_id = _campaign(QUEUED, "queue")

    _tick(workers)
    call = _reminder(customers, QUEUED, asterisk_log)
    call.press("reminder_menu", "1", QUEUED.language)

    agent_call = agent_on_duty.wait_for_call(30)
    agent_call.wait_answered()
    assert agent_call.caller_number == QUEUED.number  # the customer, not the hotline's own caller id
    call.hang_up()
    attempt = _result(campaign_id)
    assert (attempt.status, attempt.key_pressed) == (AttemptStatus.ANSWERED, "1")
    assert attempt.channel_id and attempt.answered_at is not None
    assert 0 <= attempt.message_delay_ms < 2000  # spoke within 2 s of answer, on Asterisk's clock
    assert not attempt.agent_unavailable
    assert len(customers.calls_to(QUEUED.number)) == 1


def test_customer_who_wants_a_person_when_none_is_free_hears_so_and_gets_a_callback(
        workers, customers, asterisk_log) -> None:
    customers.answers(NOBODY_FREE.number)
    campaign_id = _campaign(NOBODY_FREE, "nobody-free")

    _tick(workers)
    call = _reminder(customers, NOBODY_FREE, asterisk_log)
    call.press("reminder_menu", "1", NOBODY_FREE.language)
    call.expect(rf"STREAM FILE hotline/{NOBODY_FREE.language}/reminder_advisers_busy\b")
    call.wait_end(60)  # no silence in an empty queue: told, then goodbye

    attempt = _result(campaign_id)
    assert (attempt.status, attempt.key_pressed, attempt.agent_unavailable) == (AttemptStatus.ANSWERED, "1", True)
    with session_scope() as session:
        request = session.scalar(select(CallbackRequest).where(CallbackRequest.number == NOBODY_FREE.number))
    assert request is not None and request.status is CallbackStatus.OPEN
    figures = campaigns.campaign_figures(campaign_id)
    assert (figures.no_agent_free, figures.abandoned) == (1, 1)  # counted as abandoned


def test_customer_who_presses_3_is_flagged_paid_and_not_called_again(workers, customers, asterisk_log) -> None:
    customers.answers(PAID.number)
    campaign_id = _campaign(PAID, "paid")

    _tick(workers)
    call = _reminder(customers, PAID, asterisk_log)
    call.press("reminder_menu", "3", PAID.language)
    call.wait_end(60)

    attempt = _result(campaign_id)
    assert (attempt.status, attempt.key_pressed) == (AttemptStatus.ANSWERED, "3")
    with session_scope() as session:
        report = session.scalar(select(PaymentReconciliation).where(
            PaymentReconciliation.attempt_id == attempt.id))
    assert report is not None and report.cycle == attempt.cycle
    second = _campaign(PAID, "paid-again")  # reported paid for this due date: not selected again
    _tick(workers)
    assert _attempts(second) == []
    assert len(customers.calls_to(PAID.number)) == 1


def test_customer_who_presses_9_is_never_called_by_another_campaign(workers, customers, asterisk_log) -> None:
    customers.answers(STOPS.number)
    campaign_id = _campaign(STOPS, "stop")

    _tick(workers)
    call = _reminder(customers, STOPS, asterisk_log)
    call.press("reminder_menu", "9", STOPS.language)
    call.wait_end(60)

    assert (_result(campaign_id).key_pressed) == "9"
    second = _campaign(STOPS, "stop-again")
    _tick(workers)
    assert _attempts(second) == []  # do-not-call: not even selected
    assert len(customers.calls_to(STOPS.number)) == 1


def test_busy_customer_is_retried_later_up_to_the_limit(workers, customers) -> None:
    customers.is_busy(BUSY.number)
    campaign_id = _campaign(BUSY, "busy", max_attempts=3, min_gap_hours=1)

    for attempt_no in (1, 2, 3):
        assert _beat_until_finished(workers, campaign_id, attempt_no).status is AttemptStatus.BUSY
        assert len(customers.calls_to(BUSY.number)) == attempt_no
        if attempt_no < 3:
            retry = _attempt(campaign_id, attempt_no + 1)
            assert retry.not_before >= _attempt(campaign_id, attempt_no).ended_at + timedelta(hours=1)
            _as_if_hours_passed(campaign_id, hours=retry.not_before - datetime.now(timezone.utc))

    assert [a.attempt_no for a in _attempts(campaign_id)] == [1, 2, 3]  # no fourth planned
    _tick(workers)
    assert len(customers.calls_to(BUSY.number)) == 3


def test_customer_who_never_answers_is_recorded_as_no_answer(workers, customers) -> None:
    customers.never_answers(SILENT.number)
    campaign_id = _campaign(SILENT, "silent")

    _tick(workers)

    ringing = customers.wait_for_call_to(SILENT.number, 30)
    attempt = _result(campaign_id)
    assert attempt.status is AttemptStatus.NO_ANSWER
    ringing.wait_disconnected(10)  # Asterisk gave up ringing
    assert _attempt(campaign_id, 2).status is AttemptStatus.PLANNED  # retried later


def test_policy_paid_between_selection_and_dial_is_not_called(workers, customers) -> None:
    customers.answers(PAID_LATE.number)
    campaign_id = _campaign(PAID_LATE, "paid-late")
    with session_scope() as session:  # the premium comes in: the next due date moves a year on
        policy = session.scalar(select(Policy).where(Policy.policy_no == PAID_LATE.policy_no))
        policy.next_due_date += timedelta(days=365)

    _tick(workers)

    attempt = eventually(lambda: _finished(campaign_id), 30, "the dial decision")
    assert (attempt.status, attempt.skip_reason) == (AttemptStatus.SKIPPED, "paid")
    assert customers.calls_to(PAID_LATE.number) == []


def test_call_outside_the_calling_window_waits_for_it(workers, customers) -> None:
    customers.answers(WINDOW.number)
    campaign_id = _campaign(WINDOW, "window", window="09:00-10:00")  # it is noon there

    _tick(workers)

    attempt = eventually(lambda: (a := _attempt(campaign_id)).not_before > datetime.now(timezone.utc) and a,
                         30, "the attempt deferred to the window")
    local = attempt.not_before.astimezone(get_settings().zone())
    assert attempt.status is AttemptStatus.PLANNED
    assert (local.date(), local.hour, local.minute) == (get_settings().today() + timedelta(days=1), 9, 0)
    assert customers.calls_to(WINDOW.number) == []


def test_a_dial_task_delivered_three_times_at_once_and_again_after_calls_once(workers, customers) -> None:
    customers.is_busy(TWICE.number)
    campaign_id = _campaign(TWICE, "twice")
    attempt_id = _attempt(campaign_id).id

    at_once = [campaign_tasks.dial_attempt.delay(attempt_id) for _ in range(3)]  # three worker threads, at once
    results = [result_within(delivery, OUTCOME_TIMEOUT) for delivery in at_once]
    redelivered = result_within(campaign_tasks.dial_attempt.delay(attempt_id), OUTCOME_TIMEOUT)  # after the call

    originated = [r for r in results if r["action"] == "originated"]
    assert len(originated) == 1  # the others found it claimed, or its pacing slot taken
    assert {r["action"] for r in results} - {"originated"} <= {"skipped", "paced", "lost_race"}
    assert (redelivered["action"], redelivered["reason"]) == ("skipped", "already_busy")
    assert _result(campaign_id).status is AttemptStatus.BUSY
    assert len(customers.calls_to(TWICE.number)) == 1
    assert originated[0]["channel_id"] == _attempt(campaign_id).channel_id


def test_asterisk_crashing_mid_ring_is_reconciled_by_channel_id_and_never_dialled_twice(
        workers, customers, ami, sandbox) -> None:
    # Last in this module: the crash also drops the customers' registration.
    customers.never_answers(RESTART.number)
    campaign_id = _campaign(RESTART, "restart")
    _tick(workers)
    customers.wait_for_call_to(RESTART.number, 30)  # ringing
    reconnects = ami.ami.status().reconnects

    sandbox.crash()  # the call and its OriginateResponse are gone with it (a clean stop would still answer)

    eventually(lambda: ami.ami.status().connected and ami.ami.status().reconnects > reconnects, 60,
               "AMI link back")
    stuck = eventually(lambda: (a := _attempt(campaign_id)).status is AttemptStatus.DIALING and a.channel_id and a,
                       what="the attempt left dialing")
    eventually(lambda: result_within(campaign_tasks.reconcile_attempts.delay(), 30)["closed"] == 1, 30,
               "reconciliation closing the attempt")
    closed = _attempt(campaign_id)
    assert (closed.status, closed.channel_id) == (AttemptStatus.FAILED, stuck.channel_id)
    _tick(workers)
    assert len(customers.calls_to(RESTART.number)) == 1  # not dialled again for that attempt
    assert result_within(campaign_tasks.reconcile_attempts.delay(), 30)["closed"] == 0


def _as_if_hours_passed(campaign_id: int, hours: timedelta) -> None:
    """Move every time of the campaign's attempts back, as if ``hours`` had passed."""
    shift = hours + timedelta(seconds=1)
    with session_scope() as session:
        for attempt in session.scalars(select(CampaignAttempt).where(CampaignAttempt.campaign_id == campaign_id)):
            for column in ("planned_at", "not_before", "started_at", "answered_at", "ended_at"):
                if getattr(attempt, column) is not None:
                    setattr(attempt, column, getattr(attempt, column) - shift)


@pytest.fixture(autouse=True)
def _stop_campaigns_afterwards(campaign_book) -> Iterator[None]:
    """Each test's campaigns stop at its end, so no later tick dials them."""
    yield
    now = datetime.now(timezone.utc)
    for view in campaigns.list_campaigns():
        if view.state is not campaigns.CampaignState.STOPPED:
            campaigns.stop_campaign(view.id, now)


def test_an_answering_machine_is_hung_up_on_without_a_word_and_called_again_later(
        workers, customers, asterisk_log, tmp_path: Path) -> None:
    greeting = spoken_wav("Hello, you have reached the Wang family. We cannot take your call right now. "
                          "Please leave a message after the tone.", tmp_path / "greeting.wav", voice="en")
    customers.answers(MACHINE.number)
    campaign_id = _campaign(MACHINE, "machine", detect_machines=True)

    _tick(workers)
    call = IvrCall.answered(customers.wait_for_call_to(MACHINE.number, 30), asterisk_log, "hotline-outbound")
    call.sip.play(greeting)  # the machine plays its greeting as soon as it picks up
    call.expect("EXEC AMD")
    call.wait_end(30)

    attempt = _result(campaign_id)
    assert (attempt.status, attempt.key_pressed, attempt.message_started_at) == (AttemptStatus.MACHINE, None, None)
    assert not re.search(agi_rx(call.channel, "(STREAM FILE|GET DATA)"), asterisk_log.text)  # not a word
    assert _attempt(campaign_id, 2).status is AttemptStatus.PLANNED  # called again later, like no answer
    assert campaigns.campaign_figures(campaign_id).reached == 0


def test_a_person_who_says_hello_hears_the_reminder_just_after_it(
        workers, customers, asterisk_log, tmp_path: Path) -> None:
    hello = spoken_wav("Hello?", tmp_path / "hello.wav", voice="en")
    customers.answers(HELLO.number)
    campaign_id = _campaign(HELLO, "hello", detect_machines=True)

    _tick(workers)
    call = IvrCall.answered(customers.wait_for_call_to(HELLO.number, 30), asterisk_log, "hotline-outbound")
    call.expect("EXEC AMD")
    call.sip.play(hello)
    call.asked("enter_birth_year", HELLO.language)
    call.sip.send_dtmf(str(HELLO.birth_year))
    call.press("reminder_menu", "3", HELLO.language)
    call.wait_end(60)

    attempt = _result(campaign_id)
    assert (attempt.status, attempt.key_pressed) == (AttemptStatus.ANSWERED, "3")
    assert 0 <= attempt.message_delay_ms < 2000  # within 2 s of the end of the customer's hello
