"""Callback requests: one open request per number, and what a caller hears outside opening hours."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from test_menu import ScriptedChannel

from ivr.config import get_settings, set_settings
from ivr.db.models import Call, CallbackRequest, CallbackStatus, Disposition
from ivr.db.session import session_scope
from ivr.domain.callbacks import request_callback
from ivr.flows.runner import handle_call
from ivr.telephony.channel import CallInfo

NUMBER = "+8613800138000"
T0 = datetime(2026, 11, 22, 13, 0, tzinfo=timezone.utc)


def _requests() -> list[CallbackRequest]:
    with session_scope() as session:
        rows = session.scalars(select(CallbackRequest).order_by(CallbackRequest.id)).all()
        session.expunge_all()
        return list(rows)


def test_a_second_request_from_the_same_number_merges_into_the_open_one(small_book):
    first = request_callback(NUMBER, None, "caller_pressed_0", "u1", T0)
    second = request_callback(NUMBER, small_book.customer_id, "claim", "u2", T0 + timedelta(minutes=5))

    assert not first.merged and second.merged and second.request_id == first.request_id
    [request] = _requests()
    assert request.request_count == 2
    assert request.created_at == T0  # the caller keeps their place in line
    assert request.updated_at == T0 + timedelta(minutes=5)
    assert (request.reason, request.call_unique_id) == ("claim", "u2")
    assert request.customer_id == small_book.customer_id  # learned from the second call
    assert request.status is CallbackStatus.OPEN


def test_different_numbers_and_requests_after_a_closed_one_are_new(small_book):
    request_callback(NUMBER, None, "x", "u1", T0)
    request_callback("+8613800138999", None, "x", "u2", T0)
    with session_scope() as session:
        session.scalar(select(CallbackRequest).where(CallbackRequest.number == NUMBER)).status = CallbackStatus.DONE
    again = request_callback(NUMBER, None, "x", "u3", T0 + timedelta(days=1))

    assert not again.merged
    assert [(r.number, r.status.value) for r in _requests()] == [
        (NUMBER, "done"), ("+8613800138999", "open"), (NUMBER, "open")]


class CallChannel(ScriptedChannel):
    """The scripted channel as a whole call: it can be answered and asks for no flow we have."""

    def __init__(self, entries, unique_id: str) -> None:
        super().__init__(entries)
        self.info = CallInfo(unique_id, "PJSIP/x", "no_such_flow", "13800138000", "", "95519", "en")

    def answer(self):
        self.log.append(("answer",))

    def variables(self) -> dict[str, str]:
        return {entry[1]: entry[2] for entry in self.log if entry[0] == "var"}

    def played(self) -> list[str]:
        return [sound for entry in self.log if entry[0] == "play" for sound in entry[1]]


def _closed_today() -> None:
    today = datetime.now(get_settings().zone()).date()
    set_settings(get_settings().replace(holidays=",".join(str(today + timedelta(days=d)) for d in (-1, 0, 1))))


def test_when_open_a_transfer_names_the_queue_and_priority(small_book):
    channel = CallChannel([], "open-1")
    handle_call(channel)
    assert channel.variables().items() >= {"IVR_QUEUE": "general", "IVR_PRIORITY": "0",
                                           "IVR_OUTCOME": "transfer"}.items()
    assert "hotline/en/transfer_to_agent" in channel.played()


def test_when_closed_a_caller_who_presses_1_is_called_back_on_their_number_and_the_call_is_done(small_book):
    _closed_today()
    for unique_id in ("closed-1", "closed-2"):
        channel = CallChannel(["1", "1"], unique_id)  # callback, then confirm the caller's own number
        handle_call(channel)
        assert channel.variables() == {"IVR_OUTCOME": "done"}
        assert "hotline/en/callback_booked" in channel.played()

    [request] = _requests()
    assert (request.number, request.request_count, request.reason) == (NUMBER, 2, "unknown_flow")
    with session_scope() as session:
        call = session.scalar(select(Call).where(Call.unique_id == "closed-2"))
        assert call.disposition is Disposition.SELF_SERVED
        assert ("callback", "merged") in [(e.kind, e.name) for e in call.events]


def test_when_closed_9_or_no_answer_ends_the_call_without_a_request_and_0_books_one(small_book):
    _closed_today()
    ends = CallChannel(["9"], "closed-9")
    silent = CallChannel(["", "", ""], "closed-silent")
    zero = CallChannel(["0", "2", "13900139000"], "closed-0")  # 0: a person, i.e. a callback; another number
    for channel in (ends, silent, zero):
        handle_call(channel)
        assert channel.variables() == {"IVR_OUTCOME": "done"}
        assert channel.played()[-1] == "hotline/en/goodbye"

    assert [(r.number, r.call_unique_id) for r in _requests()] == [("+8613900139000", "closed-0")]
