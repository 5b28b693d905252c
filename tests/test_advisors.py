"""The advisor of record (ivr/domain/advisors.py): who is offered first, and only when they can take the call."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from ivr.cli import main
from ivr.config import get_settings, set_settings
from ivr.db.models import AgentState, ConsoleUser, Customer
from ivr.db.session import session_scope
from ivr.domain.advisors import advisor_endpoint
from ivr.domain.errors import ValidationError
from ivr.domain.agent_states import record_change
from ivr.domain.queue_calls import answered, joined
from ivr.domain.routing import GENERAL
from ivr.domain.users import ConsoleRole, ConsoleUserView, create_user
from ivr.testing.console import PASSWORD
from ivr.testing.small_book import SmallBook

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
C1_MOBILE, C2_MOBILE = "13800138001", "13800138002"  # SmallBook's customers' numbers as callers present them


@pytest.fixture
def configure() -> Iterator[Callable[..., None]]:
    """Change settings for one test; the previous ones come back after it."""
    previous = get_settings()
    yield lambda **changes: set_settings(get_settings().replace(**changes))
    set_settings(previous)


def _agent(endpoint: str, state: AgentState = AgentState.AVAILABLE, username: str = "") -> ConsoleUserView:
    """An agent with a phone, in ``state`` since an hour ago (logged out: logged in, then out)."""
    agent = create_user(username or endpoint.lower(), "", ConsoleRole.AGENT, PASSWORD, endpoint)
    record_change(agent.id, AgentState.AVAILABLE, [GENERAL], "", NOW - timedelta(hours=2))
    if state is not AgentState.AVAILABLE:
        record_change(agent.id, state, [] if state is AgentState.LOGGED_OUT else [GENERAL],
                      "lunch" if state is AgentState.PAUSED else "", NOW - timedelta(hours=1))
    return agent


def _assign(customer_id: int, advisor: ConsoleUserView) -> None:
    with session_scope() as session:
        session.execute(update(Customer).where(Customer.id == customer_id).values(advisor_id=advisor.id))


def _answered_by(agent: ConsoleUserView, number: str, at: datetime, unique_id: str) -> None:
    joined(unique_id, GENERAL, number, at - timedelta(seconds=10))
    answered(unique_id, agent.id, f"PJSIP/{agent.sip_endpoint}", 10, at)


def test_an_assigned_advisor_who_is_available_is_offered(small_book: SmallBook, configure: Callable[..., None]) -> None:
    configure(advisor_of_record="assigned")
    _agent("agent2")
    _assign(small_book.customer_id, _agent("agent1"))

    assert advisor_endpoint(small_book.customer_id, NOW) == "agent1"
    assert advisor_endpoint(small_book.other_customer_id, NOW) is None  # no advisor of their own


@pytest.mark.parametrize("state", [AgentState.PAUSED, AgentState.LOGGED_OUT])
def test_an_assigned_advisor_who_is_paused_or_logged_out_is_not_offered(
        small_book: SmallBook, configure: Callable[..., None], state: AgentState) -> None:
    configure(advisor_of_record="assigned")
    _assign(small_book.customer_id, _agent("agent1", state))

    assert advisor_endpoint(small_book.customer_id, NOW) is None


def test_an_assigned_advisor_who_never_logged_in_is_not_offered(small_book: SmallBook,
                                                                configure: Callable[..., None]) -> None:
    configure(advisor_of_record="assigned")
    _assign(small_book.customer_id, create_user("agent1", "", ConsoleRole.AGENT, PASSWORD, "agent1"))

    assert advisor_endpoint(small_book.customer_id, NOW) is None


def test_an_unidentified_caller_has_no_advisor(small_book: SmallBook, configure: Callable[..., None]) -> None:
    configure(advisor_of_record="assigned")
    assert advisor_endpoint(None, NOW) is None


def test_last_agent_is_the_latest_to_answer_the_customer(small_book: SmallBook,
                                                         configure: Callable[..., None]) -> None:
    configure(advisor_of_record="last_agent", advisor_last_agent_days=90)
    earlier, latest, other_customers = _agent("agent1"), _agent("agent2"), _agent("agent3")
    _assign(small_book.customer_id, earlier)  # the assignment does not count under last_agent
    _answered_by(earlier, C1_MOBILE, NOW - timedelta(days=10), "u1")
    _answered_by(latest, C1_MOBILE, NOW - timedelta(days=2), "u2")
    _answered_by(other_customers, C2_MOBILE, NOW - timedelta(days=1), "u3")

    assert advisor_endpoint(small_book.customer_id, NOW) == "agent2"


def test_last_agent_looks_back_only_advisor_last_agent_days(small_book: SmallBook,
                                                            configure: Callable[..., None]) -> None:
    configure(advisor_of_record="last_agent", advisor_last_agent_days=30)
    _answered_by(_agent("agent1"), C1_MOBILE, NOW - timedelta(days=31), "u1")
    assert advisor_endpoint(small_book.customer_id, NOW) is None

    configure(advisor_last_agent_days=32)
    assert advisor_endpoint(small_book.customer_id, NOW) == "agent1"


def test_last_agent_who_is_paused_is_not_offered(small_book: SmallBook, configure: Callable[..., None]) -> None:
    configure(advisor_of_record="last_agent")
    _answered_by(_agent("agent1", AgentState.PAUSED), C1_MOBILE, NOW - timedelta(days=1), "u1")

    assert advisor_endpoint(small_book.customer_id, NOW) is None


def test_with_the_setting_off_nobody_is_offered(small_book: SmallBook, configure: Callable[..., None]) -> None:
    configure(advisor_of_record="off")
    advisor = _agent("agent1")
    _assign(small_book.customer_id, advisor)
    _answered_by(advisor, C1_MOBILE, NOW - timedelta(days=1), "u1")

    assert advisor_endpoint(small_book.customer_id, NOW) is None


@pytest.mark.parametrize("setting", ["last agent", "ASSIGNED", ""])
def test_an_unknown_setting_is_a_configuration_error(small_book: SmallBook, configure: Callable[..., None],
                                                     setting: str) -> None:
    configure(advisor_of_record=setting)
    with pytest.raises(ValueError, match="advisor_of_record"):
        advisor_endpoint(small_book.customer_id, NOW)


@pytest.mark.parametrize("endpoint", ["agent1\n", "agent1&PJSIP/boss", "agent 1", "agent1,30", "${SHELL}", "agent1é"])
def test_an_endpoint_name_unsafe_to_dial_is_never_offered(small_book: SmallBook, configure: Callable[..., None],
                                                          endpoint: str) -> None:
    configure(advisor_of_record="assigned")
    agent = _agent("agent1")
    with session_scope() as session:  # stored before endpoints were checked, or written by hand
        session.execute(update(ConsoleUser).where(ConsoleUser.id == agent.id).values(sip_endpoint=endpoint))
    _assign(small_book.customer_id, agent)

    assert advisor_endpoint(small_book.customer_id, NOW) is None


def test_console_users_get_only_endpoint_names_safe_to_dial(database_url: str) -> None:
    with pytest.raises(ValidationError, match="letters, digits"):
        create_user("agent9", "", ConsoleRole.AGENT, PASSWORD, "agent9\n")


@pytest.mark.parametrize("endpoint", ["agent-1", "Agent_07", "a" * 64])
def test_endpoint_names_of_letters_digits_dash_and_underscore_are_offered(
        small_book: SmallBook, configure: Callable[..., None], endpoint: str) -> None:
    configure(advisor_of_record="assigned")
    _assign(small_book.customer_id, _agent(endpoint, username="agent1"))

    assert advisor_endpoint(small_book.customer_id, NOW) == endpoint


def test_advisors_are_assigned_and_cleared_from_the_command_line(small_book: SmallBook) -> None:
    agent = _agent("agent5")

    assigned = CliRunner().invoke(main, ["advisors", "assign", "agent5", "C1", "C2"])
    cleared = CliRunner().invoke(main, ["advisors", "clear", "C2"])

    assert assigned.exit_code == 0 and "advisor of 2 customer(s)" in assigned.output
    assert cleared.exit_code == 0
    with session_scope() as session:
        advisors = dict(session.execute(select(Customer.customer_no, Customer.advisor_id)).all())
    assert advisors == {"C1": agent.id, "C2": None}


def test_assigning_an_unknown_customer_or_a_non_agent_changes_nothing(small_book: SmallBook) -> None:
    _agent("agent5")
    create_user("boss", "", ConsoleRole.SUPERVISOR, PASSWORD)

    unknown = CliRunner().invoke(main, ["advisors", "assign", "agent5", "C1", "C404"])
    not_agent = CliRunner().invoke(main, ["advisors", "assign", "boss", "C1"])

    assert unknown.exit_code == 1 and "no customer C404" in unknown.output
    assert not_agent.exit_code == 1 and "not an agent" in not_agent.output
    with session_scope() as session:
        assert session.scalar(select(Customer.advisor_id).where(Customer.customer_no == "C1")) is None
