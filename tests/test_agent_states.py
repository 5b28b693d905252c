"""Agents' queue states (ivr/domain/agent_states.py): the rules of a change, its history, and time in each state."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ivr.config import get_settings, set_settings
from ivr.db.models import AgentState
from ivr.domain.agent_states import (
    AgentAction,
    AgentStatus,
    agents,
    next_state,
    record_change,
    status_of,
    time_in_states,
    user_for_interface,
)
from ivr.domain.errors import InvalidTransition, NotFound, ValidationError
from ivr.domain.routing import CLAIMS, COMPLAINTS, GENERAL, VIP
from ivr.domain.users import ConsoleRole, ConsoleUserView, create_user, set_active
from ivr.testing.console import PASSWORD

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def configure() -> Iterator[Callable[..., None]]:
    """Change settings for one test; the previous ones come back after it."""
    previous = get_settings()
    yield lambda **changes: set_settings(get_settings().replace(**changes))
    set_settings(previous)


def _now(state: AgentState, queues: tuple[str, ...] = (), reason: str = "") -> AgentStatus:
    return AgentStatus(1, "agent1", "Agent One", "agent1", state, reason, queues, T0 if queues else None)


def _agent(username: str, endpoint: str | None = None, display_name: str = "",
           role: ConsoleRole = ConsoleRole.AGENT) -> ConsoleUserView:
    return create_user(username, display_name, role, PASSWORD, endpoint)


def _do(user_id: int, action: AgentAction, at: datetime, queues: tuple[str, ...] = (),
        reason: str = "") -> AgentStatus:
    """A change as the switchboard makes it: checked against the state now, then recorded."""
    state, joined, why = next_state(status_of(user_id), action, queues, reason)
    return record_change(user_id, state, joined, why, at)


# --- the rules of a change ---------------------------------------------------------------------------


def test_logging_in_joins_the_named_queues_and_makes_the_agent_available() -> None:
    assert next_state(_now(AgentState.LOGGED_OUT), AgentAction.LOG_IN, [VIP, GENERAL]) == (
        AgentState.AVAILABLE, (GENERAL, VIP), "")


@pytest.mark.parametrize("queues", [[], ["no_such_queue"], [GENERAL, "no_such_queue"]])
def test_logging_in_needs_known_queues(queues: list[str]) -> None:
    with pytest.raises(ValidationError) as refused:
        next_state(_now(AgentState.LOGGED_OUT), AgentAction.LOG_IN, queues)
    assert refused.value.error_id == "invalid_queues"


def test_logging_in_again_adds_the_new_queues_to_those_joined() -> None:
    state, queues, _ = next_state(_now(AgentState.AVAILABLE, (GENERAL,)), AgentAction.LOG_IN, [CLAIMS, GENERAL])
    assert (state, queues) == (AgentState.AVAILABLE, (CLAIMS, GENERAL))


def test_a_paused_agent_logging_in_to_more_queues_stays_paused_for_the_same_reason() -> None:
    paused = _now(AgentState.PAUSED, (GENERAL,), "lunch")
    assert next_state(paused, AgentAction.LOG_IN, [COMPLAINTS]) == (
        AgentState.PAUSED, (COMPLAINTS, GENERAL), "lunch")


def test_pausing_takes_a_reason_from_the_pause_reasons_setting(configure: Callable[..., None]) -> None:
    configure(pause_reasons="lunch, coaching")
    assert next_state(_now(AgentState.AVAILABLE, (GENERAL,)), AgentAction.PAUSE, reason="coaching") == (
        AgentState.PAUSED, (GENERAL,), "coaching")


@pytest.mark.parametrize("reason", ["", "break", "Lunch", "smoking"])
def test_pausing_for_a_reason_not_in_the_setting_is_refused(configure: Callable[..., None], reason: str) -> None:
    configure(pause_reasons="lunch,coaching")
    with pytest.raises(ValidationError) as refused:
        next_state(_now(AgentState.AVAILABLE, (GENERAL,)), AgentAction.PAUSE, reason=reason)
    assert refused.value.error_id == "invalid_pause_reason"


@pytest.mark.parametrize("action", [AgentAction.PAUSE, AgentAction.RESUME, AgentAction.LOG_OUT])
def test_a_logged_out_agent_can_only_log_in(action: AgentAction) -> None:
    with pytest.raises(InvalidTransition) as refused:
        next_state(_now(AgentState.LOGGED_OUT), action, reason="lunch")
    assert refused.value.error_id == "agent_not_logged_in"


def test_resuming_an_available_agent_is_refused() -> None:
    with pytest.raises(InvalidTransition) as refused:
        next_state(_now(AgentState.AVAILABLE, (GENERAL,)), AgentAction.RESUME)
    assert refused.value.error_id == "agent_not_paused"


def test_resuming_keeps_the_queues_and_forgets_the_reason() -> None:
    paused = _now(AgentState.PAUSED, (CLAIMS, GENERAL), "lunch")
    assert next_state(paused, AgentAction.RESUME) == (AgentState.AVAILABLE, (CLAIMS, GENERAL), "")


@pytest.mark.parametrize("state", [AgentState.AVAILABLE, AgentState.PAUSED])
def test_logging_out_leaves_every_queue(state: AgentState) -> None:
    assert next_state(_now(state, (CLAIMS, GENERAL), "lunch" if state is AgentState.PAUSED else ""),
                      AgentAction.LOG_OUT) == (AgentState.LOGGED_OUT, (), "")


# --- history and the state now -----------------------------------------------------------------------


def test_an_agent_who_never_logged_in_is_logged_out_since_never(database_url: str) -> None:
    agent = _agent("agent1", "agent1")
    status = status_of(agent.id)
    assert (status.state, status.queues, status.reason, status.since) == (AgentState.LOGGED_OUT, (), "", None)
    assert status.interface == "PJSIP/agent1"


def test_the_latest_change_is_the_state_now_with_its_queues_sorted(database_url: str) -> None:
    agent = _agent("agent1", "agent1")
    logged_in = record_change(agent.id, AgentState.AVAILABLE, [VIP, CLAIMS, GENERAL], "", T0)
    paused = _do(agent.id, AgentAction.PAUSE, T0 + HOUR, reason="lunch")

    assert logged_in.queues == (CLAIMS, GENERAL, VIP)
    assert status_of(agent.id) == paused
    assert (paused.state, paused.reason, paused.queues, paused.since) == (
        AgentState.PAUSED, "lunch", (CLAIMS, GENERAL, VIP), T0 + HOUR)


def test_one_agents_changes_do_not_move_another(database_url: str) -> None:
    first, second = _agent("agent1", "agent1"), _agent("agent2", "agent2")
    _do(first.id, AgentAction.LOG_IN, T0, (GENERAL,))
    assert status_of(second.id).state is AgentState.LOGGED_OUT


def test_the_state_of_an_unknown_user_is_not_found(database_url: str) -> None:
    with pytest.raises(NotFound):
        status_of(404)


def test_agents_are_the_active_agents_with_a_phone_by_name(database_url: str) -> None:
    zhao = _agent("zhao", "agent3", "Zhao Lei")
    chen = _agent("chen", "agent1", "Chen Jing")
    _agent("nophone", None, "Ann Nophone")
    _agent("gone", "agent9", "Bo Gone")
    set_active("gone", False)
    _agent("boss", "sup1", "Al Boss", ConsoleRole.SUPERVISOR)
    _do(zhao.id, AgentAction.LOG_IN, T0, (GENERAL,))

    assert [status.username for status in agents()] == [chen.username, zhao.username]
    assert [(status.username, status.state) for status in agents(on_duty_only=True)] == [
        (zhao.username, AgentState.AVAILABLE)]


def test_paused_agents_are_on_duty_and_logged_out_ones_are_not(database_url: str) -> None:
    paused, gone_home = _agent("paused", "agent1"), _agent("home", "agent2")
    for agent in (paused, gone_home):
        _do(agent.id, AgentAction.LOG_IN, T0, (GENERAL,))
    _do(paused.id, AgentAction.PAUSE, T0 + HOUR, reason="break")
    _do(gone_home.id, AgentAction.LOG_OUT, T0 + HOUR)

    assert [status.username for status in agents(on_duty_only=True)] == [paused.username]


# --- time in each state ------------------------------------------------------------------------------


def test_online_and_pause_time_count_only_within_the_period(database_url: str) -> None:
    agent, other = _agent("agent1", "agent1"), _agent("agent2", "agent2")
    start, end = T0, T0 + 8 * HOUR
    _do(agent.id, AgentAction.LOG_IN, start - HOUR, (GENERAL,))  # before the period: counts from its start
    _do(agent.id, AgentAction.PAUSE, start + HOUR, reason="lunch")
    _do(agent.id, AgentAction.RESUME, start + 1.5 * HOUR)
    _do(agent.id, AgentAction.LOG_OUT, start + 2 * HOUR)  # logged out for an hour: not online
    _do(agent.id, AgentAction.LOG_IN, start + 3 * HOUR, (CLAIMS,))
    _do(agent.id, AgentAction.PAUSE, start + 4 * HOUR, reason="break")
    _do(agent.id, AgentAction.PAUSE, start + 5 * HOUR, reason="lunch")  # still paused when the period ends
    _do(agent.id, AgentAction.LOG_OUT, end + HOUR)  # after the period
    _do(other.id, AgentAction.LOG_IN, start, (GENERAL,))

    times = time_in_states(agent.id, start, end)

    online = (start + 2 * HOUR - start) + (end - (start + 3 * HOUR))
    lunch = 0.5 * HOUR + (end - (start + 5 * HOUR))
    assert times.online_seconds == online.total_seconds()
    assert times.paused_seconds == {"lunch": lunch.total_seconds(), "break": HOUR.total_seconds()}


def test_a_pause_begun_before_the_period_counts_from_its_start(database_url: str) -> None:
    agent = _agent("agent1", "agent1")
    _do(agent.id, AgentAction.LOG_IN, T0 - 2 * HOUR, (GENERAL,))
    _do(agent.id, AgentAction.PAUSE, T0 - HOUR, reason="training")

    times = time_in_states(agent.id, T0, T0 + HOUR)

    assert (times.online_seconds, times.paused_seconds) == (HOUR.total_seconds(), {"training": HOUR.total_seconds()})


def test_an_agent_logged_out_all_period_has_no_time(database_url: str) -> None:
    agent = _agent("agent1", "agent1")
    _do(agent.id, AgentAction.LOG_IN, T0 - 2 * HOUR, (GENERAL,))
    _do(agent.id, AgentAction.LOG_OUT, T0 - HOUR)
    _do(agent.id, AgentAction.LOG_IN, T0 + 2 * HOUR, (GENERAL,))  # after the period

    times = time_in_states(agent.id, T0, T0 + HOUR)

    assert (times.online_seconds, times.paused_seconds) == (0, {})


# --- Asterisk's interface names ----------------------------------------------------------------------


def test_a_pjsip_interface_names_the_agent_with_that_phone(database_url: str) -> None:
    _agent("agent1", "agent1")
    agent = _agent("agent2", "agent2")
    assert user_for_interface("PJSIP/agent2") == agent.id


@pytest.mark.parametrize("interface", ["SIP/agent1", "Local/agent1@agents", "PJSIP/agent7", "PJSIP/", "agent1"])
def test_other_technologies_and_unknown_phones_name_nobody(database_url: str, interface: str) -> None:
    _agent("agent1", "agent1")
    assert user_for_interface(interface) is None
