"""The premium reminder a customer hears on a campaign call, driven whole through the call runner
on a scripted channel: birth year first, then the amount and due date, then keys 1, 2, 3 and 9."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update
from test_menu import ScriptedChannel

from ivr.config import get_settings, set_settings
from ivr.db.models import (AgentState, Call, CallbackRequest, CampaignAttempt, Customer, Disposition, DncSource,
                           DoNotCall, PaymentReconciliation, Policy, QueueCall, QueueOutcome)
from ivr.db.session import session_scope
from ivr.domain import campaigns
from ivr.domain.agent_states import record_change
from ivr.domain.campaigns import AttemptStatus, CampaignSpec
from ivr.domain.users import ConsoleRole, create_user
from ivr.flows.runner import handle_call
from ivr.telephony.channel import AnsweredBy, CallInfo
from ivr.telephony.errors import AgiError, Hangup
from ivr.testing.console import PASSWORD
from ivr.testing.small_book import BIRTH_DATE, SmallBook

PLANNED_AT = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai
CYCLE = date(2026, 12, 1)  # the small book's due date
RIGHT_YEAR = f"{BIRTH_DATE.year}"


class CampaignCall(ScriptedChannel):
    """An answered campaign call: the dialer set CAMPAIGN_ATTEMPT; the customer hangs up when the script ends."""

    def __init__(self, attempt: object, entries=(), press_during_play: str = "",
                 since_answer: timedelta | None | Exception | list = timedelta(milliseconds=420),
                 answered_by: AnsweredBy | Exception = AnsweredBy.HUMAN) -> None:
        super().__init__(entries, press_during_play)
        self.info = CallInfo(f"out-{attempt}", "PJSIP/trunk-00000001", "renewal_reminder", "", "", "s", "en")
        self.attempt = str(attempt)
        self.since_answer = since_answer  # a list: one value per read, in turn
        self.answered_by = answered_by

    def time_since_answer(self):
        """Asterisk's answer clock, as the test sets it; logged so a test sees when it was read."""
        self.log.append(("since_answer",))
        value = self.since_answer.pop(0) if isinstance(self.since_answer, list) else self.since_answer
        if isinstance(value, Exception):
            raise value
        return value

    def detect_answering_machine(self):
        self.log.append(("amd",))
        if isinstance(self.answered_by, Exception):
            raise self.answered_by
        return self.answered_by

    def answer(self):
        self.log.append(("answer",))

    def get_variable(self, name):
        return self.attempt if name == "CAMPAIGN_ATTEMPT" else ""

    def collect_digits(self, sound, timeout_ms, max_digits):
        if not self.entries:
            self.log.append(("collect", sound, max_digits))
            raise Hangup("the customer hung up")
        return super().collect_digits(sound, timeout_ms, max_digits)

    def variables(self) -> dict[str, str]:
        return {entry[1]: entry[2] for entry in self.log if entry[0] == "var"}

    def played(self) -> list[str]:
        return [sound for entry in self.log if entry[0] == "play" for sound in entry[1]]


def agent_on_duty(queue: str = "general", username: str = "agent1") -> int:
    """An agent logged in to ``queue`` and available, as the switchboard records it."""
    user_id = create_user(username, "", ConsoleRole.AGENT, PASSWORD, username).id
    record_change(user_id, AgentState.AVAILABLE, (queue,), "", PLANNED_AT)
    return user_id


def dialling(small_book: SmallBook, language: str = "en", agent_free: bool = True, **changes: object) -> int:
    """A running campaign's first attempt at the motor policy, claimed by the dialer (dialing); an agent is
    on duty in the general queue unless ``agent_free`` is False."""
    if agent_free:
        agent_on_duty()
    spec = CampaignSpec(name="renewals", message="premium due", due_within_days=30)
    campaign_id = campaigns.create_campaign(CampaignSpec(**{**spec.__dict__, **changes}), "tester", PLANNED_AT).id
    campaigns.start_campaign(campaign_id, PLANNED_AT)
    campaigns.plan_attempts(campaign_id, PLANNED_AT)
    with session_scope() as session:
        session.execute(update(Customer).where(Customer.id == small_book.customer_id).values(language=language))
        attempt_id = session.scalar(select(CampaignAttempt.id).join(Policy, Policy.id == CampaignAttempt.policy_id)
                                    .where(CampaignAttempt.campaign_id == campaign_id,
                                           Policy.policy_no == small_book.motor_policy))
    assert campaigns.begin_attempt(attempt_id, f"camp-{attempt_id}", PLANNED_AT)
    return attempt_id


