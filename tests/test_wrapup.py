"""Wrap-up: a code from the configured list and a note on the call record, once per call
(the same agent may correct it for a while), through the JSON API and the console's form."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.config import get_settings, set_settings
from ivr.domain import wrapup
from ivr.domain.calls import CallJournal, NewCall
from ivr.domain.errors import NotFound, ValidationError
from ivr.domain.users import ConsoleRole
from ivr.domain.values import NOTE_MAX_CHARS
from ivr.testing.console import csrf_token, log_in, logged_in, make_user

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def call_id(database_url: str) -> str:
    return CallJournal.open(NewCall("1700000100.1", "PJSIP/x", "hotline", "13800138000", "", "95519")).unique_id


def _agent_client(app: Flask, username: str, role: ConsoleRole = ConsoleRole.AGENT) -> FlaskClient:
    client = app.test_client()
    make_user(role, username)
    assert log_in(client, username).status_code == 302
    return client


def _post(client: FlaskClient, path: str, body: dict[str, object]):  # type: ignore[no-untyped-def]
    return client.post(path, json=body, headers={"X-CSRF-Token": csrf_token(client)})


def test_agent_wraps_up_a_call_and_the_call_record_gets_it(client: FlaskClient, call_id: str) -> None:
    logged_in(client, ConsoleRole.AGENT)

    response = _post(client, f"/api/calls/{call_id}/wrapup", {"code": "resolved", "note": " paid by card "})

    assert response.status_code == 200
    body = response.get_json()
    assert (body["wrapup_code"], body["wrapup_note"], body["wrapup_by_name"]) == ("resolved", "paid by card", "agent1")
    saved = wrapup.get_wrapup(call_id)
    assert saved.wrapup_code == "resolved" and saved.wrapup_at is not None


@pytest.mark.parametrize(("body", "error_id"), [
    ({"code": "sold_a_policy", "note": ""}, "invalid_wrapup_code"),
    ({"code": "", "note": ""}, "invalid_wrapup_code"),
    ({"code": "resolved", "note": "x" * (NOTE_MAX_CHARS + 1)}, "wrapup_note_too_long"),
    ({"code": "resolved", "note": "bell\x07byte"}, "invalid_wrapup_note"),  # NUL: a 400 for any field (tests/test_web_hostile_input.py)
    ({"code": ["resolved"], "note": ""}, "invalid_code"),
])
def test_unknown_code_or_bad_note_is_a_400(client: FlaskClient, call_id: str, body: dict[str, object],
                                           error_id: str) -> None:
    logged_in(client, ConsoleRole.AGENT)

    response = _post(client, f"/api/calls/{call_id}/wrapup", body)

    assert response.status_code == 400 and response.get_json()["error"]["id"] == error_id
    assert wrapup.get_wrapup(call_id).wrapup_code is None


def test_a_note_of_the_longest_length_is_accepted(call_id: str) -> None:
    user = make_user(ConsoleRole.AGENT)
    assert wrapup.record_wrapup(call_id, "other", "y" * NOTE_MAX_CHARS, user.id, NOW).wrapup_note == "y" * NOTE_MAX_CHARS


def test_codes_come_from_the_setting(call_id: str) -> None:
    user = make_user(ConsoleRole.AGENT)
    set_settings(get_settings().replace(wrapup_codes="sale, no_sale"))

    assert wrapup.wrapup_codes() == ("sale", "no_sale")
    with pytest.raises(ValidationError):
        wrapup.record_wrapup(call_id, "resolved", "", user.id, NOW)
    assert wrapup.record_wrapup(call_id, "no_sale", "", user.id, NOW).wrapup_code == "no_sale"


def test_a_second_wrap_up_by_another_agent_is_refused_409(app: Flask, call_id: str) -> None:
    first, second = _agent_client(app, "agent1"), _agent_client(app, "agent2")
    assert _post(first, f"/api/calls/{call_id}/wrapup", {"code": "resolved", "note": ""}).status_code == 200

    response = _post(second, f"/api/calls/{call_id}/wrapup", {"code": "complaint_logged", "note": ""})

    assert response.status_code == 409 and response.get_json()["error"]["id"] == "wrapup_already_recorded"
    assert wrapup.get_wrapup(call_id).wrapup_code == "resolved"


def test_the_same_agent_may_correct_within_the_window_and_not_after(call_id: str) -> None:
    user = make_user(ConsoleRole.AGENT)
    window = get_settings().wrapup_amend_minutes
    wrapup.record_wrapup(call_id, "resolved", "first", user.id, NOW)

    corrected = wrapup.record_wrapup(call_id, "follow_up", "second", user.id, NOW + timedelta(minutes=window - 1))

    assert (corrected.wrapup_code, corrected.wrapup_note) == ("follow_up", "second")
    assert corrected.wrapup_at == NOW  # the time of the wrap-up, so corrections do not stretch the window
    with pytest.raises(wrapup.WrapupAlreadyRecorded):
        wrapup.record_wrapup(call_id, "other", "third", user.id, NOW + timedelta(minutes=window + 1))


def test_unknown_call_is_404(database_url: str) -> None:
    user = make_user(ConsoleRole.AGENT)
    with pytest.raises(NotFound):
        wrapup.record_wrapup("no-such-call", "resolved", "", user.id, NOW)


def test_wrap_up_needs_the_csrf_token(client: FlaskClient, call_id: str) -> None:
    logged_in(client, ConsoleRole.AGENT)

    missing = client.post(f"/api/calls/{call_id}/wrapup", json={"code": "resolved"})
    forged = client.post(f"/api/calls/{call_id}/wrapup", json={"code": "resolved"}, headers={"X-CSRF-Token": "x"})
    form = client.post(f"/calls/{call_id}/wrapup", data={"code": "resolved"})

    assert (missing.status_code, forged.status_code, form.status_code) == (400, 403, 400)
    assert wrapup.get_wrapup(call_id).wrapup_code is None


@pytest.mark.parametrize("role", [ConsoleRole.QUALITY, ConsoleRole.ADMIN])
def test_quality_and_admin_read_the_wrap_up_but_cannot_write_it(client: FlaskClient, call_id: str,
                                                                role: ConsoleRole) -> None:
    logged_in(client, role)

    assert _post(client, f"/api/calls/{call_id}/wrapup", {"code": "resolved"}).status_code == 403
    page = client.get(f"/calls/{call_id}/wrapup")
    assert page.status_code == 200 and 'name="code"' not in page.get_data(as_text=True)


def test_supervisor_may_wrap_up(client: FlaskClient, call_id: str) -> None:
    logged_in(client, ConsoleRole.SUPERVISOR)
    assert _post(client, f"/api/calls/{call_id}/wrapup", {"code": "other"}).status_code == 200


def test_not_logged_in_is_401(client: FlaskClient, call_id: str) -> None:
    response = client.post(f"/api/calls/{call_id}/wrapup", json={"code": "resolved"},
                           headers={"X-CSRF-Token": csrf_token(client)})
    assert response.status_code == 401


def test_wrap_up_form_saves_and_shows_the_note_as_text(client: FlaskClient, call_id: str) -> None:
    logged_in(client, ConsoleRole.AGENT)
    note = '<script>alert("x")</script> & <b>bold</b>'

    response = client.post(f"/calls/{call_id}/wrapup",
                           data={"code": "complaint_logged", "note": note, "csrf_token": csrf_token(client)})

    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "<script>alert" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page
    assert 'id="wrapup-saved"' in page


def test_wrap_up_form_refusal_is_an_error_page(app: Flask, call_id: str) -> None:
    first, second = _agent_client(app, "agent1"), _agent_client(app, "agent2")
    first.post(f"/calls/{call_id}/wrapup", data={"code": "resolved", "csrf_token": csrf_token(first)})

    response = second.post(f"/calls/{call_id}/wrapup", data={"code": "other", "csrf_token": csrf_token(second)})

    assert response.status_code == 409 and response.mimetype == "text/html"
    assert 'data-error-id="wrapup_already_recorded"' in response.get_data(as_text=True)
