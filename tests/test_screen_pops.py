"""Screen pops (ivr/domain/screen_pops.py): one pop per agent and call, each agent's own, and the card it shows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from ivr.domain.routing import CLAIMS, GENERAL
from ivr.domain.screen_pops import PopView, call_card, latest_pop_id, pops_after, record_pop
from ivr.domain.users import ConsoleRole, ConsoleUserView
from ivr.testing.console import make_user
from ivr.testing.customer_book import claim_call
from ivr.testing.small_book import SmallBook

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
TODAY = date(2026, 11, 23)
C1_MOBILE, C2_MOBILE = "13800138001", "13800138002"  # SmallBook's customers' numbers as callers present them


@pytest.fixture
def agents(database_url: str) -> tuple[ConsoleUserView, ConsoleUserView]:
    return make_user(ConsoleRole.AGENT, "agent1"), make_user(ConsoleRole.AGENT, "agent2")


def _pop(unique_id: str, number: str, queue: str = GENERAL) -> PopView:
    return PopView(1, unique_id, number, queue, T0)


def test_a_call_pops_once_for_each_agent(agents: tuple[ConsoleUserView, ConsoleUserView]) -> None:
    first, second = agents
    popped = record_pop(first.id, "u1", C1_MOBILE, GENERAL, T0)

    assert record_pop(first.id, "u1", C1_MOBILE, GENERAL, T0 + timedelta(seconds=1)) is None
    assert [pop.id for pop in pops_after(first.id, 0)] == [popped]
    assert record_pop(second.id, "u1", C1_MOBILE, GENERAL, T0) not in (None, popped)


def test_an_agent_sees_their_own_pops_after_the_last_one_shown_oldest_first(
        agents: tuple[ConsoleUserView, ConsoleUserView]) -> None:
    mine, theirs = agents
    first = record_pop(mine.id, "u1", C1_MOBILE, GENERAL, T0)
    record_pop(theirs.id, "u2", C2_MOBILE, CLAIMS, T0 + timedelta(minutes=1))
    second = record_pop(mine.id, "u3", C2_MOBILE, CLAIMS, T0 + timedelta(minutes=2))

    assert pops_after(mine.id, 0) == [PopView(first, "u1", C1_MOBILE, GENERAL, T0),
                                      PopView(second, "u3", C2_MOBILE, CLAIMS, T0 + timedelta(minutes=2))]
    assert [pop.id for pop in pops_after(mine.id, first)] == [second]
    assert pops_after(mine.id, second) == []
    assert [pop.call_unique_id for pop in pops_after(theirs.id, 0)] == ["u2"]


def test_a_page_opened_now_starts_after_the_agents_latest_pop(agents: tuple[ConsoleUserView, ConsoleUserView]) -> None:
    mine, theirs = agents
    assert latest_pop_id(mine.id) == 0
    record_pop(mine.id, "u1", C1_MOBILE, GENERAL, T0)
    latest = record_pop(mine.id, "u2", C1_MOBILE, GENERAL, T0 + timedelta(minutes=1))
    record_pop(theirs.id, "u3", C1_MOBILE, GENERAL, T0 + timedelta(minutes=2))

    assert latest_pop_id(mine.id) == latest
    assert pops_after(mine.id, latest_pop_id(mine.id)) == []


def test_the_card_of_an_ivr_call_shows_the_verified_customer_and_their_path(small_book: SmallBook) -> None:
    claim_call("u1", small_book.customer_id, ani=C1_MOBILE)

    card = call_card(_pop("u1", C1_MOBILE, CLAIMS), TODAY)

    assert (card.customer_id, card.verified) == (small_book.customer_id, True)
    assert card.customer is not None and card.customer.identity.customer_no == "C1"
    assert {policy.policy_no for policy in card.customer.policies} == {small_book.motor_policy,
                                                                        small_book.life_policy}
    assert card.call is not None and card.call.unique_id == "u1"
    assert (card.call.path.intent, card.call.path.verified) == ("claim", True)
    assert card.call.path.steps  # what the caller did before reaching the agent
    assert [call.unique_id for call in card.customer.calls.items] == ["u1"]


def test_the_card_of_an_unknown_caller_shows_only_the_number(small_book: SmallBook) -> None:
    card = call_card(_pop("u1", "13911112222"), TODAY)
    assert (card.customer_id, card.verified, card.call, card.customer) == (None, False, None, None)
    assert card.pop.number == "13911112222"


def test_a_caller_who_never_reached_the_ivr_is_recognised_by_number_but_not_verified(small_book: SmallBook) -> None:
    card = call_card(_pop("direct-1", C2_MOBILE), TODAY)

    assert (card.customer_id, card.verified, card.call) == (small_book.other_customer_id, False, None)
    assert card.customer is not None and card.customer.identity.customer_no == "C2"


def test_an_ivr_call_that_identified_nobody_is_not_verified(small_book: SmallBook) -> None:
    claim_call("u1", None, ani="13911112222")

    card = call_card(_pop("u1", "13911112222"), TODAY)

    assert (card.customer_id, card.verified, card.customer) == (None, False, None)
    assert card.call is not None and card.call.path.verified is False