def answered(small_book: SmallBook, entries=(), press_during_play: str = "", since_answer=timedelta(milliseconds=420),
             answered_by: AnsweredBy | Exception = AnsweredBy.HUMAN, **campaign: object) -> tuple[int, CampaignCall]:
    """The customer answers the dialled attempt and keys ``entries``; the whole call is run."""
    attempt_id = dialling(small_book, **campaign)
    channel = CampaignCall(attempt_id, entries, press_during_play, since_answer, answered_by)
    handle_call(channel)
    return attempt_id, channel


def attempt(attempt_id: int, attempt_no: int = 1) -> CampaignAttempt:
    with session_scope() as session:
        first = session.get(CampaignAttempt, attempt_id)
        row = session.scalar(select(CampaignAttempt).filter_by(
            campaign_id=first.campaign_id, policy_id=first.policy_id, cycle=first.cycle, attempt_no=attempt_no))
        session.expunge_all()
        return row


def result(attempt_id: int) -> tuple[AttemptStatus, str | None]:
    row = attempt(attempt_id)
    return row.status, row.key_pressed


def call_record(attempt_id: int) -> tuple[Call, list[tuple[str, str, str]]]:
    with session_scope() as session:
        call = session.scalar(select(Call).where(Call.unique_id == f"out-{attempt_id}"))
        events = [(e.kind, e.name, e.value) for e in sorted(call.events, key=lambda e: e.seq)]
        session.expunge_all()
        return call, events


# --- who, why, and the birth year before anything else --------------------------------------------


def test_the_customer_hears_who_is_calling_at_once_then_the_birth_year_is_asked_before_any_detail(small_book):
    attempt_id, channel = answered(small_book, [RIGHT_YEAR, "3"])

    assert channel.played()[0] == "hotline/en/reminder_intro"
    first_collect = next(i for i, entry in enumerate(channel.log) if entry[0] == "collect")
    assert channel.log[first_collect] == ("collect", "hotline/en/enter_birth_year", 4)
    assert not any(entry[0] in ("digits", "number", "date") for entry in channel.log[:first_collect])
    assert ("digits", "0001") in channel.log and ("date", CYCLE) in channel.log and ("number", 500) in channel.log


def test_three_wrong_birth_years_end_politely_with_nothing_said_and_the_attempt_answered_unverified(small_book):
    attempt_id, channel = answered(small_book, ["1979", "1981", "2000"])

    assert channel.played()[-1] == "hotline/en/reminder_unverified"
    assert not any(entry[0] in ("digits", "number", "date") for entry in channel.log)
    assert "hotline/en/reminder_policy_ending" not in channel.played()
    assert channel.variables() == {"IVR_OUTCOME": "done"}
    assert result(attempt_id) == (AttemptStatus.ANSWERED, None)
    call, events = call_record(attempt_id)
    assert not call.verified and call.customer_id == small_book.customer_id
    assert [e for e in events if e[:2] == ("verification", "birth_year")] == [
        ("verification", "birth_year", "failed")] * 3
    assert ("campaign", "result", "unverified") in events
    assert all(RIGHT_YEAR not in value and "1979" not in value for _, _, value in events)


def test_the_number_of_birth_year_tries_is_the_setting(small_book):
    attempt_id = dialling(small_book)
    set_settings(get_settings().replace(max_attempts=2))
    channel = CampaignCall(attempt_id, ["1979", "1981"])
    handle_call(channel)

    assert channel.played()[-1] == "hotline/en/reminder_unverified"


# --- the keys --------------------------------------------------------------------------------------


