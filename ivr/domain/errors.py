"""Errors the domain raises on purpose, each with a stable id and the HTTP status it means.

The web layer turns them into ``{"error": {"id", "message"}}`` with that
status; the CLI prints the message; flows avoid them by asking the domain
first (``check_incident_date``) and treat one as a failure of the call.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of the domain's own errors; ``error_id`` never changes once published."""

    error_id: str = "domain_error"
    http_status: int = 400

    def __init__(self, message: str, error_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if error_id is not None:
            self.error_id = error_id


class NotFound(DomainError):
    error_id = "not_found"
    http_status = 404


class InvalidTransition(DomainError):
    """A status change the workflow does not allow from the current status."""

    error_id = "invalid_transition"
    http_status = 409


class ValidationError(DomainError):
    error_id = "invalid_value"
    http_status = 400
