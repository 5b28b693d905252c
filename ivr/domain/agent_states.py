"""Agents' state with the queues: logged out, available or paused (with a reason), and its history.

Every change is a new ``agent_state_changes`` row with the queues the agent
is in after it, so online time and pause time per reason come from the rows
(``time_in_states``) and the latest row is the state now. The rules of a
change are pure (``next_state``): the switchboard checks a change here, makes
it in Asterisk, then records it, so a change Asterisk refused is never stored.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select

from ivr.config import get_settings
from ivr.db.models import AgentState, AgentStateChange, ConsoleRole, ConsoleUser
from ivr.db.session import session_scope
from ivr.domain import routing, values
from ivr.domain.errors import InvalidTransition, NotFound, ValidationError

__all__ = ["AgentAction", "AgentState", "AgentStatus", "StateTimes", "agents", "available_agent", "next_state", "pause_reasons",
           "record_change", "status_of", "time_in_states", "user_for_interface"]

REASON_MAX_CHARS = 64


class AgentAction(str, enum.Enum):
    LOG_IN = "log_in"  # join queues (more queues while logged in: join those too)
    LOG_OUT = "log_out"  # leave every queue
    PAUSE = "pause"
    RESUME = "resume"


@dataclass(frozen=True)
class AgentStatus:
    user_id: int
    username: str
    display_name: str
    sip_endpoint: str | None
    state: AgentState
    reason: str  # why paused; empty otherwise
    queues: tuple[str, ...]  # routing names, sorted
    since: datetime | None  # when the state began; None for an agent who never logged in

    @property
    def interface(self) -> str | None:
        """The agent's phone as Asterisk's queues name it."""
        return f"PJSIP/{self.sip_endpoint}" if self.sip_endpoint else None


@dataclass(frozen=True)
class StateTimes:
    """Seconds an agent spent logged in and paused (per reason) within a period."""

    online_seconds: int
    paused_seconds: dict[str, int] = field(default_factory=dict)


def pause_reasons() -> tuple[str, ...]:
    """The reasons an agent may pause for (setting ``pause_reasons``), in the setting's order."""
    return values.code_list("pause_reasons", get_settings().pause_reasons, REASON_MAX_CHARS)


def next_state(current: AgentStatus, action: AgentAction, queues: Iterable[str] = (),
               reason: str = "") -> tuple[AgentState, tuple[str, ...], str]:
    """The state, queues and reason after ``action``; ``InvalidTransition`` or ``ValidationError`` if it
    cannot be done. Logging in again with other queues adds them; a paused agent stays paused."""
    if action is AgentAction.LOG_IN:
        wanted = _queues(queues)
        joined = tuple(sorted(set(current.queues) | set(wanted)))
        state = AgentState.AVAILABLE if current.state is AgentState.LOGGED_OUT else current.state
        return state, joined, current.reason
    if current.state is AgentState.LOGGED_OUT:
        raise InvalidTransition(f"{current.username} is not logged in to any queue", "agent_not_logged_in")
    if action is AgentAction.LOG_OUT:
        return AgentState.LOGGED_OUT, (), ""
    if action is AgentAction.PAUSE:
        if reason not in pause_reasons():
            raise ValidationError(f"pause reason {reason[:40]!r} is not one of: {', '.join(pause_reasons())}",
                                  "invalid_pause_reason")
        return AgentState.PAUSED, current.queues, reason
    if current.state is not AgentState.PAUSED:
        raise InvalidTransition(f"{current.username} is not paused", "agent_not_paused")
    return AgentState.AVAILABLE, current.queues, ""


def _queues(queues: Iterable[str]) -> tuple[str, ...]:
    wanted = tuple(sorted(set(queues)))
    unknown = [name for name in wanted if name not in routing.QUEUES]
    if not wanted or unknown:
        raise ValidationError(f"queues must be some of {', '.join(routing.QUEUES)}; got {', '.join(wanted)[:80]!r}",
                              "invalid_queues")
    return wanted