def test_key_1_puts_the_verified_customer_through_to_the_queue_with_what_the_ivr_learned(small_book):
    attempt_id, channel = answered(small_book, [RIGHT_YEAR, "1"])

    assert channel.variables().items() >= {
        "IVR_OUTCOME": "transfer", "IVR_QUEUE": "general", "IVR_INTENT": "renewal", "IVR_VERIFIED": "yes",
        "IVR_POLICY_NO": small_book.motor_policy, "IVR_CUSTOMER_ID": str(small_book.customer_id),
        "IVR_TRANSFER_REASON": "customer_pressed_1"}.items()
    row = attempt(attempt_id)
    assert (row.status, row.key_pressed) == (AttemptStatus.ANSWERED, "1")
    assert row.answered_at is not None and row.ended_at is not None
    call, events = call_record(attempt_id)
    assert call.disposition is Disposition.TRANSFERRED and call.verified
    assert call.policy_no == small_book.motor_policy  # what first-call resolution is about
    assert ("campaign", "attempt", str(attempt_id)) in events and ("campaign", "key", "1") in events


def test_key_2_books_the_next_call_for_the_chosen_day_inside_the_calling_window(small_book):
    attempt_id = dialling(small_book)
    channel = CampaignCall(attempt_id, [RIGHT_YEAR, "2", "2"])  # remind me later: in three days
    before = datetime.now(timezone.utc)
    handle_call(channel)

    assert result(attempt_id) == (AttemptStatus.ANSWERED, "2")
    retry = attempt(attempt_id, attempt_no=2)
    assert retry.status is AttemptStatus.PLANNED
    assert retry.not_before >= before + timedelta(days=3)
    local = retry.not_before.astimezone(get_settings().zone())
    assert 9 <= local.hour < 20 and retry.not_before < before + timedelta(days=4, hours=1)
    assert "hotline/en/remind_later_booked" in channel.played()
    assert ("date", local.date()) in channel.log
    assert channel.played()[-1] == "hotline/en/reminder_goodbye"
    assert channel.variables() == {"IVR_OUTCOME": "done"}
    assert call_record(attempt_id)[0].disposition is Disposition.SELF_SERVED


def test_key_2_on_the_last_allowed_attempt_books_nothing_and_says_so(small_book):
    attempt_id, channel = answered(small_book, [RIGHT_YEAR, "2", "1"], max_attempts=1)

    assert attempt(attempt_id, attempt_no=2) is None
    assert "hotline/en/remind_later_impossible" in channel.played()
    assert attempt(attempt_id).key_pressed == "2"


def test_key_3_flags_the_payment_for_reconciliation_and_no_more_calls_this_cycle(small_book):
    attempt_id, channel = answered(small_book, [RIGHT_YEAR, "3"])

    with session_scope() as session:
        [report] = session.scalars(select(PaymentReconciliation)).all()
        assert (report.cycle, report.attempt_id) == (CYCLE, attempt_id)
    assert "hotline/en/reminder_paid_thanks" in channel.played()
    assert result(attempt_id) == (AttemptStatus.ANSWERED, "3")


def test_key_9_puts_the_number_and_customer_on_do_not_call_at_once(small_book):
    attempt_id, channel = answered(small_book, [RIGHT_YEAR, "9"])

    with session_scope() as session:
        [entry] = session.scalars(select(DoNotCall)).all()
        assert (entry.number, entry.customer_id, entry.source) == (
            attempt(attempt_id).number, small_book.customer_id, DncSource.IVR_KEY_9)
        assert entry.created_at <= datetime.now(timezone.utc) < entry.until
    assert "hotline/en/reminder_opted_out" in channel.played()
    assert attempt(attempt_id).key_pressed == "9"
    other = campaigns.create_campaign(CampaignSpec("other", "due", due_within_days=30), "tester", PLANNED_AT).id
    assert {t.customer_id for t in campaigns.select_targets(other, PLANNED_AT)} == {small_book.other_customer_id}


def test_star_repeats_the_offer_and_a_wrong_key_is_asked_again(small_book):
    attempt_id, channel = answered(small_book, [RIGHT_YEAR, "*", "7", "3"])

    menus = [entry for entry in channel.log if entry[:2] == ("collect", "hotline/en/reminder_menu")]
    assert len(menus) == 3
    assert "hotline/en/invalid_option" in channel.played()
    assert attempt(attempt_id).key_pressed == "3"


