"""What a console user does to a call or a callback request, from a page's form or a script's JSON.

One place reads the fields (``submitted()``) and calls the domain with the
logged-in user and the app's clock, for ``ivr/web/work.py`` and ``ivr/web/api.py`` alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import current_app, g, request

from ivr.domain import callbacks, wrapup
from ivr.domain.callbacks import CallbackStatus
from ivr.domain.errors import ValidationError


def submitted() -> Mapping[str, Any]:
    """The fields of a JSON object body (scripts) or of a form (pages)."""
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ValidationError("the body must be a JSON object", "invalid_body")
        return body
    return request.form


def text_field(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name, "")
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be text", f"invalid_{name}")
    return value


def finish_outcome(fields: Mapping[str, Any]) -> CallbackStatus:
    raw = text_field(fields, "outcome")
    if raw not in (CallbackStatus.DONE.value, CallbackStatus.FAILED.value):
        raise ValidationError("outcome must be done or failed", "invalid_outcome")
    return CallbackStatus(raw)


def save_wrapup(unique_id: str) -> wrapup.CallWrapup:
    fields = submitted()
    return wrapup.record_wrapup(unique_id, text_field(fields, "code"), text_field(fields, "note"), g.user.id,
                                current_app.config["CLOCK"]())


def take_callback(callback_id: int) -> callbacks.CallbackView:
    return callbacks.claim_callback(callback_id, g.user.id, current_app.config["CLOCK"]())


def close_callback(callback_id: int) -> callbacks.CallbackView:
    fields = submitted()
    return callbacks.finish_callback(callback_id, g.user.id, finish_outcome(fields), text_field(fields, "note"),
                                     current_app.config["CLOCK"]())
