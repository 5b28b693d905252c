"""Login, logout, sessions that expire when idle, and ``login_required(roles=...)``.

The session is Flask's signed cookie (HttpOnly, SameSite=Lax, Secure in
production) holding the user's id, a stamp of their password hash and the
time of their last request. Each request reloads the user: a session ends when
it has been idle for ``web_session_minutes``, when the user is switched off
and when their password changes. Who may read what: docs/console.md.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, current_app, g, redirect, render_template, request, session, url_for

from ivr.domain.users import ConsoleRole
from ivr.domain import users
from ivr.domain.errors import DomainError
from ivr.web.access import EVERY_ROLE
from ivr.web.csrf import renew_csrf_token

log = logging.getLogger(__name__)
auth = Blueprint("auth", __name__)
F = TypeVar("F", bound=Callable[..., Any])

_USER_ID, _STAMP, _SEEN = "user_id", "stamp", "seen"
_LOGIN_FAILED = {
    users.LoginOutcome.WRONG: (401, "Wrong username or password."),
    users.LoginOutcome.LOCKED: (429, "Too many wrong passwords: this account is locked for a while. "
                                     "Try again later, or ask an administrator to set a new password."),
    users.LoginOutcome.INACTIVE: (403, "This account is switched off. Ask an administrator."),
    users.LoginOutcome.THROTTLED: (429, "Too many failed logins from your address: logins from it are refused "
                                        "for a while. Try again later."),
}


class NotAuthenticated(DomainError):
    error_id = "not_authenticated"
    http_status = 401


class NotAllowed(DomainError):
    error_id = "forbidden"
    http_status = 403


def init_app(app: Flask) -> None:
    app.before_request(load_user)
    app.jinja_env.globals["current_user"] = lambda: g.get("user")


def login_required(roles: Iterable[ConsoleRole] = EVERY_ROLE) -> Callable[[F], F]:
    """Only logged-in users with one of ``roles``: others get 401 (API) or the login page, or 403."""
    allowed = frozenset(roles)

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            user: users.ConsoleUserView | None = g.get("user")
            if user is None:
                return _not_logged_in()
            if user.role not in allowed:
                raise NotAllowed(f"a {user.role.value} may not open this")
            return view(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate


def load_user() -> None:
    """Before each request: who is logged in, if their session is still alive; the idle clock restarts."""
    g.user, g.session_expired = None, False
    user_id = session.get(_USER_ID)
    if user_id is None:
        return
    now = current_app.config["CLOCK"]().timestamp()
    idle_limit = current_app.permanent_session_lifetime.total_seconds()
    if now - float(session.get(_SEEN, 0)) > idle_limit:
        g.session_expired = True
        session.clear()
        return
    user = users.get_user(int(user_id))
    if user is None or not user.active or user.credential_stamp != session.get(_STAMP):
        session.clear()
        return
    session[_SEEN] = now
    g.user = user


@auth.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int, dict[str, str]] | str:
    next_path = safe_next(request.values.get("next"))
    if request.method == "GET":
        if g.user is not None:
            return redirect(next_path)
        return render_template("login.html", next=next_path, message=None)
    username = request.form.get("username", "")
    now = current_app.config["CLOCK"]()
    result = users.authenticate(username, request.form.get("password", ""), now, request.remote_addr or "")
    log.info("console login %s: %s from %s", username[:64].encode("unicode_escape").decode(),
             result.outcome.value, request.remote_addr)
    if result.user is None:
        status, message = _LOGIN_FAILED[result.outcome]
        page = render_template("login.html", next=next_path, message=message, username=username)
        headers = {}
        if result.locked_until is not None:
            headers["Retry-After"] = str(max(1, int((result.locked_until - now).total_seconds())))
        return page, status, headers
    _start_session(result.user)
    return redirect(next_path)


@auth.post("/logout")
def logout() -> Response:
    session.clear()
    renew_csrf_token()
    return redirect(url_for("auth.login"))


def safe_next(target: str | None) -> str:
    """Where to go after login: a path on this site only, never another site (open redirect)."""
    if not target or not target.isprintable() or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if not target.startswith("/") or target.startswith("//") or parts.scheme or parts.netloc:
        return "/"
    return target


def _start_session(user: users.ConsoleUserView) -> None:
    session.clear()
    session.permanent = True
    session[_USER_ID], session[_STAMP] = user.id, user.credential_stamp
    session[_SEEN] = current_app.config["CLOCK"]().timestamp()
    renew_csrf_token()


def _not_logged_in() -> Response:
    from ivr.web import wants_json

    if wants_json():
        if g.session_expired:
            raise NotAuthenticated("the session expired: log in again", "session_expired")
        raise NotAuthenticated("log in first: POST /login")
    here = request.path + (f"?{request.query_string.decode()}" if request.query_string else "")
    return redirect(url_for("auth.login", next=here, expired=1 if g.session_expired else None))