def test_zero_during_the_introduction_goes_to_a_person_before_anything_is_verified(small_book):
    attempt_id, channel = answered(small_book, press_during_play="0")

    assert channel.variables().items() >= {"IVR_OUTCOME": "transfer", "IVR_VERIFIED": "no",
                                           "IVR_INTENT": "renewal", "IVR_POLICY_NO": ""}.items()
    assert result(attempt_id) == (AttemptStatus.ANSWERED, "0")


def test_zero_at_the_offer_goes_to_a_person(small_book):
    attempt_id, channel = answered(small_book, [RIGHT_YEAR, "0"])

    assert channel.variables()["IVR_TRANSFER_REASON"] == "caller_pressed_0"
    assert attempt(attempt_id).key_pressed == "0"


# --- hanging up -------------------------------------------------------------------------------------


def test_a_hangup_at_the_offer_leaves_the_attempt_answered_then_hung_up(small_book):
    attempt_id = dialling(small_book)
    with pytest.raises(Hangup):
        handle_call(CampaignCall(attempt_id, [RIGHT_YEAR]))

    row = attempt(attempt_id)
    assert (row.status, row.key_pressed) == (AttemptStatus.CUSTOMER_HUNG_UP, None)
    assert row.answered_at is not None
    assert call_record(attempt_id)[0].disposition is Disposition.ABANDONED_IN_IVR


def test_a_hangup_after_choosing_keeps_the_key_chosen(small_book):
    attempt_id = dialling(small_book)
    with pytest.raises(Hangup):
        handle_call(CampaignCall(attempt_id, [RIGHT_YEAR, "2"]))  # hangs up at "tomorrow, three days, next week"

    assert result(attempt_id) == (AttemptStatus.CUSTOMER_HUNG_UP, "2")
    assert attempt(attempt_id, attempt_no=2) is None


# --- languages and bad input ------------------------------------------------------------------------


def test_a_mandarin_customer_hears_mandarin_with_our_own_number_and_date_fragments(small_book):
    attempt_id, channel = answered(small_book, [RIGHT_YEAR, "3"], language="zh")

    played = channel.played()
    assert played[0] == "hotline/zh/reminder_intro"
    assert ("language", "zh") in channel.log
    assert ["hotline/zh/zh_5", "hotline/zh/zh_100", "hotline/zh/zh_yuan"] == played[
        played.index("hotline/zh/amount_due") + 1:played.index("hotline/zh/amount_due") + 4]
    assert "hotline/zh/zh_nian" in played
    assert not any(entry[0] in ("digits", "number", "date") for entry in channel.log)
    assert all(sound.startswith("hotline/zh/") for sound in played)


def test_an_english_customer_hears_english_read_by_asterisk(small_book):
    attempt_id, channel = answered(small_book, [RIGHT_YEAR, "3"], language="en")

    assert all(sound.startswith("hotline/en/") for sound in channel.played())
    assert [entry for entry in channel.log if entry[0] in ("digits", "number", "date")] == [
        ("digits", "0001"), ("date", CYCLE), ("number", 500)]


@pytest.mark.parametrize("value", ["", "12a", "-1", "１２"])
def test_a_call_without_a_usable_attempt_id_is_apologised_for_and_put_through(small_book, value):
    channel = CampaignCall(value)
    handle_call(channel)

    # what the IVR learned goes with the caller: nothing but that they are not verified
    assert channel.variables() == {"IVR_VERIFIED": "no", "IVR_TRANSFER_REASON": "error", "IVR_OUTCOME": "transfer"}
    assert channel.played() == ["hotline/en/technical_problem"]


def test_remind_later_moves_a_wanted_time_outside_the_window_to_the_next_window_start(small_book):
    attempt_id = dialling(small_book)
    zone = get_settings().zone()
    late_evening = datetime(2026, 11, 21, 22, 30, tzinfo=zone)

    moment = campaigns.remind_later(attempt_id, late_evening, PLANNED_AT)

    assert moment == datetime(2026, 11, 22, 9, 0, tzinfo=zone)
    assert attempt(attempt_id, attempt_no=2).not_before == moment
    assert campaigns.remind_later(attempt_id, late_evening + timedelta(days=5), PLANNED_AT) == moment  # planned once


# --- within 2 s of answer, and no silence when no agent is free -------------------------------------