def record_change(user_id: int, state: AgentState, queues: Iterable[str], reason: str, now: datetime,
                  source: str = "console") -> AgentStatus:
    """Store a change already made in Asterisk (or, for a log-out, one that needs no Asterisk)."""
    with session_scope() as session:
        session.add(AgentStateChange(user_id=user_id, at=now, state=state, queues=",".join(sorted(queues)),
                                     reason=reason, source=source))
    return status_of(user_id)


def status_of(user_id: int) -> AgentStatus:
    """The agent's state now (logged out, never logged in, for a new agent)."""
    statuses = _statuses(ConsoleUser.id == user_id)
    if not statuses:
        raise NotFound(f"no console user {user_id}", "user_not_found")
    return statuses[0]


def available_agent(user_id: int) -> AgentStatus | None:
    """The agent's state if they are an active agent with a phone, logged in and not paused; else None."""
    statuses = _statuses(ConsoleUser.id == user_id, *_agents_with_phones(active_only=True))
    return statuses[0] if statuses and statuses[0].state is AgentState.AVAILABLE else None


def agents(on_duty_only: bool = False, active_only: bool = True) -> list[AgentStatus]:
    """Every active agent with a phone and their state, by name; ``on_duty_only``: those logged in;
    ``active_only=False``: switched-off agents too (whose phones must leave the queues)."""
    statuses = _statuses(*_agents_with_phones(active_only))
    return [status for status in statuses if status.state is not AgentState.LOGGED_OUT or not on_duty_only]


def _agents_with_phones(active_only: bool) -> list[ColumnElement[bool]]:
    conditions = [ConsoleUser.role == ConsoleRole.AGENT, ConsoleUser.sip_endpoint.is_not(None)]
    return [*conditions, ConsoleUser.active.is_(True)] if active_only else conditions


def _statuses(*conditions: object) -> list[AgentStatus]:
    latest = (select(AgentStateChange.user_id, func.max(AgentStateChange.id).label("change_id"))
              .group_by(AgentStateChange.user_id).subquery())
    query = (select(ConsoleUser, AgentStateChange)
             .outerjoin(latest, latest.c.user_id == ConsoleUser.id)
             .outerjoin(AgentStateChange, AgentStateChange.id == latest.c.change_id)
             .where(*conditions).order_by(ConsoleUser.display_name, ConsoleUser.username))
    with session_scope() as session:
        return [_status(user, change) for user, change in session.execute(query)]


def _status(user: ConsoleUser, change: AgentStateChange | None) -> AgentStatus:
    if change is None:
        return AgentStatus(user.id, user.username, user.display_name, user.sip_endpoint, AgentState.LOGGED_OUT,
                           "", (), None)
    return AgentStatus(user.id, user.username, user.display_name, user.sip_endpoint, change.state, change.reason,
                       tuple(filter(None, change.queues.split(","))), change.at)


def time_in_states(user_id: int, start: datetime, end: datetime) -> StateTimes:
    """Online and paused seconds within [start, end): each change lasts until the next one (or ``end``)."""
    with session_scope() as session:
        before = session.scalars(select(AgentStateChange).where(
            AgentStateChange.user_id == user_id, AgentStateChange.at < start)
            .order_by(AgentStateChange.id.desc()).limit(1)).all()
        within = session.scalars(select(AgentStateChange).where(
            AgentStateChange.user_id == user_id, AgentStateChange.at >= start, AgentStateChange.at < end)
            .order_by(AgentStateChange.at, AgentStateChange.id)).all()
        spans = [(max(change.at, start), change.state, change.reason) for change in [*before, *within]]
    online, paused = timedelta(), {}
    for (began, state, reason), (ended, _, _) in zip(spans, [*spans[1:], (end, None, "")]):
        if state is AgentState.LOGGED_OUT:
            continue
        online += ended - began
        if state is AgentState.PAUSED:
            paused[reason] = paused.get(reason, 0) + int((ended - began).total_seconds())
    return StateTimes(int(online.total_seconds()), paused)


def user_for_interface(interface: str) -> int | None:
    """The console user whose phone Asterisk names ``interface`` (``PJSIP/agent1``), if any."""
    technology, _, endpoint = interface.partition("/")
    if technology.upper() != "PJSIP" or not endpoint:
        return None
    with session_scope() as session:
        return session.scalar(select(ConsoleUser.id).where(ConsoleUser.sip_endpoint == endpoint))
