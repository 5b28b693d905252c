"""The supervisors' wallboard: calls waiting per queue and the longest wait, agents by state, and
today's answered, abandoned and service level.

Waiting calls come from Asterisk's live queue status while the AMI link is
up, else from the queue-call records (marked as such); agents' states from
the console's record, with their phone's state from Asterisk when known; the
day's figures from the queue-call records, in the centre's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ivr.config import get_settings
from ivr.domain import agent_states, health, queue_calls, routing
from ivr.domain.agent_states import AgentStatus
from ivr.domain.health import Alert
from ivr.domain.queue_calls import QueueDay
from ivr.switchboard.names import routing_name
from ivr.telephony.queues import QueueSnapshot


@dataclass(frozen=True)
class QueueLine:
    queue: str
    waiting: int
    longest_wait_seconds: int
    members: int
    members_free: int  # logged in, not paused, phone idle
    today: QueueDay
    service_level: float | None  # today's, this queue


@dataclass(frozen=True)
class AgentLine:
    username: str
    display_name: str
    state: str  # logged_out, available, paused
    reason: str
    queues: tuple[str, ...]
    since: datetime | None
    phone: str  # the phone's state as Asterisk reports it (in use, ringing, not registered ...), or "" if unknown


@dataclass(frozen=True)
class Wallboard:
    at: datetime
    live: bool  # False: Asterisk unreachable, waiting calls from the records
    queues: tuple[QueueLine, ...]
    agents: tuple[AgentLine, ...]
    answered: int
    abandoned: int
    service_level: float | None  # the day's, all queues
    service_level_seconds: int
    alerts: tuple[Alert, ...] = ()  # what needs an operator now (ivr.domain.health)


def build_wallboard(snapshots: list[QueueSnapshot] | None, now: datetime) -> Wallboard:
    """The board at ``now``; ``snapshots`` is Asterisk's queue status, or None when it is unreachable."""
    settings = get_settings()
    local_midnight = now.astimezone(settings.zone()).replace(hour=0, minute=0, second=0, microsecond=0)
    days = {day.queue: day for day in queue_calls.queue_day(local_midnight, local_midnight + timedelta(days=1))}
    live = {routing_name(s.name): s for s in snapshots or []}
    waiting = _recorded_waits(now) if snapshots is None else {}
    lines = tuple(_queue_line(name, live.get(name), waiting.get(name, []), days.get(name) or QueueDay(name, 0, 0, 0, 0, 0))
                  for name in routing.QUEUES)
    phones = {m.interface: m.status for s in snapshots or [] for m in s.members}
    total = QueueDay("all", *(sum(getattr(day, field) for day in days.values())
                              for field in ("offered", "answered", "abandoned", "answered_in_time")),
                     max((day.longest_answered_wait for day in days.values()), default=0),
                     *(sum(getattr(day, field) for day in days.values()) for field in ("short_abandons", "waiting")))
    return Wallboard(now, snapshots is not None, lines,
                     tuple(_agent_line(agent, phones) for agent in agent_states.agents()),
                     total.answered, total.abandoned, total.service_level, settings.service_level_seconds,
                     tuple(health.alerts(now)))


def _queue_line(name: str, snapshot: QueueSnapshot | None, recorded_waits: list[int], today: QueueDay) -> QueueLine:
    if snapshot is None:
        return QueueLine(name, len(recorded_waits), max(recorded_waits, default=0), 0, 0, today,
                         today.service_level)
    waits = [entry.wait_s for entry in snapshot.entries]
    free = sum(1 for m in snapshot.members if not m.paused and not m.in_call and m.status == "not_in_use")
    return QueueLine(name, len(waits), max(waits, default=0), len(snapshot.members), free, today,
                     today.service_level)


def _recorded_waits(now: datetime) -> dict[str, list[int]]:
    waits: dict[str, list[int]] = {}
    for queue, _, joined_at in queue_calls.callers_waiting():
        waits.setdefault(queue, []).append(max(int((now - joined_at).total_seconds()), 0))
    return waits


def _agent_line(agent: AgentStatus, phones: dict[str, str]) -> AgentLine:
    return AgentLine(agent.username, agent.display_name, agent.state.value, agent.reason, agent.queues, agent.since,
                     phones.get(agent.interface or "", ""))
