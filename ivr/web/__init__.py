"""The Flask application: the agents' console (login, roles; docs/console.md) and the JSON API.

Flask's own configuration comes from ``ivr.config`` settings (secret key,
session lifetime, secure cookies, the largest request body, the reverse proxies
trusted to name the client); ``test_config`` overrides it, as in Flask's
tutorial. ``CLOCK`` (a callable giving an aware UTC datetime) lets tests move
time for session expiry and login locks.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Flask, Response, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from ivr.config import get_settings
from ivr.domain.errors import DomainError, ValidationError
from ivr.web.csrf import UNSAFE_METHODS

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
        MAX_CONTENT_LENGTH=settings.web_max_body_kilobytes * 1024,  # larger bodies: 413, never read
        MAX_FORM_MEMORY_SIZE=settings.web_max_body_kilobytes * 1024,
        CLOCK=_utcnow,
    )
    if test_config is not None:
        app.config.from_mapping(test_config)
    if settings.web_proxy_count:
        # Behind a proxy every request comes from the proxy: the client's address (login throttling,
        # logs) is the one the trusted proxies add to X-Forwarded-For. Without one, that header is ignored.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.web_proxy_count)  # type: ignore[method-assign]

    from ivr.web import auth, csrf
    from ivr.web.api import api
    from ivr.web.campaigns import campaigns_pages
    from ivr.web.quality import quality_pages
    from ivr.web.console import console
    from ivr.web.desk import desk
    from ivr.web.work import work

    app.before_request(refuse_nul)
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
    app.register_error_handler(RequestEntityTooLarge, _too_large)
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


def refuse_nul() -> None:
    """Before each request: a NUL anywhere in the path, the query, a form or a JSON body is a 400.

    Nobody types one, and PostgreSQL refuses it in any text it is asked to
    store or compare, so a search or a lookup holding one would otherwise fail
    deep in the database. One check here covers every field of every route.
    """
    texts: list[str] = [request.path]
    texts += [text for pair in request.args.items(multi=True) for text in pair]
    if request.method in UNSAFE_METHODS:
        if request.is_json:
            texts += _strings_in(request.get_json(silent=True))
        else:
            texts += [text for pair in request.form.items(multi=True) for text in pair]
    if any("\x00" in text for text in texts):
        raise ValidationError("the request holds a NUL character, which no field accepts", "invalid_characters")


def _strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for key, item in value.items() for text in (*_strings_in(key), *_strings_in(item))]
    if isinstance(value, list):
        return [text for item in value for text in _strings_in(item)]
    return []


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _domain_error(error: DomainError) -> tuple[Response | str, int]:
    return error_response(error.http_status, error.error_id, error.message)


def _http_error(error: HTTPException) -> tuple[Response | str, int]:
    """Every error is JSON (or our own page), never Werkzeug's HTML page."""
    name = (error.name or "error").lower().replace(" ", "_")
    return error_response(error.code or 500, name, error.description or "")


def _too_large(error: RequestEntityTooLarge) -> tuple[Response | str, int]:
    limit = current_app.config["MAX_CONTENT_LENGTH"] // 1024
    return error_response(413, "request_entity_too_large",
                          f"the request is larger than the {limit} KB this console accepts "
                          "(setting web_max_body_kilobytes); nothing was saved")


def _security_headers(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"  # customers' data stays out of shared and browser caches
    response.headers["Referrer-Policy"] = "same-origin"
    if response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Frame-Options"] = "DENY"
    return response
