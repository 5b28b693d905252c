"""The agent desk (queues, pause, screen pops) and the supervisors' wallboard, pages and JSON.

Each view checks access, reads its fields and calls the switchboard
(``app.extensions["switchboard"]``, made by ``ivr web``); a console without
one (no AMI link configured) answers the actions that need Asterisk with 503.
Screen pops reach the agent's open page over server-sent events
(``/desk/events``): each event carries the pop's id, so a browser that
reconnects (``Last-Event-ID``) gets what it missed, never a pop twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from flask import (Blueprint, Response, current_app, g, jsonify, redirect, render_template, request,
                   stream_with_context, url_for)

from ivr.config import get_settings
from ivr.domain import agent_states, routing, screen_pops
from ivr.domain.agent_states import AgentAction
from ivr.domain.errors import ValidationError
from ivr.switchboard.agent_desk import AsteriskUnavailable
from ivr.switchboard.board import Switchboard
from ivr.switchboard.signal import Signal
from ivr.switchboard.wallboard import build_wallboard
from ivr.web.access import SUPERVISE, TAKE_CALLS, WORK_CALLS
from ivr.web.actions import submitted, text_field
from ivr.web.api import plain
from ivr.web.auth import login_required

desk = Blueprint("desk", __name__)

STREAM_WAKE_SECONDS = 15.0  # an idle stream sends a comment this often, so proxies keep it open
STREAM_LIFETIME_SECONDS = 300.0  # then it ends and the browser reconnects (re-checking the session)
_NO_SWITCHBOARD = Signal()  # a console without AMI still streams pops stored by another process


def _board() -> Switchboard | None:
    """The console's switchboard, if ``ivr web`` made one (``web_ami_link``)."""
    return current_app.extensions.get("switchboard")


def switchboard() -> Switchboard:
    """The switchboard, for an action that needs Asterisk: 503 without one."""
    board = _board()
    if board is None:
        raise AsteriskUnavailable("this console has no AMI link (setting web_ami_link); queue actions are off")
    return board


# --- the agent desk ------------------------------------------------------------------------------


@desk.get("/desk")
@login_required(TAKE_CALLS)
def desk_page() -> str:
    board = _board()
    return render_template("desk.html", status=agent_states.status_of(g.user.id), queues=routing.QUEUES,
                           reasons=agent_states.pause_reasons(), last_pop=screen_pops.latest_pop_id(g.user.id),
                           link=board.link_status() if board is not None else None)


@desk.post("/desk/state")
@login_required(TAKE_CALLS)
def desk_state_form() -> Response:
    _change_state()
    return redirect(url_for("desk.desk_page"), 303)


@desk.get("/api/agent/state")
@login_required(TAKE_CALLS)
def get_agent_state() -> Response:
    return jsonify(plain(agent_states.status_of(g.user.id)))


@desk.post("/api/agent/state")
@login_required(TAKE_CALLS)
def set_agent_state() -> Response:
    """``{"action": "log_in", "queues": ["vip"]}``, ``log_out``, ``{"action": "pause", "reason": "lunch"}``,
    ``resume``."""
    return jsonify(plain(_change_state()))


def _change_state() -> agent_states.AgentStatus:
    fields = submitted()
    try:
        action = AgentAction(text_field(fields, "action"))
    except ValueError:
        raise ValidationError(f"action must be one of: {', '.join(a.value for a in AgentAction)}",
                              "invalid_action") from None
    queues = fields.getlist("queues") if hasattr(fields, "getlist") else fields.get("queues", [])
    if not isinstance(queues, list) or not all(isinstance(queue, str) for queue in queues):
        raise ValidationError("queues must be a list of queue names", "invalid_queues")
    return switchboard().act(g.user.id, action, tuple(queues), text_field(fields, "reason"))


@desk.get("/api/screen-pops/latest")
@login_required(TAKE_CALLS)
def latest_pop() -> Response:
    """The card of the agent's latest pop (404 before the first)."""
    pop = screen_pops.latest_pop(g.user.id)
    if pop is None:
        return jsonify({"error": {"id": "no_screen_pop", "message": "no call has reached you yet"}}), 404
    return jsonify(_card(pop))


@desk.get("/desk/events")
@login_required(TAKE_CALLS)
def desk_events() -> Response:
    """Server-sent events: one ``pop`` event per call put through to this agent, with its card."""
    user_id = g.user.id
    last_seen = _last_event_id()
    board = _board()
    # With the switchboard in this process a pop wakes the stream at once; without, it polls.
    signal, poll = (board.pops.of(user_id), STREAM_WAKE_SECONDS) if board is not None else (_NO_SWITCHBOARD, 1.0)

    def stream() -> Iterator[str]:
        nonlocal last_seen
        started = quiet_since = time.monotonic()
        version = signal.version
        yield "retry: 1000\n\n"
        while time.monotonic() - started < STREAM_LIFETIME_SECONDS:
            for pop in screen_pops.pops_after(user_id, last_seen):
                last_seen = pop.id
                yield f"id: {pop.id}\nevent: pop\ndata: {json.dumps(_card(pop))}\n\n"
            version = signal.wait(version, poll)
            if time.monotonic() - quiet_since >= STREAM_WAKE_SECONDS:
                quiet_since = time.monotonic()
                yield ": still here\n\n"

    response = Response(stream_with_context(stream()), mimetype="text/event-stream")
    response.headers["X-Accel-Buffering"] = "no"
    return response


def _last_event_id() -> int:
    raw = request.headers.get("Last-Event-ID") or request.args.get("after", "")
    if raw.isdigit():
        return int(raw)
    return screen_pops.latest_pop_id(g.user.id)


def _card(pop: screen_pops.PopView) -> object:
    return plain(screen_pops.call_card(pop, get_settings().today()))


# --- pausing a call's recording ------------------------------------------------------------------


@desk.post("/api/calls/<unique_id>/recording")
@login_required(TAKE_CALLS)
def pause_recording(unique_id: str) -> Response:
    """``{"paused": true}`` mutes the recording of a call put through to this agent (a card number is
    read out); ``{"paused": false}`` resumes it. Both are marked in the recording catalogue."""
    paused = submitted().get("paused")
    if not isinstance(paused, bool):
        raise ValidationError("paused must be true or false", "invalid_paused")
    return jsonify({"unique_id": unique_id, "paused": switchboard().pause_recording(g.user.id, unique_id, paused)})


# --- "call back now" -----------------------------------------------------------------------------


@desk.post("/api/callbacks/<int:callback_id>/call")
@login_required(WORK_CALLS)
def call_back_now(callback_id: int) -> Response:
    return jsonify(plain(switchboard().call_back(g.user.id, callback_id)))


@desk.post("/callbacks/<int:callback_id>/call")
@login_required(WORK_CALLS)
def call_back_now_form(callback_id: int) -> Response:
    switchboard().call_back(g.user.id, callback_id)
    return redirect(url_for("work.callbacks_page"), 303)


# --- the wallboard -------------------------------------------------------------------------------


@desk.get("/wallboard")
@login_required(SUPERVISE)
def wallboard_page() -> str:
    return render_template("wallboard.html", board=_wallboard())


@desk.get("/api/wallboard")
@login_required(SUPERVISE)
def wallboard_json() -> Response:
    return jsonify(plain(_wallboard()))


def _wallboard() -> object:
    board = _board()
    if board is None:
        return build_wallboard(None, current_app.config["CLOCK"]())
    return board.wallboard()
