"""The campaign pages and their JSON API: define, start, pause and stop outbound campaigns, and watch
their figures (docs/console.md, "The campaign page"; the campaigns themselves: docs/campaigns.md).

Supervisors and admins only (``MANAGE_CAMPAIGNS``). Each view reads its
fields (a form or a JSON object, through ``campaign_spec``), calls
``ivr.domain.campaigns`` and serialises. Forms answer ``303`` back to the
page; a refused form is the page again, with the reason next to the form and
the error's status. The API answers JSON, errors as
``{"error": {"id", "message"}}`` (the app's DomainError handler).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, redirect, render_template, request, url_for

from ivr.config import get_settings
from ivr.db.models import AttemptStatus
from ivr.domain import campaign_reports, campaigns
from ivr.domain.campaigns import CampaignSpec, CampaignState, CampaignView, PlanCounts, ProductLine
from ivr.domain.errors import DomainError, InvalidTransition, ValidationError
from ivr.web.access import MANAGE_CAMPAIGNS
from ivr.web.actions import submitted
from ivr.web.api import int_arg, plain
from ivr.web.auth import login_required

campaigns_pages = Blueprint("campaigns", __name__)

TIMELINE_HOURS = 24  # the chart of calls per hour shows the last day unless ?hours= says otherwise
REFRESH_SECONDS = 5
MOVES = {"start": campaigns.start_campaign, "pause": campaigns.pause_campaign, "stop": campaigns.stop_campaign}
# Statuses a dialled call can have: the timeline's series, in this order.
CALL_STATUSES = tuple(s.value for s in AttemptStatus if s not in (AttemptStatus.PLANNED, AttemptStatus.SKIPPED))
CHECKED = ("on", "true", "1", "yes")  # what a ticked checkbox (or a JSON string) may send
_NUMBERS = ("due_within_days", "lapsing_within_days", "max_attempts", "min_gap_hours", "max_channels")


@campaigns_pages.app_context_processor
def _navigation() -> dict[str, bool]:
    """Whether base.html links to the campaigns, for the logged-in user's role."""
    user = g.get("user")
    return {"may_manage_campaigns": user is not None and user.role in MANAGE_CAMPAIGNS}


# --- pages ---------------------------------------------------------------------------------------


@campaigns_pages.get("/campaigns")
@login_required(MANAGE_CAMPAIGNS)
def campaigns_page() -> str:
    return _list_page(_blank_form(), None)[0]


@campaigns_pages.post("/campaigns")
@login_required(MANAGE_CAMPAIGNS)
def create_form() -> Response | tuple[str, int]:
    try:
        view = _create()
    except ValidationError as problem:
        return _list_page(_form_values(request.form), problem)
    return redirect(url_for("campaigns.campaign_page", campaign_id=view.id), 303)


@campaigns_pages.get("/campaigns/<int:campaign_id>")
@login_required(MANAGE_CAMPAIGNS)
def campaign_page(campaign_id: int) -> str:
    view = campaigns.get_campaign(campaign_id)
    planned = None
    if request.args.get("selected") is not None:
        planned = PlanCounts(int_arg("selected", 0), int_arg("planned", 0), int_arg("already", 0))
    return _campaign_page(view, _view_form(view), None, planned)[0]


@campaigns_pages.post("/campaigns/<int:campaign_id>")
@login_required(MANAGE_CAMPAIGNS)
def update_form(campaign_id: int) -> Response | tuple[str, int]:
    try:
        _update(campaign_id)
    except ValidationError as problem:
        return _campaign_page(campaigns.get_campaign(campaign_id), _form_values(request.form), problem)
    except InvalidTransition as problem:  # stopped meanwhile: the page has no form now, the reason goes on top
        view = campaigns.get_campaign(campaign_id)
        return _campaign_page(view, _view_form(view), problem, problem_on_top=True)
    return redirect(url_for("campaigns.campaign_page", campaign_id=campaign_id), 303)


@campaigns_pages.post("/campaigns/<int:campaign_id>/<any(start, pause, stop):move>")
@login_required(MANAGE_CAMPAIGNS)
def move_form(campaign_id: int, move: str) -> Response | tuple[str, int]:
    try:
        view, planned = _move(campaign_id, move)
    except InvalidTransition as problem:
        view = campaigns.get_campaign(campaign_id)
        return _campaign_page(view, _view_form(view), problem, problem_on_top=True)
    counts = {} if planned is None else {"selected": planned.selected, "planned": planned.planned,
                                         "already": planned.already_planned}
    return redirect(url_for("campaigns.campaign_page", campaign_id=view.id, **counts), 303)


