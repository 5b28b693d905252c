"""Callback requests: a caller we owe a call, and the list agents work them from.

Never two outstanding (open or in progress) requests for one number. The
workflow (docs/console.md):

- ``open``: waiting in the list, oldest first (a merged request keeps the
  first request's time: the caller keeps their place in line);
- ``claim_callback``: an agent takes it, ``in_progress``; one conditional
  UPDATE (``... WHERE status = 'open'``), so of two agents taking it at once
  exactly one wins and the other gets ``callback_already_taken``;
- ``finish_callback``, by the agent who took it only: ``done``, or a failed
  attempt (no answer, wrong number ...). A failed attempt counts in
  ``attempts`` and puts the request back in the list (``open``, unassigned,
  its place kept) until ``callback_max_attempts`` attempts have failed; then
  it is closed as ``failed``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, case, literal, null, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from ivr.config import get_settings
from ivr.db.models import CallbackRequest, CallbackStatus, UtcDateTime
from ivr.db.session import session_scope
from ivr.domain import values
from ivr.domain.errors import DomainError, InvalidTransition, NotFound, ValidationError
from ivr.domain.paging import Page, fetch_page

__all__ = ["CallbackOutcome", "CallbackStatus", "CallbackView", "NotYourCallback", "claim_callback",
           "finish_callback", "get_callback", "list_callbacks", "request_callback"]

log = logging.getLogger(__name__)
OUTSTANDING = (CallbackStatus.OPEN, CallbackStatus.IN_PROGRESS)
FINISHED = (CallbackStatus.DONE, CallbackStatus.FAILED)
# The list's order: what agents can take first, then what is being worked, then the closed ones.
_LIST_RANK = {CallbackStatus.OPEN: 0, CallbackStatus.IN_PROGRESS: 1, CallbackStatus.FAILED: 2,
              CallbackStatus.DONE: 3, CallbackStatus.CANCELLED: 4}


class NotYourCallback(DomainError):
    """Finishing a callback another agent took."""

    error_id = "not_your_callback"
    http_status = 403


@dataclass(frozen=True)
class CallbackView:
    id: int
    number: str  # E.164
    customer_id: int | None
    customer_name: str | None
    reason: str
    status: CallbackStatus
    request_count: int
    call_unique_id: str | None
    created_at: datetime  # the first request: the caller's place in line
    updated_at: datetime
    assigned_to: int | None
    assigned_to_name: str | None
    claimed_at: datetime | None
    attempts: int  # failed attempts so far
    outcome_note: str | None  # the latest attempt's note
    closed_at: datetime | None


@dataclass(frozen=True)
class CallbackOutcome:
    request_id: int
    merged: bool  # True: the number already had an open request, now updated


def request_callback(number: str, customer_id: int | None, reason: str, call_unique_id: str | None,
                     now: datetime) -> CallbackOutcome:
    """Open a callback request for ``number`` (E.164), or merge into its outstanding one.

    A merge keeps the first request's time (the caller's place in line), counts
    the request, takes the latest reason and call, and learns the customer if
    the earlier request did not know them.
    """
    try:
        return _open_or_merge(number, customer_id, reason, call_unique_id, now)
    except IntegrityError:  # another call opened one for the number at the same moment: merge into it
        return _open_or_merge(number, customer_id, reason, call_unique_id, now)


def _open_or_merge(number: str, customer_id: int | None, reason: str, call_unique_id: str | None,
                   now: datetime) -> CallbackOutcome:
    with session_scope() as session:
        request = session.scalar(select(CallbackRequest).where(
            CallbackRequest.number == number, CallbackRequest.status.in_(OUTSTANDING)).with_for_update())
        if request is not None:
            request.request_count += 1
            request.reason = reason[:64]
            request.call_unique_id = call_unique_id
            request.customer_id = request.customer_id or customer_id
            request.updated_at = now
            return CallbackOutcome(request.id, merged=True)
        request = CallbackRequest(number=number, customer_id=customer_id, reason=reason[:64],
                                  status=CallbackStatus.OPEN, request_count=1, call_unique_id=call_unique_id,
                                  created_at=now, updated_at=now)
        session.add(request)
        session.flush()
        return CallbackOutcome(request.id, merged=False)


def list_callbacks(status: CallbackStatus | None = None, page: int = 1, per_page: int = 50) -> Page[CallbackView]:
    """Open requests first, then those in progress, then closed ones; oldest first within each."""
    query = _callbacks()
    if status is not None:
        query = query.where(CallbackRequest.status == status)
    rank = case(*((CallbackRequest.status == member, position) for member, position in _LIST_RANK.items()),
                else_=len(_LIST_RANK))
    with session_scope() as session:
        return fetch_page(session, query.order_by(rank, CallbackRequest.created_at, CallbackRequest.id),
                          page, per_page, _view)


def get_callback(callback_id: int) -> CallbackView:
    with session_scope() as session:
        return _callback(session, callback_id)


def claim_callback(callback_id: int, user_id: int, now: datetime) -> CallbackView:
    """Take an open request; of two agents taking it at once, the second gets ``callback_already_taken``."""
    with session_scope() as session:
        taken = session.execute(
            update(CallbackRequest)
            .where(CallbackRequest.id == callback_id, CallbackRequest.status == CallbackStatus.OPEN)
            .values(status=CallbackStatus.IN_PROGRESS, assigned_to=user_id, claimed_at=now, updated_at=now)
            .execution_options(synchronize_session=False)).rowcount
        callback = _callback(session, callback_id)
        if not taken:
            if callback.status is CallbackStatus.IN_PROGRESS:
                raise InvalidTransition(f"callback {callback_id} was taken by {callback.assigned_to_name}",
                                        "callback_already_taken")
            raise InvalidTransition(f"callback {callback_id} is {callback.status.value}, not open",
                                    "callback_not_open")
    log.info("callback %s taken by console user %s", callback_id, user_id)
    return callback


def finish_callback(callback_id: int, user_id: int, outcome: CallbackStatus, note: str,
                    now: datetime) -> CallbackView:
    """The outcome of a callback, from the agent who took it: ``done`` or ``failed`` (see the module)."""
    if outcome not in FINISHED:
        raise ValidationError(f"a callback finishes as done or failed, not {outcome.value}", "invalid_outcome")
    note = values.agent_note(note, "outcome")
    with session_scope() as session:
        finished = session.execute(
            update(CallbackRequest)
            .where(CallbackRequest.id == callback_id, CallbackRequest.status == CallbackStatus.IN_PROGRESS,
                   CallbackRequest.assigned_to == user_id)
            .values(outcome_note=note, updated_at=now, **_outcome_values(outcome, now))
            .execution_options(synchronize_session=False)).rowcount
        callback = _callback(session, callback_id)
        if not finished:
            if callback.status is not CallbackStatus.IN_PROGRESS:
                raise InvalidTransition(f"callback {callback_id} is {callback.status.value}: take it first",
                                        "callback_not_in_progress")
            raise NotYourCallback(f"callback {callback_id} was taken by {callback.assigned_to_name}; "
                                  "only they can finish it")
    log.info("callback %s %s by console user %s: now %s after %s failed attempts", callback_id, outcome.value,
             user_id, callback.status.value, callback.attempts)
    return callback


def _outcome_values(outcome: CallbackStatus, now: datetime) -> dict[str, object]:
    if outcome is CallbackStatus.DONE:
        return {"status": CallbackStatus.DONE, "closed_at": now}
    last_attempt = CallbackRequest.attempts + 1 >= get_settings().callback_max_attempts
    return {"attempts": CallbackRequest.attempts + 1,
            "status": case((last_attempt, CallbackStatus.FAILED.value), else_=CallbackStatus.OPEN.value),
            "closed_at": case((last_attempt, literal(now, UtcDateTime())), else_=null()),
            "assigned_to": case((last_attempt, CallbackRequest.assigned_to), else_=null()),
            "claimed_at": case((last_attempt, CallbackRequest.claimed_at), else_=null())}


def _callbacks() -> Select[tuple[CallbackRequest]]:
    return select(CallbackRequest).options(selectinload(CallbackRequest.customer),
                                           selectinload(CallbackRequest.assignee))


def _callback(session: Session, callback_id: int) -> CallbackView:
    request = session.scalar(_callbacks().where(CallbackRequest.id == callback_id))
    if request is None:
        raise NotFound(f"no callback request {callback_id}", "callback_not_found")
    return _view(request)


def _view(request: CallbackRequest) -> CallbackView:
    return CallbackView(id=request.id, number=request.number, customer_id=request.customer_id,
                        customer_name=request.customer.name if request.customer else None,
                        reason=request.reason, status=request.status,
                        request_count=request.request_count, call_unique_id=request.call_unique_id,
                        created_at=request.created_at, updated_at=request.updated_at,
                        assigned_to=request.assigned_to,
                        assigned_to_name=request.assignee.display_name if request.assignee else None,
                        claimed_at=request.claimed_at, attempts=request.attempts,
                        outcome_note=request.outcome_note, closed_at=request.closed_at)
