"""``/api``: JSON over claims, complaint tickets, agent checks, fraud alerts and callback requests,
and the console's actions on calls (wrap-up) and callbacks (take, finish).

Every view but ``/api/health`` (for monitors: no login) needs a logged-in console user of a role
allowed to read it (``ivr.web.access``): 401 without a session, 403 for another role. A POST
also needs the session's CSRF token in ``X-CSRF-Token`` and takes a JSON object.

Each view checks its query parameters, calls one domain function and
serialises the frozen dataclasses it returns. Lists take ``page``,
``per_page`` (at most 100), ``status``, ``from`` and ``to`` (YYYY-MM-DD, UTC
days, both included) and answer ``{items, page, per_page, total}``.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, g, jsonify, request

from ivr.config import get_settings
from ivr.domain import callbacks, claims, complaints, customer_view, health, sales_agents
from ivr.domain.errors import NotFound, ValidationError
from ivr.domain.paging import Page
from ivr.web.access import OVERSIGHT, SERVE_CALLERS, VIEW_CUSTOMERS, WORK_CALLS
from ivr.web.actions import close_callback, save_wrapup, take_callback
from ivr.web.auth import login_required

log = logging.getLogger(__name__)
api = Blueprint("api", __name__, url_prefix="/api")

E = TypeVar("E", bound=enum.Enum)
DEFAULT_PER_PAGE = 50


@api.get("/health")
def health_check() -> tuple[Response, int]:
    """The operators' alerts (``ivr.domain.health``): 200 and none, or 503 and each. No login, so a load
    balancer or a monitor can poll it; the alerts name no path, customer or secret."""
    found = health.alerts(current_app.config["CLOCK"]())
    return jsonify(status="alert" if found else "ok", alerts=plain(found)), 503 if found else 200


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
        return jsonify({"items": [plain(item) for item in value.items], "page": value.page,
                        "per_page": value.per_page, "total": value.total})
    return jsonify(plain(value))


def plain(value: Any) -> Any:
    """Dataclasses as objects, enums as their values, dates and times as ISO 8601, amounts as strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


# --- customer search and 360 (the pages in ivr/web/console.py read the same parameters) -------------


@api.get("/customers")
@login_required(VIEW_CUSTOMERS)
def search_customers() -> Response:
    """``q``, ``kind`` (name, phone, policy, id) and, with ``id``, ``birth_date``: at most MAX_HITS hits."""
    hits = customer_view.search_customers(customer_query())
    return jsonify({"items": plain(hits), "limit": customer_view.MAX_HITS})


@api.get("/customers/<int:customer_id>")
@login_required(VIEW_CUSTOMERS)
def get_customer(customer_id: int) -> Response:
    """The customer 360; ``page`` and ``per_page`` page the contact history."""
    view = customer_view.customer_360(customer_id, get_settings().today(), *history_page())
    customer_viewed(customer_id)
    return _json(view)


def customer_query() -> customer_view.CustomerQuery:
    raw_kind = request.args.get("kind", customer_view.SearchKind.NAME.value)
    try:
        kind = customer_view.SearchKind(raw_kind)
    except ValueError:
        allowed = ", ".join(member.value for member in customer_view.SearchKind)
        raise ValidationError(f"kind must be one of: {allowed}", "invalid_kind") from None
    return customer_view.CustomerQuery(kind, request.args.get("q", ""), _date_arg("birth_date"))


def history_page() -> tuple[int, int]:
    """The page of a customer's contact history: ``per_page`` is CALLS_PER_PAGE unless asked."""
    page, per_page = _page_args()
    return page, per_page if "per_page" in request.args else customer_view.CALLS_PER_PAGE


def customer_viewed(customer_id: int) -> None:
    """Who opened whose record (until the audit table of issue 8, this log line is the trail)."""
    log.info("customer record viewed: customer_id=%d user=%s user_id=%d via=%s", customer_id,
             g.user.username, g.user.id, request.path,
             extra={"customer_id": customer_id, "console_user": g.user.username})
