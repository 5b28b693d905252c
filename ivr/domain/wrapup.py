"""Wrap-up: at the end of a call the agent records a disposition code and a note on the call record.

The rules (docs/console.md):

- the code is one of the setting ``wrapup_codes``; the note is optional text
  of at most ``values.NOTE_MAX_CHARS`` characters;
- a call is wrapped up once. The agent who did it may correct it (code and
  note) for ``wrapup_amend_minutes`` after the wrap-up; ``wrapup_at`` stays the
  time of the first wrap-up, so corrections cannot stretch the window. Anyone
  else, or later, gets ``wrapup_already_recorded`` (409);
- the check and the write are one conditional UPDATE, so two agents saving
  at the same moment cannot both win.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, literal, or_, select, update
from sqlalchemy.orm import Session

from ivr.config import get_settings
from ivr.db.models import Call, ConsoleUser, Disposition, UtcDateTime
from ivr.db.session import session_scope
from ivr.domain import values
from ivr.domain.errors import DomainError, NotFound, ValidationError

__all__ = ["CallWrapup", "WrapupAlreadyRecorded", "get_wrapup", "record_wrapup", "wrapup_codes"]

log = logging.getLogger(__name__)
CODE_MAX_CHARS = 32  # the column's width


class WrapupAlreadyRecorded(DomainError):
    error_id = "wrapup_already_recorded"
    http_status = 409


@dataclass(frozen=True)
class CallWrapup:
    """A call as the wrap-up form shows it: what the IVR knew, and the agent's wrap-up if any."""

    unique_id: str
    ani: str
    started_at: datetime
    disposition: Disposition
    transfer_reason: str
    wrapup_code: str | None
    wrapup_note: str | None
    wrapup_by: int | None
    wrapup_by_name: str | None
    wrapup_at: datetime | None


def wrapup_codes() -> tuple[str, ...]:
    """The disposition codes agents choose from, in the order of the setting."""
    return values.code_list("wrapup_codes", get_settings().wrapup_codes, CODE_MAX_CHARS)


def record_wrapup(call_unique_id: str, code: str, note: str, user_id: int, now: datetime) -> CallWrapup:
    """Save the wrap-up of a call, or correct one's own within ``wrapup_amend_minutes``."""
    code = code.strip()
    if code not in wrapup_codes():
        raise ValidationError(f"wrap-up code {code[:40]!r} is not one of: {', '.join(wrapup_codes())}",
                              "invalid_wrapup_code")
    note = values.agent_note(note, "wrapup")
    amend_since = now - timedelta(minutes=get_settings().wrapup_amend_minutes)
    first_or_own_recent = or_(Call.wrapup_at.is_(None),
                              and_(Call.wrapup_by == user_id, Call.wrapup_at >= amend_since))
    with session_scope() as session:
        changed = session.execute(
            update(Call).where(Call.unique_id == call_unique_id, first_or_own_recent)
            .values(wrapup_code=code, wrapup_note=note, wrapup_by=user_id,
                    wrapup_at=_first_wrapup_time(now))
            .execution_options(synchronize_session=False)).rowcount
        call = _call(session, call_unique_id)
        if not changed:
            raise WrapupAlreadyRecorded(
                f"call {call_unique_id} was wrapped up by {call.wrapup_by_name} at {call.wrapup_at:%Y-%m-%d %H:%M} "
                f"UTC; only they may correct it, within {get_settings().wrapup_amend_minutes} minutes")
    log.info("call %s wrapped up: %s by console user %s", call_unique_id, code, user_id)
    return call


def get_wrapup(call_unique_id: str) -> CallWrapup:
    with session_scope() as session:
        return _call(session, call_unique_id)


def _first_wrapup_time(now: datetime) -> ColumnElement[datetime]:
    """``now`` for a first wrap-up; a correction keeps the time it corrects."""
    return case((Call.wrapup_at.is_(None), literal(now, UtcDateTime())), else_=Call.wrapup_at)


def _call(session: Session, call_unique_id: str) -> CallWrapup:
    row = session.execute(
        select(Call, ConsoleUser.display_name).outerjoin(ConsoleUser, ConsoleUser.id == Call.wrapup_by)
        .where(Call.unique_id == call_unique_id)).first()
    if row is None:
        raise NotFound(f"no call {call_unique_id}", "call_not_found")
    call, by_name = row
    return CallWrapup(unique_id=call.unique_id, ani=call.ani, started_at=call.started_at,
                      disposition=call.disposition, transfer_reason=call.transfer_reason,
                      wrapup_code=call.wrapup_code, wrapup_note=call.wrapup_note, wrapup_by=call.wrapup_by,
                      wrapup_by_name=by_name, wrapup_at=call.wrapup_at)
