"""Callback requests: a caller we owe a call. Never two open requests for one number."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ivr.db.models import CallbackRequest, CallbackStatus
from ivr.db.session import session_scope

__all__ = ["CallbackOutcome", "CallbackStatus", "request_callback"]


@dataclass(frozen=True)
class CallbackOutcome:
    request_id: int
    merged: bool  # True: the number already had an open request, now updated


def request_callback(number: str, customer_id: int | None, reason: str, call_unique_id: str | None,
                     now: datetime) -> CallbackOutcome:
    """Open a callback request for ``number`` (E.164), or merge into its open one.

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
            CallbackRequest.number == number, CallbackRequest.status == CallbackStatus.OPEN).with_for_update())
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
