"""Logging in to the agent console from tests, the way a browser does: the form, its CSRF token, the cookie."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from ivr.domain.users import ConsoleRole, ConsoleUserView, create_user

PASSWORD = "correct horse battery"
_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def make_user(role: ConsoleRole, username: str | None = None, display_name: str = "") -> ConsoleUserView:
    """A console user with ``PASSWORD``, named after their role unless told otherwise."""
    return create_user(username or f"{role.value}1", display_name, role, PASSWORD)


def csrf_token(client: FlaskClient) -> str:
    """The session's CSRF token, as a page's script reads it (the meta tag of the login or console page)."""
    match = _TOKEN.search(client.get("/login", follow_redirects=True).get_data(as_text=True))
    assert match, "the login page carries no CSRF token"
    return match.group(1)


def log_in(client: FlaskClient, username: str, password: str = PASSWORD, next_path: str | None = None) -> TestResponse:
    form = {"username": username, "password": password, "csrf_token": csrf_token(client)}
    if next_path is not None:
        form["next"] = next_path
    return client.post("/login", data=form)


def logged_in(client: FlaskClient, role: ConsoleRole) -> FlaskClient:
    """``client`` with a fresh user of ``role`` logged in."""
    user = make_user(role)
    assert log_in(client, user.username).status_code == 302
    return client
