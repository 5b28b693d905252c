"""The Flask application: a JSON API now, the agents' web console later (issue 4).

The app reads the database from the process-wide settings (``ivr.config``);
``test_config`` only overrides Flask's own configuration, as in Flask's
tutorial. There is no authentication yet: ``ivr web`` binds to loopback.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from ivr.domain.errors import DomainError


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, static_folder=None)
    if test_config is not None:
        app.config.from_mapping(test_config)

    from ivr.web.api import api

    app.register_blueprint(api)
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(HTTPException, _http_error)
    app.after_request(_security_headers)
    return app


def error_response(status: int, error_id: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": {"id": error_id, "message": message}}), status


def _domain_error(error: DomainError) -> tuple[Response, int]:
    return error_response(error.http_status, error.error_id, error.message)


def _http_error(error: HTTPException) -> tuple[Response, int]:
    """Every error is JSON too (unknown path, wrong method), never Werkzeug's HTML page."""
    name = (error.name or "error").lower().replace(" ", "_")
    return error_response(error.code or 500, name, error.description or "")


def _security_headers(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