def test_how_long_after_answer_the_message_began_is_read_from_asterisk_just_before_it_and_recorded(small_book):
    attempt_id, channel = answered(small_book, [RIGHT_YEAR, "3"], since_answer=timedelta(milliseconds=1234.4))

    read = channel.log.index(("since_answer",))
    assert channel.log[read + 1] == ("play", ("hotline/en/reminder_intro",))
    row = attempt(attempt_id)
    assert (row.message_delay_ms, row.agent_unavailable) == (1234, False)
    assert row.message_started_at is not None and row.message_started_at >= row.answered_at
    assert ("campaign", "message_delay_ms", "1234") in call_record(attempt_id)[1]
    assert campaigns.campaign_figures(row.campaign_id).abandoned == 0


@pytest.mark.parametrize("unreadable", [None, AgiError("520 usage")])
def test_a_delay_asterisk_cannot_give_is_stored_as_null_and_the_call_goes_on(small_book, unreadable):
    attempt_id, channel = answered(small_book, [RIGHT_YEAR, "3"], since_answer=unreadable)

    row = attempt(attempt_id)
    assert (row.status, row.key_pressed, row.message_delay_ms) == (AttemptStatus.ANSWERED, "3", None)
    assert row.message_started_at is not None  # it began; how late, Asterisk could not say: not counted late
    assert campaigns.campaign_figures(row.campaign_id).abandoned == 0


def test_a_message_later_than_2_seconds_after_answer_is_an_abandoned_call(small_book):
    attempt_id, _ = answered(small_book, [RIGHT_YEAR, "3"], since_answer=timedelta(milliseconds=2001))

    figures = campaigns.campaign_figures(attempt(attempt_id).campaign_id)
    assert (figures.abandoned, figures.late_messages, figures.answered_calls, figures.abandoned_rate) == (1, 1, 1, 1.0)


def test_a_customer_who_hangs_up_before_the_message_began_is_an_abandoned_call(small_book):
    attempt_id = dialling(small_book)
    with pytest.raises(Hangup):
        handle_call(CampaignCall(attempt_id, since_answer=Hangup("gone before the intro")))

    row = attempt(attempt_id)
    assert (row.status, row.message_started_at, row.message_delay_ms) == (AttemptStatus.CUSTOMER_HUNG_UP, None, None)
    assert campaigns.campaign_figures(row.campaign_id).abandoned == 1


def test_a_hang_up_after_the_message_began_is_not_an_abandoned_call(small_book):
    attempt_id = dialling(small_book)
    with pytest.raises(Hangup):
        handle_call(CampaignCall(attempt_id, [RIGHT_YEAR]))

    row = attempt(attempt_id)
    assert row.status is AttemptStatus.CUSTOMER_HUNG_UP and row.message_started_at is not None
    figures = campaigns.campaign_figures(row.campaign_id)
    assert (figures.answered_calls, figures.abandoned) == (1, 0)


@pytest.mark.parametrize("keys", [[RIGHT_YEAR, "1"], [RIGHT_YEAR, "0"]])
def test_asking_for_a_person_when_none_is_free_books_a_callback_and_ends_politely(small_book, keys):
    attempt_id, channel = answered(small_book, keys, agent_free=False)

    assert channel.played()[-1] == "hotline/en/reminder_advisers_busy"
    assert channel.variables() == {"IVR_OUTCOME": "done"}  # not the queue
    row = attempt(attempt_id)
    assert (row.status, row.key_pressed, row.agent_unavailable) == (AttemptStatus.ANSWERED, keys[1], True)
    with session_scope() as session:
        [callback] = session.scalars(select(CallbackRequest)).all()
        assert (callback.number, callback.customer_id, callback.reason, callback.call_unique_id) == (
            row.number, small_book.customer_id, "campaign", f"out-{attempt_id}")
    call, events = call_record(attempt_id)
    assert call.disposition is Disposition.SELF_SERVED
    assert ("campaign", "no_agent_free", "customer_pressed_1" if keys[1] == "1" else "caller_pressed_0") in events
    figures = campaigns.campaign_figures(row.campaign_id)
    assert (figures.abandoned, figures.no_agent_free, figures.late_messages) == (1, 1, 0)


