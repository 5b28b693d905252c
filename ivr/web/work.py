"""Working calls in the console: the wrap-up form of a call and the callback list (docs/console.md).

Pages post plain forms (with the CSRF field) and are redirected back (303);
the JSON API (``ivr/web/api.py``) offers the same actions to scripts, through
the same ``ivr.web.actions``.
"""

from __future__ import annotations

from flask import Blueprint, Response, g, redirect, render_template, request, url_for

from ivr.domain import callbacks, wrapup
from ivr.domain.callbacks import CallbackStatus
from ivr.domain.values import NOTE_MAX_CHARS
from ivr.web.access import SERVE_CALLERS, WORK_CALLS
from ivr.web.actions import close_callback, save_wrapup, take_callback
from ivr.web.api import enum_arg, int_arg
from ivr.web.auth import login_required

work = Blueprint("work", __name__)
CALLBACKS_PER_PAGE = 25


# --- pages ---------------------------------------------------------------------------------------


@work.get("/callbacks")
@login_required(SERVE_CALLERS)
def callbacks_page() -> str:
    status = enum_arg("status", CallbackStatus)
    listing = callbacks.list_callbacks(status, int_arg("page", 1), CALLBACKS_PER_PAGE)
    return render_template("callbacks.html", listing=listing, status=status, statuses=list(CallbackStatus),
                           can_work=g.user.role in WORK_CALLS, note_max=NOTE_MAX_CHARS)


@work.post("/callbacks/<int:callback_id>/claim")
@login_required(WORK_CALLS)
def claim_page(callback_id: int) -> Response:
    take_callback(callback_id)
    return redirect(url_for("work.callbacks_page"), 303)


@work.post("/callbacks/<int:callback_id>/finish")
@login_required(WORK_CALLS)
def finish_page(callback_id: int) -> Response:
    close_callback(callback_id)
    return redirect(url_for("work.callbacks_page"), 303)


@work.get("/calls/<unique_id>/wrapup")
@login_required(SERVE_CALLERS)
def wrapup_page(unique_id: str) -> str:
    return render_template("wrapup.html", call=wrapup.get_wrapup(unique_id), codes=wrapup.wrapup_codes(),
                           can_work=g.user.role in WORK_CALLS, note_max=NOTE_MAX_CHARS,
                           saved=request.args.get("saved") == "1")


@work.post("/calls/<unique_id>/wrapup")
@login_required(WORK_CALLS)
def wrapup_form(unique_id: str) -> Response:
    save_wrapup(unique_id)
    return redirect(url_for("work.wrapup_page", unique_id=unique_id, saved=1), 303)

