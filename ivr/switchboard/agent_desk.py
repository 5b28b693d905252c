"""Agents joining and leaving queues, pausing and resuming: in Asterisk first, then on the record.

A change is checked by the domain (``agent_states.next_state``), made with
QueueAdd / QueueRemove / QueuePause, then stored; what Asterisk refused is
never stored. Logging out always succeeds: with Asterisk unreachable it is
stored anyway, and the reconnect brings Asterisk in line with the record
(``reconcile``), because dynamic members do not survive an Asterisk restart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from ivr.db.models import AgentState
from ivr.domain import agent_states
from ivr.domain.agent_states import AgentAction, AgentStatus
from ivr.domain.errors import DomainError, ValidationError
from ivr.switchboard.names import ASTERISK_QUEUE, routing_name
from ivr.telephony.errors import AmiActionError, AmiConnectionError, AmiTimeout
from ivr.telephony.queues import QueueControl, QueueMember, QueueSnapshot

log = logging.getLogger(__name__)


class AsteriskUnavailable(DomainError):
    """The change needs Asterisk and the AMI link is down; nothing was changed."""

    error_id = "asterisk_unavailable"
    http_status = 503


class AsteriskRefused(DomainError):
    error_id = "asterisk_refused"
    http_status = 502


class AgentDesk:
    def __init__(self, queues: QueueControl, clock: Callable[[], datetime]) -> None:
        self._queues = queues
        self._clock = clock

    def act(self, user_id: int, action: AgentAction, queues: Iterable[str] = (), reason: str = "",
            source: str = "console") -> AgentStatus:
        """Do ``action`` for the agent and return their state after it."""
        current = agent_states.status_of(user_id)
        if current.interface is None:
            raise ValidationError(f"{current.username} has no phone (sip_endpoint); set one with `ivr users`",
                                  "agent_has_no_phone")
        state, joined, reason = agent_states.next_state(current, action, queues, reason)
        try:
            self._apply(current, state, joined, reason)
        except (AmiConnectionError, AmiTimeout) as exc:
            if state is not AgentState.LOGGED_OUT:
                raise AsteriskUnavailable(f"Asterisk cannot be reached ({exc}); try again shortly") from exc
            log.warning("%s logged out while Asterisk is unreachable (%s); the reconnect removes them",
                        current.username, exc)
        except AmiActionError as exc:
            raise AsteriskRefused(f"Asterisk refused the change: {exc}") from exc
        status = agent_states.record_change(user_id, state, joined, reason, self._clock(), source)
        log.info("agent %s: %s -> %s%s queues=%s", current.username, current.state.value, state.value,
                 f" ({reason})" if reason else "", ",".join(joined))
        return status

    def _apply(self, current: AgentStatus, state: AgentState, joined: tuple[str, ...], reason: str) -> None:
        interface = current.interface
        assert interface is not None
        if state is AgentState.LOGGED_OUT:
            for queue in current.queues:
                self._queues.remove_member(ASTERISK_QUEUE[queue], interface)
            return
        paused = state is AgentState.PAUSED
        for queue in sorted(set(joined) - set(current.queues)):
            self._queues.add_member(ASTERISK_QUEUE[queue], interface, current.display_name or current.username,
                                    paused=paused, reason=reason)
        if current.state is not AgentState.LOGGED_OUT and state is not current.state:
            self._queues.pause_member(interface, paused, reason)

    def reconcile(self, snapshots: list[QueueSnapshot]) -> int:
        """Make Asterisk's queue members match the record (after a (re)connect); the changes made.

        Each change stands alone: one Asterisk refuses (a static member in
        queues.conf cannot be removed) is logged and the others go on.
        """
        members = {(routing_name(s.name), m.interface): m for s in snapshots for m in s.members}
        changes = 0
        for agent in agent_states.agents(active_only=False):
            for queue in ASTERISK_QUEUE:
                change = self._difference(agent, queue, members.get((queue, agent.interface or "")))
                if change is None:
                    continue
                try:
                    change()
                    changes += 1
                except AmiActionError as exc:
                    log.warning("cannot bring %s in %s in line with the record: %s", agent.username, queue, exc)
        if changes:
            log.info("queue members brought in line with the console's record: %d changes", changes)
        return changes

    def _difference(self, agent: AgentStatus, queue: str, member: QueueMember | None) -> Callable[[], None] | None:
        """The action that makes Asterisk agree with the record for one agent and queue, if any."""
        interface = agent.interface
        assert interface is not None
        paused = agent.state is AgentState.PAUSED
        wanted = agent.state is not AgentState.LOGGED_OUT and queue in agent.queues
        if wanted and member is None:
            return lambda: self._queues.add_member(ASTERISK_QUEUE[queue], interface,
                                                   agent.display_name or agent.username, paused, agent.reason)
        if wanted and member is not None and member.paused != paused:
            return lambda: self._queues.pause_member(interface, paused, agent.reason, ASTERISK_QUEUE[queue])
        if not wanted and member is not None:
            return lambda: self._queues.remove_member(ASTERISK_QUEUE[queue], interface)
        return None
