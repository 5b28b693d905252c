"""House rules of every menu: retries, 0 to a person, masked secrets, amounts.

A scripted channel stands in for Asterisk here; the same rules are proven
end to end by real calls in tests/acceptance.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import pytest

from ivr.flows.menu import Conversation, TransferToAgent
from ivr.telephony.channel import CallInfo, DigitEntry


class ScriptedChannel:
    """Answers each collect_digits with the next scripted entry; logs what it was asked."""

    def __init__(self, entries: Sequence[str] = (), press_during_play: str = "") -> None:
        self.info = CallInfo("u1", "PJSIP/x", "hotline", "13800138000", "", "95519", "en")
        self.entries = list(entries)
        self.press_during_play = press_during_play
        self.log: list[tuple] = []

    def play(self, sounds, interrupt_keys=""):
        self.log.append(("play", tuple(sounds)))
        return self.press_during_play if self.press_during_play in interrupt_keys else ""

    def collect_digits(self, sound, timeout_ms, max_digits):
        """Each scripted entry is digits, or (digits, complete)."""
        self.log.append(("collect", sound, max_digits))
        entry = self.entries.pop(0)
        return DigitEntry(*entry) if isinstance(entry, tuple) else DigitEntry(entry)

    def say_number(self, number, interrupt_keys=""):
        self.log.append(("number", number))
        return ""

    def say_digits(self, digits, interrupt_keys=""):
        self.log.append(("digits", digits))
        return ""

    def say_date(self, day, interrupt_keys=""):
        self.log.append(("date", day))
        return ""

    def set_language(self, language):
        self.log.append(("language", language))

    def set_variable(self, name, value):
        self.log.append(("var", name, value))


class MemoryJournal:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def event(self, kind, name="", value=""):
        self.events.append((kind, name, value))

    def set_language(self, language):
        self.events.append(("language", "", language))

    def flush(self):
        self.events.append(("flush", "", ""))


def conversation(channel: ScriptedChannel, language: str = "en") -> tuple[Conversation, MemoryJournal]:
    journal = MemoryJournal()
    return Conversation(channel, journal, language, max_attempts=3), journal  # type: ignore[arg-type]


def accept_only(good: str):
    return lambda entry: None if entry == good else "policy_not_found"


def test_right_entry_on_the_second_attempt_is_accepted_after_saying_what_was_wrong():
    channel = ScriptedChannel(["111", "222"])
    call, _ = conversation(channel)
    assert call.ask("enter_policy_number", name="policy_number", max_digits=20,
                    check=accept_only("222")) == "222"
    assert channel.log[1:] == [("play", ("hotline/en/policy_not_found",)),
                               ("collect", "hotline/en/enter_policy_number", 20)]


def test_three_wrong_or_missing_entries_transfer_to_an_agent():
    channel = ScriptedChannel(["", "111", "333"])
    call, journal = conversation(channel)
    with pytest.raises(TransferToAgent) as transfer:
        call.ask("enter_policy_number", name="policy_number", max_digits=20, check=accept_only("222"))
    assert transfer.value.reason == "too_many_attempts"
    collects = [entry for entry in channel.log if entry[0] == "collect"]
    assert len(collects) == 3
    assert channel.log[1] == ("play", ("hotline/en/no_input",))
    assert ("prompt", "too_many_attempts", "") in journal.events


def test_zero_goes_to_an_agent_at_once():
    channel = ScriptedChannel(["0"])
    call, _ = conversation(channel)
    with pytest.raises(TransferToAgent) as transfer:
        call.ask("enter_birth_date", name="birth_date", max_digits=8, check=accept_only("x"))
    assert transfer.value.reason == "caller_pressed_0"


def test_zero_during_a_read_out_goes_to_an_agent():
    call, _ = conversation(ScriptedChannel(press_during_play="0"))
    with pytest.raises(TransferToAgent):
        call.say("policy")


def test_secret_entries_are_recorded_masked():
    call, journal = conversation(ScriptedChannel(["19800517"]))
    call.ask("enter_birth_date", name="birth_date", max_digits=8, check=accept_only("19800517"),
             secret=True)
    assert ("input", "birth_date", "********") in journal.events
    assert all("19800517" not in value for _, _, value in journal.events)


@pytest.mark.parametrize("amount, spoken", [
    (Decimal("3250.00"), [("number", 3250), ("play", ("hotline/en/yuan",))]),
    (Decimal("1288.5"), [("number", 1288), ("play", ("hotline/en/point",)), ("digits", "50"),
                         ("play", ("hotline/en/yuan",))]),
    (Decimal("0.07"), [("number", 0), ("play", ("hotline/en/point",)), ("digits", "07"),
                       ("play", ("hotline/en/yuan",))]),
])
def test_amounts_are_spoken_as_yuan_and_fen(amount, spoken):
    channel = ScriptedChannel()
    call, _ = conversation(channel)
    call.say_amount(amount)
    assert channel.log == spoken


def test_a_language_we_do_not_speak_keeps_the_current_one():
    channel = ScriptedChannel()
    call, _ = conversation(channel)
    call.use_language("xx")
    assert call.language == "en"
    assert channel.log == []
    call.say_date(date(2026, 12, 1))
    assert channel.log == [("date", date(2026, 12, 1))]


def zh_sounds(*fragments: str) -> tuple[str, ...]:
    return tuple(f"hotline/zh/{fragment}" for fragment in fragments)


@pytest.mark.parametrize("say, value, fragments", [
    ("say_number", 10010, ("zh_1", "zh_10000", "zh_0", "zh_1", "zh_10")),
    ("say_digits", "8810", ("zh_8", "zh_8", "zh_1", "zh_0")),
    ("say_date", date(2026, 12, 1),
     ("zh_2", "zh_0", "zh_2", "zh_6", "zh_nian", "zh_10", "zh_2", "zh_yue", "zh_1", "zh_ri")),
    ("say_amount", Decimal("1234.05"),
     ("zh_1", "zh_1000", "zh_2", "zh_100", "zh_3", "zh_10", "zh_4", "zh_yuan", "zh_0", "zh_5", "zh_fen")),
])
def test_mandarin_numbers_dates_and_amounts_are_one_list_of_our_own_fragments(say, value, fragments):
    channel = ScriptedChannel()
    call, _ = conversation(channel, "zh")
    getattr(call, say)(value)
    assert channel.log == [("play", zh_sounds(*fragments))]


def test_zero_during_a_mandarin_amount_goes_to_an_agent():
    call, _ = conversation(ScriptedChannel(press_during_play="0"), "zh")
    with pytest.raises(TransferToAgent):
        call.say_amount(Decimal("88.80"))


def test_switching_to_mandarin_switches_number_speech():
    channel = ScriptedChannel()
    call, _ = conversation(channel)
    call.use_language("zh")
    call.say_number(2)
    assert channel.log == [("language", "zh"), ("play", zh_sounds("zh_2"))]


def test_star_repeats_the_prompt_without_using_up_a_try():
    channel = ScriptedChannel(["*", "*", "111", "", "222"])
    call, _ = conversation(channel)
    assert call.ask("enter_policy_number", name="policy_number", max_digits=20,
                    check=accept_only("222")) == "222"
    assert sum(1 for entry in channel.log if entry[0] == "collect") == 5


def test_entry_cut_short_by_the_timeout_is_incomplete_never_a_prefix_match():
    channel = ScriptedChannel([("222", False), "222"])
    call, journal = conversation(channel)
    accepted = []
    assert call.ask("enter_policy_number", name="policy_number", max_digits=20,
                    check=lambda entry: accepted.append(entry)) == "222"
    assert accepted == ["222"]  # the partial entry never reached the check
    assert ("play", ("hotline/en/incomplete_entry",)) in channel.log


def test_one_key_menu_rejects_keys_it_does_not_offer():
    channel = ScriptedChannel(["7", "2"])
    call, _ = conversation(channel)
    assert call.choose("main_menu", "123") == "2"
    assert ("play", ("hotline/en/invalid_option",)) in channel.log


def test_transfer_carries_what_the_ivr_learned_and_no_caller_text():
    call, _ = conversation(ScriptedChannel())
    call.state.customer_id, call.state.verified, call.state.claim_no = 42, True, "261121000001"
    assert call.state.transfer_variables() == {
        "IVR_CUSTOMER_ID": "42", "IVR_VERIFIED": "yes", "IVR_POLICY_NO": "",
        "IVR_INTENT": "", "IVR_CLAIM_NO": "261121000001", "IVR_TICKET_NO": ""}
