"""The Flask application: the agents' console (login, roles; docs/console.md) and the JSON API.

Flask's own configuration comes from ``ivr.config`` settings (secret key,
session lifetime, secure cookies); ``test_config`` overrides it, as in Flask's
tutorial. ``CLOCK`` (a callable giving an aware UTC datetime) lets tests move
time for session expiry and login locks.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from ivr.config import get_settings
from ivr.domain.errors import DomainError

# HTML pages load nothing from elsewhere and run no inline script: injected markup stays inert.
# A page's script is a file in ivr/web/static/, served at /static/<name>.
CONTENT_SECURITY_POLICY = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    settings = get_settings()
    app.config.from_mapping(
        SECRET_KEY=settings.web_secret_key,
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=settings.web_session_minutes),
        SESSION_COOKIE_NAME="hotline_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.web_cookie_secure,
        SESSION_REFRESH_EACH_REQUEST=True,
        CLOCK=_utcnow,
    )
    if test_config is not None:
        app.config.from_mapping(test_config)

    from ivr.web import auth, csrf
    from ivr.web.api import api
    from ivr.web.campaigns import campaigns_pages
    from ivr.web.quality import quality_pages
    from ivr.web.console import console
    from ivr.web.desk import desk
    from ivr.web.work import work

    csrf.init_app(app)
    auth.init_app(app)
    app.register_blueprint(auth.auth)
    app.register_blueprint(console)
    app.register_blueprint(api)
    app.register_blueprint(work)
    app.register_blueprint(desk)
    app.register_blueprint(campaigns_pages)
    app.register_blueprint(quality_pages)
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(HTTPException, _http_error)
    app.after_request(_security_headers)
    return app


def wants_json() -> bool:
    """API calls and scripts get JSON (errors included); browsers opening pages get HTML."""
    if request.blueprint == "api" or request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(status: int, error_id: str, message: str) -> tuple[Response | str, int]:
    if wants_json():
        return jsonify({"error": {"id": error_id, "message": message}}), status
    return render_template("error.html", status=status, error_id=error_id, message=message), status


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _domain_error(error: DomainError) -> tuple[Response | str, int]:
    return error_response(error.http_status, error.error_id, error.message)


def _http_error(error: HTTPException) -> tuple[Response | str, int]:
    """Every error is JSON (or our own page), never Werkzeug's HTML page."""
    name = (error.name or "error").lower().replace(" ", "_")
    return error_response(error.code or 500, name, error.description or "")


def _security_headers(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"  # customers' data stays out of shared and browser caches
    response.headers["Referrer-Policy"] = "same-origin"
    if response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Frame-Options"] = "DENY"
    return response
