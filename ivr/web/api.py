"""``/api``: JSON over claims, complaint tickets, agent checks, fraud alerts and callback requests,
and the console's actions on calls (wrap-up) and callbacks (take, finish).

Every view needs a logged-in console user of a role allowed to read it
(``ivr.web.access``): 401 without a session, 403 for another role. A POST
also needs the session's CSRF token in ``X-CSRF-Token`` and takes a JSON object.

Each view checks its query parameters, calls one domain function and
serialises the frozen dataclasses it returns. Lists take ``page``,
``per_page`` (at most 100), ``status``, ``from`` and ``to`` (YYYY-MM-DD, UTC
days, both included) and answer ``{items, page, per_page, total}``.
"""

from __future__ import annotations

import dataclasses
import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from flask import Blueprint, Response, jsonify, request

from ivr.domain import callbacks, claims, complaints, sales_agents
from ivr.domain.errors import NotFound, ValidationError
from ivr.domain.paging import Page
from ivr.web.access import OVERSIGHT, SERVE_CALLERS, WORK_CALLS
from ivr.web.actions import close_callback, save_wrapup, take_callback
from ivr.web.auth import login_required

api = Blueprint("api", __name__, url_prefix="/api")

E = TypeVar("E", bound=enum.Enum)
DEFAULT_PER_PAGE = 50


@api.get("/claims")
@login_required(SERVE_CALLERS)
def list_claims() -> Response:
    return _json(claims.list_claims(enum_arg("status", claims.ClaimStatus), *_date_args(), *_page_args()))


@api.get("/claims/<claim_no>")
@login_required(SERVE_CALLERS)
def get_claim(claim_no: str) -> Response:
    claim = claims.get_claim(claim_no)
    if claim is None:
        raise NotFound(f"no claim {claim_no}", "claim_not_found")
    return _json(claim)


@api.get("/complaints")
@login_required(SERVE_CALLERS)
def list_complaints() -> Response:
    return _json(complaints.list_complaints(enum_arg("status", complaints.ComplaintStatus), *_date_args(),
                                            _bool_arg("overdue"), *_page_args()))


@api.get("/complaints/<ticket_no>")
@login_required(SERVE_CALLERS)
def get_complaint(ticket_no: str) -> Response:
    return _json(complaints.get_complaint(ticket_no))


@api.get("/agent-checks")
@login_required(OVERSIGHT)
def list_agent_checks() -> Response:
    return _json(sales_agents.list_agent_checks(enum_arg("status", sales_agents.AgentCheckResult),
                                                *_date_args(), *_page_args()))


@api.get("/fraud-alerts")
@login_required(OVERSIGHT)
def list_fraud_alerts() -> Response:
    return _json(sales_agents.list_fraud_alerts(enum_arg("status", sales_agents.FraudAlertStatus),
                                                *_date_args(), *_page_args()))


@api.post("/calls/<unique_id>/wrapup")
@login_required(WORK_CALLS)
def wrap_up_call(unique_id: str) -> Response:
    """``{"code", "note"}``: the call's wrap-up (ivr/domain/wrapup.py for the rules)."""
    return _json(save_wrapup(unique_id))


@api.get("/callbacks")
@login_required(SERVE_CALLERS)
def list_callbacks() -> Response:
    """Open first, then in progress, then closed; oldest first within each."""
    return _json(callbacks.list_callbacks(enum_arg("status", callbacks.CallbackStatus), *_page_args()))


@api.post("/callbacks/<int:callback_id>/claim")
@login_required(WORK_CALLS)
def claim_callback(callback_id: int) -> Response:
    return _json(take_callback(callback_id))


@api.post("/callbacks/<int:callback_id>/finish")
@login_required(WORK_CALLS)
def finish_callback(callback_id: int) -> Response:
    """``{"outcome": "done" | "failed", "note"}``, by the agent who took it."""
    return _json(close_callback(callback_id))


# --- query parameters -----------------------------------------------------------------------------


def _page_args() -> tuple[int, int]:
    return int_arg("page", 1), int_arg("per_page", DEFAULT_PER_PAGE)


def int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit():
        raise ValidationError(f"{name} must be a whole number", f"invalid_{name}")
    return int(raw)


def _date_args() -> tuple[date | None, date | None]:
    return _date_arg("from"), _date_arg("to")


def _date_arg(name: str) -> date | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        if len(raw) == 10:
            return date.fromisoformat(raw)
    except ValueError:
        pass
    raise ValidationError(f"{name} must be a date as YYYY-MM-DD", f"invalid_{name}")


def enum_arg(name: str, kind: type[E]) -> E | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        return kind(raw)
    except ValueError:
        allowed = ", ".join(str(member.value) for member in kind)
        raise ValidationError(f"{name} must be one of: {allowed}", f"invalid_{name}") from None


def _bool_arg(name: str) -> bool | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise ValidationError(f"{name} must be true or false", f"invalid_{name}")
    return raw == "true"


# --- serialisation ----------------------------------------------------------------------------------


def _json(value: Any) -> Response:
    if isinstance(value, Page):
        return jsonify({"items": [_plain(item) for item in value.items], "page": value.page,
                        "per_page": value.per_page, "total": value.total})
    return jsonify(_plain(value))


def _plain(value: Any) -> Any:
    """Dataclasses as objects, enums as their values, dates as ISO 8601, amounts as strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
