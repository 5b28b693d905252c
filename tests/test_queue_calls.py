"""Callers' waits in the agent queues (ivr/domain/queue_calls.py): one row per wait, each event counted once,
a callback after an abandon, and the day's figures per queue."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from ivr.config import get_settings, set_settings
from ivr.db.models import CallbackRequest, CallbackStatus, Disposition, QueueCall, QueueOutcome
from ivr.db.session import session_scope
from ivr.domain.calls import CallJournal, NewCall
from ivr.domain.queue_calls import (
    ABANDON_REASON,
    abandoned,
    answered,
    callers_waiting,
    joined,
    lost_unless_waiting,
    queue_day,
    talk_ended,
)
from ivr.domain.routing import CLAIMS, GENERAL, VIP
from ivr.domain.users import ConsoleRole
from ivr.testing.console import make_user
from ivr.testing.small_book import SmallBook

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
C1_MOBILE, C2_MOBILE = "13800138001", "13800138002"  # SmallBook's customers' numbers as callers present them
STRANGER = "13911112222"


@pytest.fixture
def configure() -> Iterator[Callable[..., None]]:
    """Change settings for one test; the previous ones come back after it."""
    previous = get_settings()
    yield lambda **changes: set_settings(get_settings().replace(**changes))
    set_settings(previous)


def _wait(unique_id: str) -> QueueCall:
    with session_scope() as session:
        row = session.scalar(select(QueueCall).where(QueueCall.unique_id == unique_id))
        session.expunge_all()
        return row


def _callbacks() -> list[CallbackRequest]:
    with session_scope() as session:
        rows = session.scalars(select(CallbackRequest).order_by(CallbackRequest.id)).all()
        session.expunge_all()
        return list(rows)


def _ivr_call(unique_id: str, ani: str, customer_id: int | None) -> None:
    """The IVR's record of the call before it queued, as the flows leave it (a transfer closes the
    record, which writes what the journal holds)."""
    journal = CallJournal.open(NewCall(unique_id, "PJSIP/trunk-0001", "hotline", ani, "", "95519"))
    if customer_id is not None:
        journal.identified(customer_id)
    journal.close(Disposition.TRANSFERRED, "caller_pressed_0")


# --- joining -----------------------------------------------------------------------------------------


def test_the_same_join_seen_twice_is_one_wait(small_book: SmallBook) -> None:
    assert joined("u1", GENERAL, STRANGER, T0)
    assert not joined("u1", CLAIMS, STRANGER, T0 + timedelta(seconds=5))

    with session_scope() as session:
        assert session.scalars(select(QueueCall.queue)).all() == [GENERAL]


def test_the_callers_number_is_kept_in_e164(small_book: SmallBook) -> None:
    joined("u1", GENERAL, "139 1111 2222", T0)
    wait = _wait("u1")
    assert (wait.number, wait.outcome, wait.joined_at) == ("+8613911112222", QueueOutcome.WAITING, T0)


def test_the_customer_comes_from_the_ivr_call_record_before_the_number(small_book: SmallBook) -> None:
    _ivr_call("u1", C1_MOBILE, small_book.other_customer_id)  # C1's phone, but the IVR identified C2
    joined("u1", GENERAL, C1_MOBILE, T0)
    assert _wait("u1").customer_id == small_book.other_customer_id


def test_the_wait_is_about_the_policy_the_ivr_call_dealt_with(small_book: SmallBook) -> None:
    journal = CallJournal.open(NewCall("u1", "PJSIP/trunk-0001", "hotline", C1_MOBILE, "", "95519"))
    journal.close(Disposition.TRANSFERRED, "caller_pressed_0", "9900000011")
    joined("u1", GENERAL, C1_MOBILE, T0)
    joined("u2", GENERAL, C1_MOBILE, T0)  # no IVR record: no policy known

    assert (_wait("u1").policy_no, _wait("u2").policy_no) == ("9900000011", "")


def test_without_a_call_record_the_customer_is_found_by_number(small_book: SmallBook) -> None:
    joined("u1", GENERAL, C2_MOBILE, T0)
    joined("u2", GENERAL, STRANGER, T0)
    assert (_wait("u1").customer_id, _wait("u2").customer_id) == (small_book.other_customer_id, None)


# --- answered ----------------------------------------------------------------------------------------


def test_an_answer_ends_the_wait_with_its_length_and_the_agent(small_book: SmallBook) -> None:
    agent = make_user(ConsoleRole.AGENT)
    joined("u1", GENERAL, STRANGER, T0)

    assert answered("u1", agent.id, "PJSIP/agent1", 12, T0 + timedelta(seconds=12))

    wait = _wait("u1")
    assert (wait.outcome, wait.wait_seconds, wait.agent_id, wait.agent_interface) == (
        QueueOutcome.ANSWERED, 12, agent.id, "PJSIP/agent1")
    assert wait.answered_at == wait.left_at == T0 + timedelta(seconds=12)


def test_a_call_is_answered_once_and_only_from_waiting(small_book: SmallBook) -> None:
    first, second = make_user(ConsoleRole.AGENT, "agent1"), make_user(ConsoleRole.AGENT, "agent2")
    joined("u1", GENERAL, STRANGER, T0)
    answered("u1", first.id, "PJSIP/agent1", 5, T0 + timedelta(seconds=5))

    assert not answered("u1", second.id, "PJSIP/agent2", 9, T0 + timedelta(seconds=9))
    assert not answered("never-joined", second.id, "PJSIP/agent2", 9, T0)
    assert (_wait("u1").agent_id, _wait("u1").wait_seconds) == (first.id, 5)


def test_talk_ends_once_and_only_for_an_answered_call(small_book: SmallBook) -> None:
    joined("u1", GENERAL, STRANGER, T0)
    assert not talk_ended("u1", T0 + timedelta(minutes=1))
    answered("u1", None, "PJSIP/agent1", 5, T0 + timedelta(seconds=5))

    assert talk_ended("u1", T0 + timedelta(minutes=3))
    assert not talk_ended("u1", T0 + timedelta(minutes=4), transferred=True)
    assert (_wait("u1").ended_at, _wait("u1").transferred) == (T0 + timedelta(minutes=3), False)


def test_an_agent_who_passes_the_caller_on_is_counted_as_a_transfer(small_book: SmallBook) -> None:
    joined("u1", GENERAL, STRANGER, T0)
    answered("u1", None, "PJSIP/agent1", 5, T0 + timedelta(seconds=5))

    assert talk_ended("u1", T0 + timedelta(minutes=2), transferred=True)
    assert (_wait("u1").ended_at, _wait("u1").transferred) == (T0 + timedelta(minutes=2), True)


# --- abandoned ---------------------------------------------------------------------------------------


def test_an_abandoned_wait_opens_a_callback_for_the_number(small_book: SmallBook) -> None:
    joined("u1", GENERAL, C1_MOBILE, T0)

    outcome = abandoned("u1", 40, T0 + timedelta(seconds=40))

    [request] = _callbacks()
    assert (outcome.callback_id, outcome.merged, outcome.skipped) == (request.id, False, "")
    assert (request.number, request.customer_id, request.reason, request.call_unique_id, request.status) == (
        "+8613800138001", small_book.customer_id, ABANDON_REASON, "u1", CallbackStatus.OPEN)
    wait = _wait("u1")
    assert (wait.outcome, wait.wait_seconds, wait.answered_at) == (QueueOutcome.ABANDONED, 40, None)


def test_a_second_abandon_from_the_number_merges_into_its_open_callback(small_book: SmallBook) -> None:
    joined("u1", GENERAL, STRANGER, T0)
    first = abandoned("u1", 30, T0 + timedelta(seconds=30))
    joined("u2", GENERAL, STRANGER, T0 + timedelta(minutes=20))
    second = abandoned("u2", 50, T0 + timedelta(minutes=20, seconds=50))

    assert (second.callback_id, second.merged) == (first.callback_id, True)
    [request] = _callbacks()
    assert (request.request_count, request.call_unique_id, request.created_at) == (2, "u2", T0 + timedelta(seconds=30))


def test_the_same_abandon_seen_twice_counts_once(small_book: SmallBook) -> None:
    joined("u1", GENERAL, STRANGER, T0)
    abandoned("u1", 30, T0 + timedelta(seconds=30))

    again = abandoned("u1", 31, T0 + timedelta(seconds=31))

    assert (again.callback_id, again.merged, again.skipped) == (None, False, "already_counted")
    [request] = _callbacks()
    assert request.request_count == 1
    assert _wait("u1").wait_seconds == 30


def test_an_abandon_after_an_answer_is_not_counted(small_book: SmallBook) -> None:
    joined("u1", GENERAL, STRANGER, T0)
    answered("u1", None, "PJSIP/agent1", 5, T0 + timedelta(seconds=5))

    assert abandoned("u1", 60, T0 + timedelta(minutes=1)).skipped == "already_counted"
    assert (_wait("u1").outcome, _callbacks()) == (QueueOutcome.ANSWERED, [])


@pytest.mark.parametrize(("served_minutes", "minutes_since_answer", "skipped"),
                         [(60, 59, "served_recently"), (60, 60, "served_recently"), (60, 61, ""),
                          (30, 31, ""), (90, 61, "served_recently")])
def test_a_number_an_agent_served_recently_gets_no_callback(small_book: SmallBook, configure: Callable[..., None],
                                                             served_minutes: int, minutes_since_answer: int,
                                                             skipped: str) -> None:
    configure(abandon_served_minutes=served_minutes)
    joined("u1", GENERAL, STRANGER, T0)
    answered("u1", None, "PJSIP/agent1", 10, T0 + timedelta(seconds=10))
    abandon_at = T0 + timedelta(seconds=10, minutes=minutes_since_answer)
    joined("u2", GENERAL, STRANGER, abandon_at - timedelta(seconds=30))

    outcome = abandoned("u2", 30, abandon_at)

    assert outcome.skipped == skipped
    assert len(_callbacks()) == (0 if skipped else 1)


def test_a_number_served_from_another_number_is_not_served(small_book: SmallBook) -> None:
    joined("u1", GENERAL, C1_MOBILE, T0)
    answered("u1", None, "PJSIP/agent1", 10, T0 + timedelta(seconds=10))
    joined("u2", GENERAL, STRANGER, T0 + timedelta(minutes=1))

    assert abandoned("u2", 30, T0 + timedelta(minutes=1, seconds=30)).skipped == ""


@pytest.mark.parametrize("number", ["anonymous", "", "unknown", "+1", "+86abc"])
def test_a_caller_with_no_usable_number_gets_no_callback(small_book: SmallBook, number: str) -> None:
    joined("u1", GENERAL, number, T0)

    outcome = abandoned("u1", 30, T0 + timedelta(seconds=30))

    assert (outcome.callback_id, outcome.skipped) == (None, "no_number")
    assert _callbacks() == []
    assert _wait("u1").outcome is QueueOutcome.ABANDONED


# --- after a reconnect, and who is waiting now -------------------------------------------------------


def test_waits_asterisk_no_longer_has_are_lost(small_book: SmallBook) -> None:
    for unique_id in ("u1", "u2", "u3"):
        joined(unique_id, GENERAL, STRANGER, T0)
    answered("u3", None, "PJSIP/agent1", 5, T0 + timedelta(seconds=5))
    now = T0 + timedelta(minutes=5)

    assert lost_unless_waiting({"u2"}, now, now) == 1

    assert [(_wait(u).outcome, _wait(u).left_at) for u in ("u1", "u2", "u3")] == [
        (QueueOutcome.LOST, now), (QueueOutcome.WAITING, None), (QueueOutcome.ANSWERED, T0 + timedelta(seconds=5))]


def test_with_no_caller_left_in_asterisk_every_wait_is_lost(small_book: SmallBook) -> None:
    joined("u1", GENERAL, STRANGER, T0)
    joined("u2", VIP, STRANGER, T0)

    assert lost_unless_waiting(set(), T0 + timedelta(minutes=1), T0 + timedelta(minutes=1)) == 2
    assert callers_waiting() == []


def test_a_caller_who_joined_after_asterisk_was_read_is_not_judged_lost(small_book: SmallBook) -> None:
    joined("u1", GENERAL, STRANGER, T0)
    joined("u2", GENERAL, STRANGER, T0 + timedelta(seconds=2))  # joined while QueueStatus was on its way

    assert lost_unless_waiting(set(), T0 + timedelta(seconds=1), T0 + timedelta(seconds=3)) == 1
    assert [_wait(u).outcome for u in ("u1", "u2")] == [QueueOutcome.LOST, QueueOutcome.WAITING]


def test_callers_waiting_are_the_open_waits_longest_first(small_book: SmallBook) -> None:
    joined("late", GENERAL, STRANGER, T0 + timedelta(minutes=2))
    joined("early", CLAIMS, STRANGER, T0)
    joined("middle", VIP, STRANGER, T0 + timedelta(minutes=1))
    joined("served", GENERAL, STRANGER, T0 - timedelta(minutes=1))
    answered("served", None, "PJSIP/agent1", 60, T0)

    assert callers_waiting() == [(CLAIMS, "early", T0), (VIP, "middle", T0 + timedelta(minutes=1)),
                                 (GENERAL, "late", T0 + timedelta(minutes=2))]


# --- the day's figures -------------------------------------------------------------------------------


def _ended_wait(unique_id: str, queue: str, joined_at: datetime, outcome: QueueOutcome, wait: int) -> None:
    joined(unique_id, queue, STRANGER, joined_at)
    if outcome is QueueOutcome.ANSWERED:
        answered(unique_id, None, "PJSIP/agent1", wait, joined_at + timedelta(seconds=wait))
    elif outcome is QueueOutcome.ABANDONED:
        abandoned(unique_id, wait, joined_at + timedelta(seconds=wait))


def test_each_queues_day_counts_its_calls_and_the_service_level(small_book: SmallBook,
                                                                configure: Callable[..., None]) -> None:
    configure(service_level_seconds=20)
    day, next_day = T0, T0 + timedelta(days=1)
    _ended_wait("g1", GENERAL, day, QueueOutcome.ANSWERED, 10)
    _ended_wait("g2", GENERAL, day + timedelta(hours=1), QueueOutcome.ANSWERED, 25)
    _ended_wait("g3", GENERAL, day + timedelta(hours=2), QueueOutcome.ABANDONED, 40)
    _ended_wait("g4", GENERAL, day + timedelta(hours=3), QueueOutcome.WAITING, 0)
    _ended_wait("g5", GENERAL, day + timedelta(hours=3), QueueOutcome.ABANDONED, 4)  # short: in no side
    _ended_wait("c1", CLAIMS, day + timedelta(hours=4), QueueOutcome.ANSWERED, 20)  # just in time
    _ended_wait("v1", VIP, day + timedelta(hours=5), QueueOutcome.WAITING, 0)
    _ended_wait("before", GENERAL, day - timedelta(seconds=1), QueueOutcome.ANSWERED, 90)
    _ended_wait("after", CLAIMS, next_day, QueueOutcome.ABANDONED, 5)

    figures = {figure.queue: figure for figure in queue_day(day, next_day)}

    assert list(figures) == [CLAIMS, GENERAL, VIP]
    general, claims, vip = figures[GENERAL], figures[CLAIMS], figures[VIP]
    assert (general.offered, general.answered, general.abandoned, general.answered_in_time,
            general.longest_answered_wait, general.short_abandons, general.waiting) == (5, 2, 1, 1, 25, 1, 1)
    assert general.service_level == pytest.approx(1 / 3)  # g1 of g1, g2, g3: g4 still waits, g5 was short
    assert (claims.offered, claims.answered, claims.answered_in_time, claims.service_level) == (1, 1, 1, 1.0)
    assert (vip.offered, vip.answered, vip.abandoned, vip.service_level) == (1, 0, 0, None)


def test_the_service_level_follows_its_setting(small_book: SmallBook, configure: Callable[..., None]) -> None:
    _ended_wait("g1", GENERAL, T0, QueueOutcome.ANSWERED, 25)
    configure(service_level_seconds=30)
    [relaxed] = queue_day(T0, T0 + timedelta(days=1))
    configure(service_level_seconds=20)
    [strict] = queue_day(T0, T0 + timedelta(days=1))

    assert (relaxed.service_level, strict.service_level) == (1.0, 0.0)


def test_a_day_with_no_calls_has_no_figures(small_book: SmallBook) -> None:
    _ended_wait("g1", GENERAL, T0 - timedelta(days=1), QueueOutcome.ANSWERED, 10)
    assert queue_day(T0, T0 + timedelta(days=1)) == []
