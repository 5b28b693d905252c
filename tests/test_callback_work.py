"""Agents work callback requests: open first and oldest first, taken by one agent only,
finished done or failed by whoever took it; failed ones come back until the last attempt."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.config import get_settings, set_settings
from ivr.domain import callbacks
from ivr.domain.callbacks import CallbackStatus, request_callback
from ivr.domain.errors import DomainError, InvalidTransition, ValidationError
from ivr.domain.users import ConsoleRole
from ivr.testing.console import csrf_token, log_in, logged_in, make_user

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)


def _request(n: int, minutes: int = 0) -> int:
    return request_callback(f"+86138001380{n:02d}", None, "caller_pressed_0", f"u{n}",
                            T0 + timedelta(minutes=minutes)).request_id


def _client_of(app: Flask, username: str, role: ConsoleRole = ConsoleRole.AGENT) -> FlaskClient:
    client = app.test_client()
    make_user(role, username)
    assert log_in(client, username).status_code == 302
    return client


def _post(client: FlaskClient, path: str, body: dict[str, object] | None = None):  # type: ignore[no-untyped-def]
    return client.post(path, json=body or {}, headers={"X-CSRF-Token": csrf_token(client)})


def test_list_shows_open_requests_first_oldest_first(database_url: str) -> None:
    agent = make_user(ConsoleRole.AGENT)
    newest, oldest, taken, middle = _request(1, 30), _request(2, 0), _request(3, -10), _request(4, 10)
    callbacks.claim_callback(taken, agent.id, T0)

    listing = callbacks.list_callbacks()

    assert [item.id for item in listing.items] == [oldest, middle, newest, taken]
    assert [item.id for item in callbacks.list_callbacks(CallbackStatus.OPEN, 2, 2).items] == [newest]


def test_the_api_lists_callbacks_with_pages(client: FlaskClient, database_url: str) -> None:
    logged_in(client, ConsoleRole.QUALITY)
    first = _request(1, 0)
    _request(2, 5)

    body = client.get("/api/callbacks?status=open&per_page=1").get_json()

    assert (body["total"], [item["id"] for item in body["items"]]) == (2, [first])
    assert body["items"][0]["status"] == "open" and body["items"][0]["created_at"] == T0.isoformat()
    assert client.get("/api/callbacks?status=lost").status_code == 400


def test_of_two_agents_taking_one_request_only_the_first_wins(app: Flask, database_url: str) -> None:
    one, two = _client_of(app, "agent1"), _client_of(app, "agent2")
    request_id = _request(1)

    won = _post(one, f"/api/callbacks/{request_id}/claim")
    lost = _post(two, f"/api/callbacks/{request_id}/claim")

    assert won.status_code == 200 and won.get_json()["assigned_to_name"] == "agent1"
    assert won.get_json()["status"] == "in_progress"
    assert lost.status_code == 409 and lost.get_json()["error"]["id"] == "callback_already_taken"


def test_simultaneous_takes_leave_exactly_one_winner(database_url: str) -> None:
    agents = [make_user(ConsoleRole.AGENT, f"agent{n}") for n in range(1, 5)]
    request_id = _request(1)
    start, outcomes = threading.Barrier(len(agents)), []

    def take(user_id: int) -> None:
        start.wait()
        try:
            outcomes.append(callbacks.claim_callback(request_id, user_id, T0).assigned_to)
        except InvalidTransition as error:
            outcomes.append(error.error_id)

    threads = [threading.Thread(target=take, args=(agent.id,)) for agent in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [outcome for outcome in outcomes if isinstance(outcome, int)]
    assert len(winners) == 1 and outcomes.count("callback_already_taken") == len(agents) - 1
    assert callbacks.get_callback(request_id).assigned_to == winners[0]


def test_only_the_agent_who_took_it_can_finish_it(app: Flask, database_url: str) -> None:
    one, two = _client_of(app, "agent1"), _client_of(app, "supervisor1", ConsoleRole.SUPERVISOR)
    request_id = _request(1)
    _post(one, f"/api/callbacks/{request_id}/claim")

    refused = _post(two, f"/api/callbacks/{request_id}/finish", {"outcome": "done"})
    done = _post(one, f"/api/callbacks/{request_id}/finish", {"outcome": "done", "note": "renewal explained"})

    assert refused.status_code == 403 and refused.get_json()["error"]["id"] == "not_your_callback"
    assert done.status_code == 200
    assert (done.get_json()["status"], done.get_json()["outcome_note"]) == ("done", "renewal explained")
    assert done.get_json()["closed_at"] is not None


def test_finishing_an_open_request_or_a_bad_outcome_is_refused(client: FlaskClient, database_url: str) -> None:
    logged_in(client, ConsoleRole.AGENT)
    request_id = _request(1)

    not_taken = _post(client, f"/api/callbacks/{request_id}/finish", {"outcome": "done"})
    _post(client, f"/api/callbacks/{request_id}/claim")
    bad = _post(client, f"/api/callbacks/{request_id}/finish", {"outcome": "cancelled"})
    missing = _post(client, "/api/callbacks/9999/claim")

    assert not_taken.status_code == 409 and not_taken.get_json()["error"]["id"] == "callback_not_in_progress"
    assert bad.status_code == 400 and bad.get_json()["error"]["id"] == "invalid_outcome"
    assert missing.status_code == 404 and missing.get_json()["error"]["id"] == "callback_not_found"


def test_a_failed_attempt_reopens_the_request_in_its_place_until_the_last(database_url: str) -> None:
    set_settings(get_settings().replace(callback_max_attempts=2))
    agent = make_user(ConsoleRole.AGENT)
    request_id, later = _request(1, 0), _request(2, 5)

    callbacks.claim_callback(request_id, agent.id, T0)
    first = callbacks.finish_callback(request_id, agent.id, CallbackStatus.FAILED, "no answer", T0)
    assert (first.status, first.attempts, first.assigned_to, first.closed_at) == (CallbackStatus.OPEN, 1, None, None)
    assert first.outcome_note == "no answer"
    assert [item.id for item in callbacks.list_callbacks().items][:2] == [request_id, later]

    callbacks.claim_callback(request_id, agent.id, T0 + timedelta(hours=1))
    last = callbacks.finish_callback(request_id, agent.id, CallbackStatus.FAILED, "voicemail", T0 + timedelta(hours=1))
    assert (last.status, last.attempts, last.closed_at) == (CallbackStatus.FAILED, 2, T0 + timedelta(hours=1))
    with pytest.raises(InvalidTransition):
        callbacks.claim_callback(request_id, agent.id, T0)


def test_a_caller_asking_again_while_being_called_back_merges(database_url: str) -> None:
    agent = make_user(ConsoleRole.AGENT)
    request_id = _request(1)
    callbacks.claim_callback(request_id, agent.id, T0)

    again = request_callback("+8613800138001", None, "claim", "u9", T0 + timedelta(minutes=3))
    callbacks.finish_callback(request_id, agent.id, CallbackStatus.FAILED, "", T0 + timedelta(minutes=5))

    assert again.merged and again.request_id == request_id
    assert callbacks.get_callback(request_id).request_count == 2


def test_outcome_note_length_is_limited(database_url: str) -> None:
    agent = make_user(ConsoleRole.AGENT)
    request_id = _request(1)
    callbacks.claim_callback(request_id, agent.id, T0)
    with pytest.raises(ValidationError) as refused:
        callbacks.finish_callback(request_id, agent.id, CallbackStatus.DONE, "z" * 2001, T0)
    assert refused.value.error_id == "outcome_note_too_long"


@pytest.mark.parametrize("path", ["/api/callbacks/{id}/claim", "/api/callbacks/{id}/finish",
                                  "/callbacks/{id}/claim", "/callbacks/{id}/finish"])
def test_each_callback_action_needs_the_csrf_token(client: FlaskClient, database_url: str, path: str) -> None:
    logged_in(client, ConsoleRole.AGENT)
    request_id = _request(1)

    missing = client.post(path.format(id=request_id), data={"outcome": "done"})
    forged = client.post(path.format(id=request_id), data={"outcome": "done"}, headers={"X-CSRF-Token": "forged"})

    assert (missing.status_code, forged.status_code) == (400, 403)
    assert callbacks.get_callback(request_id).status is CallbackStatus.OPEN


@pytest.mark.parametrize("role", [ConsoleRole.QUALITY, ConsoleRole.ADMIN])
def test_quality_and_admin_read_the_list_but_cannot_work_it(client: FlaskClient, database_url: str,
                                                          role: ConsoleRole) -> None:
    logged_in(client, role)
    request_id = _request(1)

    assert client.get("/api/callbacks").status_code == 200
    page = client.get("/callbacks")
    assert page.status_code == 200 and ">Take<" not in page.get_data(as_text=True)
    assert _post(client, f"/api/callbacks/{request_id}/claim").status_code == 403
    assert client.post(f"/callbacks/{request_id}/claim", data={"csrf_token": csrf_token(client)}).status_code == 403


def test_not_logged_in_gets_401_or_the_login_page(client: FlaskClient, database_url: str) -> None:
    assert client.get("/api/callbacks").status_code == 401
    assert client.get("/callbacks").headers["Location"].startswith("/login?next=/callbacks")


def test_agent_works_a_request_from_the_page_and_notes_show_as_text(client: FlaskClient,
                                                                    database_url: str) -> None:
    logged_in(client, ConsoleRole.AGENT)
    request_id = _request(1)
    assert '>Take<' in client.get("/callbacks").get_data(as_text=True)

    taken = client.post(f"/callbacks/{request_id}/claim", data={"csrf_token": csrf_token(client)})
    page = client.get("/callbacks").get_data(as_text=True)
    finished = client.post(f"/callbacks/{request_id}/finish", data={
        "outcome": "failed", "note": "<img src=x onerror=alert(1)>", "csrf_token": csrf_token(client)})

    assert taken.status_code == 303 and 'value="done"' in page
    assert finished.status_code == 303
    listing = client.get("/callbacks").get_data(as_text=True)
    assert "<img src=x" not in listing and "&lt;img src=x onerror=alert(1)&gt;" in listing
    assert callbacks.get_callback(request_id).attempts == 1


def test_the_landing_page_links_the_callback_list(client: FlaskClient, database_url: str) -> None:
    logged_in(client, ConsoleRole.AGENT)
    assert 'href="/callbacks"' in client.get("/").get_data(as_text=True)


def test_domain_errors_name_the_rule(database_url: str) -> None:
    agent = make_user(ConsoleRole.AGENT)
    with pytest.raises(DomainError) as missing:
        callbacks.claim_callback(12345, agent.id, T0)
    assert missing.value.http_status == 404