def _list_page(form: dict[str, Any], problem: DomainError | None) -> tuple[str, int]:
    # A contact centre runs a handful of campaigns at a time: their figures one campaign at a time
    # (campaign_figures, a few grouped counts each) are cheap, and the figures stay defined in one place.
    rows = [(view, campaigns.campaign_figures(view.id)) for view in campaigns.list_campaigns()]
    html = render_template("campaigns.html", rows=rows, form=form, problem=problem, lines=list(ProductLine),
                           defaults=get_settings())
    return html, problem.http_status if problem else 200


def _campaign_page(view: CampaignView, form: dict[str, Any], problem: DomainError | None,
                   planned: PlanCounts | None = None, problem_on_top: bool = False) -> tuple[str, int]:
    html = render_template("campaign.html", c=view, figures=campaigns.campaign_figures(view.id),
                           moves=campaign_reports.campaign_moves(view.state), form=form,
                           problem=None if problem_on_top else problem,
                           move_problem=problem if problem_on_top else None,
                           planned=planned, lines=list(ProductLine), defaults=get_settings(),
                           zone=get_settings().zone(), refresh_seconds=REFRESH_SECONDS)
    return html, problem.http_status if problem else 200


# --- JSON ----------------------------------------------------------------------------------------


@campaigns_pages.get("/api/campaigns")
@login_required(MANAGE_CAMPAIGNS)
def list_campaigns_json() -> Response:
    """Every campaign, oldest first, with its figures."""
    return jsonify({"items": [{"campaign": plain(view), "figures": plain(campaigns.campaign_figures(view.id))}
                              for view in campaigns.list_campaigns()]})


@campaigns_pages.post("/api/campaigns")
@login_required(MANAGE_CAMPAIGNS)
def create_campaign_json() -> tuple[Response, int]:
    """A new draft campaign from a JSON definition (fields as ``CampaignSpec``); 201 with its page's JSON."""
    return jsonify(_detail(_create())), 201


@campaigns_pages.get("/api/campaigns/<int:campaign_id>")
@login_required(MANAGE_CAMPAIGNS)
def campaign_json(campaign_id: int) -> Response:
    """Definition, the moves its state allows, figures, and calls per hour (``?hours=``, default 24)."""
    return jsonify(_detail(campaigns.get_campaign(campaign_id), int_arg("hours", TIMELINE_HOURS)))


@campaigns_pages.put("/api/campaigns/<int:campaign_id>")
@login_required(MANAGE_CAMPAIGNS)
def update_campaign_json(campaign_id: int) -> Response:
    """Replace the definition: a field left out takes its default, as when creating."""
    return jsonify(_detail(_update(campaign_id)))


@campaigns_pages.post("/api/campaigns/<int:campaign_id>/<any(start, pause, stop):move>")
@login_required(MANAGE_CAMPAIGNS)
def move_json(campaign_id: int, move: str) -> Response:
    """start (and plan its calls at once), pause or stop; a move the state does not allow is 409."""
    view, planned = _move(campaign_id, move)
    return jsonify({**_detail(view), "planned": plain(planned)})


def _detail(view: CampaignView, hours: int = TIMELINE_HOURS) -> dict[str, Any]:
    """What the campaign page shows, as JSON: its script redraws the figures and charts from this."""
    until = view.stopped_at if view.state is CampaignState.STOPPED and view.stopped_at else _now()
    timeline = campaign_reports.calls_by_hour(view.id, until, hours)
    zone = get_settings().zone()
    return {"campaign": plain(view), "moves": list(campaign_reports.campaign_moves(view.state)),
            "figures": plain(campaigns.campaign_figures(view.id)),
            "timeline": {"hours": hours, "statuses": list(CALL_STATUSES), "zone": zone.key,
                         "slots": [{"hour": slot.hour.isoformat(), "label": f"{slot.hour.astimezone(zone):%m-%d %H:00}",
                                    "by_status": slot.by_status, "total": slot.total} for slot in timeline.hours]}}


# --- the domain calls, shared by pages and API ---------------------------------------------------


def _create() -> CampaignView:
    return campaigns.create_campaign(campaign_spec(submitted()), g.user.username, _now())


def _update(campaign_id: int) -> CampaignView:
    return campaigns.update_campaign(campaign_id, campaign_spec(submitted()), _now())


