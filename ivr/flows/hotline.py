"""The hotline (95519): language, recognition, then the main menu."""

from __future__ import annotations

from ivr.flows.language import choose_language
from ivr.flows.main_menu import main_menu
from ivr.flows.menu import Conversation
from ivr.flows.prompts import LANGUAGES, P
from ivr.flows.verification import recognise


def hotline(call: Conversation) -> None:
    recognised = recognise(call)
    if recognised and call.state.preferred_language in LANGUAGES:
        call.use_language(call.state.preferred_language)
    else:
        choose_language(call)
    call.say(P.welcome_known if recognised else P.welcome)
    main_menu(call)
    call.say(P.goodbye)
