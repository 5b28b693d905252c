"""The console's door: logins and their throttling, idle sessions, CSRF, who reads what, escaping."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.domain import users
from ivr.domain.users import ConsoleRole, LoginOutcome
from ivr.testing.console import PASSWORD, csrf_token, log_in, logged_in, make_user
from ivr.web import create_app

START = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
API_LISTS = ("/api/claims", "/api/complaints", "/api/agent-checks", "/api/fraud-alerts")


class Clock:
    """The app's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(database_url: str, clock: Clock) -> Flask:
    return create_app({"TESTING": True, "SECRET_KEY": "test-secret-key", "CLOCK": clock,
                       "SESSION_COOKIE_SECURE": False})


# --- logging in ------------------------------------------------------------------------------------


def test_right_password_opens_the_console_with_the_users_name(client: FlaskClient) -> None:
    make_user(ConsoleRole.AGENT, "agent1", "Li Na")

    response = log_in(client, "Agent1")

    assert response.status_code == 302 and response.headers["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200 and "Li Na" in page.get_data(as_text=True)
    assert users.list_users()[0].last_login_at == START


def test_wrong_password_and_unknown_user_get_the_same_answer(client: FlaskClient) -> None:
    make_user(ConsoleRole.AGENT, "agent1")

    wrong = log_in(client, "agent1", "not the password")
    unknown = log_in(client, "nobody", PASSWORD)

    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong username or password." in wrong.get_data(as_text=True)
    assert "Wrong username or password." in unknown.get_data(as_text=True)
    assert client.get("/api/claims").status_code == 401


def test_five_wrong_passwords_lock_the_user_for_fifteen_minutes(client: FlaskClient, clock: Clock) -> None:
    make_user(ConsoleRole.AGENT, "agent1")

    answers = [log_in(client, "agent1", f"guess number {n}").status_code for n in range(5)]
    right_while_locked = log_in(client, "agent1")
    clock.advance(15.1)
    right_after_lock = log_in(client, "agent1")

    assert answers == [401, 401, 401, 401, 429]
    assert right_while_locked.status_code == 429 and "locked" in right_while_locked.get_data(as_text=True)
    assert right_after_lock.status_code == 302


def test_a_right_password_resets_the_count_of_wrong_ones(database_url: str) -> None:
    make_user(ConsoleRole.AGENT, "agent1")
    for _ in range(4):
        users.authenticate("agent1", "wrong password", START)
    assert users.authenticate("agent1", PASSWORD, START).outcome is LoginOutcome.OK

    outcomes = [users.authenticate("agent1", "wrong password", START).outcome for _ in range(4)]

    assert outcomes == [LoginOutcome.WRONG] * 4


def test_a_switched_off_user_cannot_log_in_and_their_session_ends(client: FlaskClient) -> None:
    make_user(ConsoleRole.AGENT, "agent1")
    log_in(client, "agent1")

    users.set_active("agent1", False)

    assert client.get("/api/claims").status_code == 401
    assert log_in(client, "agent1").status_code == 403


def test_a_new_password_ends_sessions_opened_with_the_old_one(client: FlaskClient) -> None:
    make_user(ConsoleRole.AGENT, "agent1")
    log_in(client, "agent1")

    users.set_password("agent1", "a brand new password")

    assert client.get("/api/claims").status_code == 401
    assert log_in(client, "agent1", "a brand new password").status_code == 302


def test_passwords_are_salted_scrypt_hashes_of_at_least_ten_characters(database_url: str) -> None:
    first, second = users.hash_password(PASSWORD), users.hash_password(PASSWORD)

    assert first != second and first.startswith("scrypt$") and PASSWORD not in first
    assert users.password_matches(first, PASSWORD) and not users.password_matches(first, PASSWORD + "x")
    with pytest.raises(users.ValidationError) as short:
        users.create_user("agent9", "", ConsoleRole.AGENT, "123456789")
    assert short.value.error_id == "password_too_short"
    make_user(ConsoleRole.AGENT, "agent1")
    with pytest.raises(users.ValidationError) as taken:
        make_user(ConsoleRole.ADMIN, "AGENT1")
    assert taken.value.error_id == "username_taken"


# --- sessions --------------------------------------------------------------------------------------


def test_session_cookie_is_http_only_lax_and_secure_when_configured(database_url: str) -> None:
    client = create_app({"TESTING": True, "SECRET_KEY": "k", "SESSION_COOKIE_SECURE": True}).test_client()
    make_user(ConsoleRole.AGENT, "agent1")

    cookie = log_in(client, "agent1").headers["Set-Cookie"]

    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


def test_a_session_idle_longer_than_its_lifetime_ends(client: FlaskClient, clock: Clock) -> None:
    make_user(ConsoleRole.AGENT, "agent1")
    log_in(client, "agent1")

    clock.advance(31)
    api = client.get("/api/claims")
    again = client.get("/api/claims")

    assert api.status_code == 401 and api.get_json()["error"]["id"] == "session_expired"
    assert again.status_code == 401 and again.get_json()["error"]["id"] == "not_authenticated"


def test_an_expired_page_goes_to_the_login_form_saying_why(client: FlaskClient, clock: Clock) -> None:
    make_user(ConsoleRole.AGENT, "agent1")
    log_in(client, "agent1")
    clock.advance(31)

    page = client.get("/")
    login_form = client.get(page.headers["Location"]).get_data(as_text=True)

    assert page.status_code == 302 and page.headers["Location"] == "/login?next=/&expired=1"
    assert "Your session expired" in login_form


def test_activity_keeps_a_session_alive(client: FlaskClient, clock: Clock) -> None:
    make_user(ConsoleRole.AGENT, "agent1")
    log_in(client, "agent1")

    for _ in range(4):
        clock.advance(20)
        assert client.get("/api/claims").status_code == 200


def test_logout_ends_the_session(client: FlaskClient) -> None:
    make_user(ConsoleRole.AGENT, "agent1")
    log_in(client, "agent1")

    response = client.post("/logout", data={"csrf_token": csrf_token(client)})

    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get("/api/claims").status_code == 401
    assert client.get("/").status_code == 302


# --- CSRF ------------------------------------------------------------------------------------------


def test_a_form_without_the_csrf_token_is_refused(client: FlaskClient) -> None:
    make_user(ConsoleRole.AGENT, "agent1")
    client.get("/login")

    response = client.post("/login", data={"username": "agent1", "password": PASSWORD})

    assert response.status_code == 400 and 'data-error-id="csrf_token_missing"' in response.get_data(as_text=True)
    assert client.get("/api/claims").status_code == 401


def test_a_form_with_another_sessions_token_is_refused(client: FlaskClient, app: Flask) -> None:
    make_user(ConsoleRole.AGENT, "agent1")
    foreign_token = csrf_token(app.test_client())
    client.get("/login")

    response = client.post("/login", data={"username": "agent1", "password": PASSWORD, "csrf_token": foreign_token})

    assert response.status_code == 403 and 'data-error-id="csrf_token_invalid"' in response.get_data(as_text=True)


def test_logout_needs_the_token_too_header_or_field(client: FlaskClient) -> None:
    make_user(ConsoleRole.AGENT, "agent1")
    log_in(client, "agent1")

    assert client.post("/logout").status_code == 400
    assert client.post("/logout", headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert client.get("/api/claims").status_code == 200
    assert client.post("/logout", headers={"X-CSRF-Token": csrf_token(client)}).status_code == 302
    assert client.get("/api/claims").status_code == 401


def test_logging_in_gives_a_new_csrf_token(client: FlaskClient) -> None:
    make_user(ConsoleRole.AGENT, "agent1")
    before = csrf_token(client)

    log_in(client, "agent1")

    assert csrf_token(client) != before


# --- who reads what --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", API_LISTS)
def test_the_api_needs_a_login(client: FlaskClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 401 and response.mimetype == "application/json"
    assert response.get_json()["error"]["id"] == "not_authenticated"


@pytest.mark.parametrize(("role", "readable"), [
    (ConsoleRole.AGENT, {"/api/claims", "/api/complaints"}),
    (ConsoleRole.QUALITY, set(API_LISTS)),
    (ConsoleRole.SUPERVISOR, set(API_LISTS)),
    (ConsoleRole.ADMIN, set(API_LISTS)),
])
def test_each_role_reads_only_its_lists(client: FlaskClient, role: ConsoleRole, readable: set[str]) -> None:
    logged_in(client, role)

    statuses = {path: client.get(path).status_code for path in API_LISTS}

    assert statuses == {path: 200 if path in readable else 403 for path in API_LISTS}
    assert client.get("/api/fraud-alerts").get_json().get("error", {}).get("id") in (None, "forbidden")


def test_the_landing_page_lists_only_what_the_role_may_read(client: FlaskClient) -> None:
    logged_in(client, ConsoleRole.AGENT)

    page = client.get("/").get_data(as_text=True)

    assert 'href="/api/claims"' in page and 'href="/api/complaints"' in page
    assert "/api/fraud-alerts" not in page and "/api/agent-checks" not in page


def test_pages_send_a_stranger_to_the_login_form(client: FlaskClient) -> None:
    response = client.get("/?tab=x")

    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/?tab%3Dx"


# --- escaping and redirects ------------------------------------------------------------------------


def test_a_display_name_with_markup_is_shown_as_text(client: FlaskClient) -> None:
    make_user(ConsoleRole.AGENT, "agent1", "<script>alert('x')</script>")
    log_in(client, "agent1")

    response = client.get("/")
    page = response.get_data(as_text=True)

    assert "<script>" not in page and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_a_typed_username_is_echoed_escaped(client: FlaskClient) -> None:
    page = log_in(client, '"><script>x</script>', "whatever12").get_data(as_text=True)

    assert "<script>x" not in page and "&#34;&gt;&lt;script&gt;" in page


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "\\\\evil",
                                    "javascript:alert(1)", "evil.example", "/\x07x", "http:/evil.example"])
def test_login_never_redirects_to_another_site(client: FlaskClient, target: str) -> None:
    make_user(ConsoleRole.AGENT, "agent1")

    response = log_in(client, "agent1", next_path=target)

    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_login_returns_to_the_page_asked_for(client: FlaskClient) -> None:
    make_user(ConsoleRole.AGENT, "agent1")

    response = log_in(client, "agent1", next_path="/api/claims?status=reported")

    assert response.headers["Location"] == "/api/claims?status=reported"
