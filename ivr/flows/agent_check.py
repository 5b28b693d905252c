"""业务员身份鉴别: is the sales agent at the door genuine?"""

from __future__ import annotations

from datetime import datetime, timezone

from ivr.domain.sales_agents import AgentCheckResult, check_agent
from ivr.flows.menu import Conversation
from ivr.flows.prompts import P
from ivr.flows.prompts.names import agent_name_sound

AGENT_CODE_MAX_DIGITS = 16
TO_ANTI_FRAUD = "1"
BACK = "9"


def check_sales_agent(call: Conversation) -> None:
    """Key the code on the agent's card; hear who they are, or a warning."""
    call.state.intent = "agent_check"
    code = call.ask(P.enter_agent_code, name="agent_code", max_digits=AGENT_CODE_MAX_DIGITS,
                    check=lambda _entry: None)
    outcome = check_agent(code, call.channel.info.caller_number, call.journal.unique_id,
                          datetime.now(timezone.utc))
    call.journal.event("agent_check", code, outcome.result.value)
    call.state.served = True
    if outcome.result is AgentCheckResult.ACTIVE:
        call.say(P.agent_genuine)
        if not call.play_recording(agent_name_sound(code)):
            call.say(P.agent_code_is)
            call.say_digits(code)
        return
    call.state.intent = "anti_fraud"
    if call.choose(P.agent_not_genuine, TO_ANTI_FRAUD + BACK) == TO_ANTI_FRAUD:
        call.transfer("anti_fraud")
