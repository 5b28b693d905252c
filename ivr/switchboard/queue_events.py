"""Asterisk's queue events, turned into queue-call records, screen pops and automatic callbacks.

Handlers run on the AMI link's event thread. Header values are untrusted text
(a caller ID is whatever the caller sent): they are stored as data through the
ORM and never reach a command. A handler that fails (the database is down) is
logged by the link and the next event is handled as usual.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from ivr.domain import agent_states, queue_calls, screen_pops
from ivr.switchboard.names import routing_name
from ivr.telephony.ami import AmiMessage

log = logging.getLogger(__name__)

# The dialplan's UserEvent when a caller's advisor of record answers ([hotline-advisor-answered]).
ADVISOR_EVENT = "HotlineAdvisorConnect"

Clock = Callable[[], datetime]


class QueueEvents:
    """The handlers, with the clock and what to wake (given the agent's user id) when a pop is stored."""

    def __init__(self, clock: Clock, popped: Callable[[int], None]) -> None:
        self._clock = clock
        self._popped = popped

    def subscriptions(self) -> dict[str, Callable[[AmiMessage], None]]:
        """Event name -> handler, for the link to register."""
        return {"QueueCallerJoin": self.caller_joined, "AgentConnect": self.agent_connected,
                "AgentComplete": self.agent_completed, "QueueCallerAbandon": self.caller_abandoned,
                "UserEvent": self.user_event}

    def caller_joined(self, event: AmiMessage) -> None:
        queue_calls.joined(event["Uniqueid"], routing_name(event["Queue"]), event.get("CallerIDNum", "") or "",
                           self._clock())

    def agent_connected(self, event: AmiMessage) -> None:
        unique_id, interface = event["Uniqueid"], event.get("Interface", "") or ""
        agent_id = agent_states.user_for_interface(interface)
        queue_calls.answered(unique_id, agent_id, interface, _seconds(event.get("HoldTime")), self._clock())
        log.info("queue call %s answered by %s", unique_id, interface, extra={"unique_id": unique_id})
        if agent_id is None:
            log.warning("queue call %s went to %s, who is no console user: no screen pop", unique_id, interface,
                        extra={"unique_id": unique_id})
            return
        self._pop(agent_id, unique_id, event.get("CallerIDNum", "") or "", routing_name(event["Queue"]))

    def agent_completed(self, event: AmiMessage) -> None:
        """Reason is who ended the agent's part: caller, agent, or transfer (app_queue's AgentComplete)."""
        transferred = (event.get("Reason") or "").lower() == "transfer"
        queue_calls.talk_ended(event["Uniqueid"], self._clock(), transferred)

    def caller_abandoned(self, event: AmiMessage) -> None:
        unique_id = event["Uniqueid"]
        outcome = queue_calls.abandoned(unique_id, _seconds(event.get("HoldTime")), self._clock())
        log.info("queue call %s abandoned: callback %s%s", unique_id, outcome.callback_id or "none",
                 f" ({outcome.skipped})" if outcome.skipped else " (merged)" if outcome.merged else "",
                 extra={"unique_id": unique_id})

    def user_event(self, event: AmiMessage) -> None:
        if event.get("UserEvent") != ADVISOR_EVENT:
            return
        unique_id, endpoint = event.get("CallerUniqueid", "") or "", event.get("Endpoint", "") or ""
        agent_id = agent_states.user_for_interface(f"PJSIP/{endpoint}")
        if unique_id and agent_id is not None:
            self._pop(agent_id, unique_id, event.get("CallerNumber", "") or "", "")

    def _pop(self, agent_id: int, unique_id: str, number: str, queue: str) -> None:
        if screen_pops.record_pop(agent_id, unique_id, number, queue, self._clock()) is not None:
            log.info("screen pop of %s for console user %s", unique_id, agent_id, extra={"unique_id": unique_id})
            self._popped(agent_id)


def _seconds(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 0
