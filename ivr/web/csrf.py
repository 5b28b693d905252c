"""CSRF protection: one random token per session, required on every request that changes something.

Forms carry it in a hidden ``csrf_token`` field (templates call ``csrf_token()``);
scripts send it in the ``X-CSRF-Token`` header. Another site can make a browser
send our cookie, but cannot read the token, so it cannot forge either. The
SameSite=Lax cookie is a second line, not the only one.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, request, session

from ivr.domain.errors import DomainError

FORM_FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SESSION_KEY = "csrf"


class CsrfTokenMissing(DomainError):
    """A state-changing request without a token (an error with an id and a status, like the domain's)."""

    error_id = "csrf_token_missing"
    http_status = 400


class CsrfTokenInvalid(DomainError):
    """A state-changing request with a token that is not this session's: likely forged."""

    error_id = "csrf_token_invalid"
    http_status = 403


def init_app(app: Flask) -> None:
    app.before_request(check_csrf_token)
    app.jinja_env.globals["csrf_token"] = csrf_token


def csrf_token() -> str:
    """The session's token, made on first use."""
    if _SESSION_KEY not in session:
        session[_SESSION_KEY] = secrets.token_urlsafe(32)
    return str(session[_SESSION_KEY])


def renew_csrf_token() -> None:
    """A new token (at login and logout), so a token seen before does not outlive the session it was for."""
    session[_SESSION_KEY] = secrets.token_urlsafe(32)


def check_csrf_token() -> None:
    if request.method not in UNSAFE_METHODS:
        return
    sent = request.headers.get(HEADER) or request.form.get(FORM_FIELD)
    if not sent:
        raise CsrfTokenMissing("this request needs the CSRF token: a csrf_token form field or an "
                               "X-CSRF-Token header")
    expected = session.get(_SESSION_KEY)
    if not expected or not hmac.compare_digest(str(expected).encode(), sent.encode()):
        raise CsrfTokenInvalid("the CSRF token does not match this session; reload the page and try again")
