"""The language menu: Mandarin first, English second, three tries, 0 to a person."""

import pytest

from ivr.flows.language import choose_language
from ivr.flows.menu import TransferToAgent
from test_menu import ScriptedChannel, conversation


def test_key_during_the_mandarin_offer_chooses_at_once():
    channel = ScriptedChannel(press_during_play="1")
    call, _ = conversation(channel)
    choose_language(call)
    assert call.language == "zh"
    assert not any(entry[0] == "collect" for entry in channel.log)


def test_two_after_the_english_offer_chooses_english():
    channel = ScriptedChannel(["2"])
    call, _ = conversation(channel)
    call.language = "zh"
    choose_language(call)
    assert call.language == "en"
    assert channel.log[0] == ("play", ("hotline/zh/language_choice",))
    assert channel.log[1] == ("collect", "hotline/en/language_choice", 1)


def test_three_tries_without_a_choice_go_to_a_person():
    call, _ = conversation(ScriptedChannel(["", "7", ""]))
    with pytest.raises(TransferToAgent) as transfer:
        choose_language(call)
    assert transfer.value.reason == "too_many_attempts"