def _move(campaign_id: int, move: str) -> tuple[CampaignView, PlanCounts | None]:
    """The move; a start also plans the campaign's first calls at once, so its targets show straight away
    (the dialer's tick would plan them within ``campaign_tick_seconds`` anyway; planning is idempotent)."""
    now = _now()
    view = MOVES[move](campaign_id, now)
    planned = campaigns.plan_attempts(campaign_id, now) if move == "start" else None
    return view, planned


def _now() -> datetime:
    return current_app.config["CLOCK"]()


# --- reading a definition from a form or a JSON object ---------------------------------------------


def campaign_spec(fields: Mapping[str, Any]) -> CampaignSpec:
    """A CampaignSpec from a form (text fields, checkboxes) or a JSON object (numbers, true/false, lists).

    An empty or missing number or window takes the setting's default (the
    domain fills it in); the domain checks ranges and the window.
    """
    return CampaignSpec(
        name=_text(fields, "name"), message=_text(fields, "message"),
        include_grace=_flag(fields, "include_grace"), product_lines=_product_lines(fields),
        branches=_branches(fields), window=_text(fields, "window").strip() or None,
        calls_per_second=_rate(fields.get("calls_per_second")), detect_machines=_flag(fields, "detect_machines"),
        **{name: _whole_number(fields.get(name), name) for name in _NUMBERS})


def _text(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be text", f"invalid_{name}")
    return value


def _whole_number(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValidationError(f"{name} must be a whole number", f"invalid_{name}")
    text = str(value).strip()
    if not text.isascii() or not text.lstrip("-").isdigit():
        raise ValidationError(f"{name} must be a whole number, not {text!r}", f"invalid_{name}")
    return int(text)


def _rate(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValidationError("calls_per_second must be a number", "invalid_calls_per_second")
    try:
        rate = float(value)
    except ValueError:
        raise ValidationError(f"calls_per_second must be a number, not {value!r}", "invalid_calls_per_second") from None
    if rate != rate:  # NaN passes every comparison the domain makes
        raise ValidationError("calls_per_second must be a number", "invalid_calls_per_second")
    return rate


def _flag(fields: Mapping[str, Any], name: str) -> bool:
    value = fields.get(name)
    if isinstance(value, bool) or value is None:
        return bool(value)
    if value in CHECKED:  # a checked checkbox
        return True
    if value in ("", "false", "0", "no", "off"):
        return False
    raise ValidationError(f"{name} must be true or false", f"invalid_{name}")


def _list(fields: Mapping[str, Any], name: str) -> list[str]:
    values = fields.getlist(name) if hasattr(fields, "getlist") else fields.get(name) or []
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise ValidationError(f"{name} must be a list of names", f"invalid_{name}")
    return values


def _product_lines(fields: Mapping[str, Any]) -> tuple[ProductLine, ...]:
    try:
        return tuple(ProductLine(value) for value in _list(fields, "product_lines"))
    except ValueError:
        allowed = ", ".join(line.value for line in ProductLine)
        raise ValidationError(f"product lines must be among: {allowed}", "invalid_product_lines") from None


def _branches(fields: Mapping[str, Any]) -> tuple[str, ...]:
    """A JSON list, or a form's one text field with the branches separated by commas or lines."""
    if hasattr(fields, "getlist"):
        raw = _text(fields, "branches").replace("\n", ",")
        return tuple(branch.strip() for branch in raw.split(",") if branch.strip())
    return tuple(_list(fields, "branches"))


# --- form values for the templates -----------------------------------------------------------------


def _blank_form() -> dict[str, Any]:
    return {"name": "", "message": "", "include_grace": False, "product_lines": [], "branches": "", "window": "",
            "calls_per_second": "", "detect_machines": False, **{name: "" for name in _NUMBERS}}


def _form_values(form: Mapping[str, Any]) -> dict[str, Any]:
    """A refused form's fields, to show them again as typed."""
    values = {name: str(form.get(name, "")) for name in _blank_form()}
    for flag in ("include_grace", "detect_machines"):
        values[flag] = form.get(flag) in CHECKED
    values["product_lines"] = form.getlist("product_lines") if hasattr(form, "getlist") else []
    return values


def _view_form(view: CampaignView) -> dict[str, Any]:
    """A campaign's definition as the edit form's fields."""
    return {"name": view.name, "message": view.message, "include_grace": view.include_grace,
            "product_lines": [line.value for line in view.product_lines], "branches": ", ".join(view.branches),
            "window": f"{view.window_start:%H:%M}-{view.window_end:%H:%M}",
            "calls_per_second": f"{view.calls_per_second:g}", "detect_machines": view.detect_machines,
            **{name: "" if getattr(view, name) is None else str(getattr(view, name)) for name in _NUMBERS}}