def test_an_agent_on_duty_but_talking_or_in_another_queue_is_not_free(small_book):
    attempt_id = dialling(small_book, agent_free=False)
    talking = agent_on_duty("general", "agent1")
    agent_on_duty("claims", "agent2")
    with session_scope() as session:
        session.add(QueueCall(unique_id="in-1", queue="general", number="+8613900000001", joined_at=PLANNED_AT,
                              outcome=QueueOutcome.ANSWERED, answered_at=datetime.now(timezone.utc),
                              agent_id=talking))
    channel = CampaignCall(attempt_id, [RIGHT_YEAR, "1"])
    handle_call(channel)

    assert channel.played()[-1] == "hotline/en/reminder_advisers_busy"
    assert attempt(attempt_id).agent_unavailable


def test_a_free_agent_is_not_free_for_us_when_callers_already_wait_in_the_queue(small_book):
    agent_on_duty("general", "agent9")
    with session_scope() as session:
        session.add(QueueCall(unique_id="in-2", queue="general", number="+8613900000002", joined_at=PLANNED_AT,
                              outcome=QueueOutcome.WAITING))
    assert not campaigns.agent_free_for(small_book.customer_id, "renewal", datetime.now(timezone.utc))
    agent_on_duty("general", "agent8")
    assert campaigns.agent_free_for(small_book.customer_id, "renewal", datetime.now(timezone.utc))


# --- answering machines -----------------------------------------------------------------------------


def test_a_campaign_without_machine_detection_never_listens_for_one(small_book):
    _, channel = answered(small_book, [RIGHT_YEAR, "3"])

    assert ("amd",) not in channel.log


def test_a_machine_is_hung_up_on_without_a_word_and_called_again_later(small_book):
    attempt_id, channel = answered(small_book, [RIGHT_YEAR, "3"], answered_by=AnsweredBy.MACHINE,
                                   detect_machines=True)

    assert channel.played() == [] and not any(entry[0] in ("collect", "digits", "number", "date")
                                              for entry in channel.log)
    row = attempt(attempt_id)
    assert (row.status, row.key_pressed, row.message_started_at) == (AttemptStatus.MACHINE, None, None)
    retry = attempt(attempt_id, attempt_no=2)
    assert retry.status is AttemptStatus.PLANNED and retry.not_before > row.ended_at
    call, events = call_record(attempt_id)
    assert ("campaign", "answered_by", "machine") in events
    assert channel.variables()["IVR_OUTCOME"] == "done"  # hung up on, not put through to an agent
    figures = campaigns.campaign_figures(row.campaign_id)
    assert (figures.reached, figures.abandoned) == (0, 0)  # nobody was reached; nobody was left waiting


@pytest.mark.parametrize("verdict", [AnsweredBy.HUMAN, AnsweredBy.NOTSURE, AgiError("510 no AMD")])
def test_a_person_or_an_unsure_or_failed_detection_hears_the_reminder(small_book, verdict):
    attempt_id, channel = answered(small_book, [RIGHT_YEAR, "3"], answered_by=verdict, detect_machines=True)

    assert channel.log.index(("amd",)) < channel.log.index(("play", ("hotline/en/reminder_intro",)))
    assert (attempt(attempt_id).status, attempt(attempt_id).key_pressed) == (AttemptStatus.ANSWERED, "3")


def test_with_detection_the_message_delay_counts_from_the_end_of_the_customers_greeting(small_book):
    greeting_ended, message_began = timedelta(milliseconds=2600), timedelta(milliseconds=3100)
    attempt_id, _ = answered(small_book, [RIGHT_YEAR, "3"], since_answer=[greeting_ended, message_began],
                             detect_machines=True)

    row = attempt(attempt_id)
    assert row.message_delay_ms == 500  # 3.1 s after answer, half a second after "hello": not late
    assert campaigns.campaign_figures(row.campaign_id).abandoned == 0


def test_a_hang_up_during_detection_is_the_customer_hanging_up(small_book):
    attempt_id = dialling(small_book, detect_machines=True)
    with pytest.raises(Hangup):
        handle_call(CampaignCall(attempt_id, answered_by=Hangup("gone while AMD listened")))

    assert attempt(attempt_id).status is AttemptStatus.CUSTOMER_HUNG_UP
