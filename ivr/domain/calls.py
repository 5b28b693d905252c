"""The call record: who called, what they did in the IVR, how the call ended.

A ``CallJournal`` writes each step in its own short transaction, so a call
that waits minutes for a key holds no database connection, and a call that
ends abruptly still leaves every step it took.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select, update

from ivr.db.models import Call, Disposition, IvrEvent, utcnow
from ivr.db.session import session_scope
from ivr.config import get_settings
from ivr.domain.phones import parse_ani

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewCall:
    """The facts known when a call reaches the IVR (all caller text untrusted)."""

    unique_id: str
    channel: str
    flow: str
    ani: str
    caller_name: str
    dnis: str


def _ani_key(ani: str) -> str:
    phone = parse_ani(ani, get_settings().country_code)
    return "" if phone is None else phone.e164


class CallJournal:
    """Append-only record of one call's path through the IVR."""

    def __init__(self, call_pk: int, unique_id: str) -> None:
        self.call_pk = call_pk
        self.unique_id = unique_id
        self._seq = 0
        self.closed = False

    @classmethod
    def open(cls, call: NewCall) -> "CallJournal":
        """Create the call record; a repeated unique id gets a suffix, never a crash."""
        with session_scope() as session:
            unique_id = call.unique_id or "unknown"
            taken = session.scalar(select(Call.id).where(Call.unique_id == unique_id))
            if taken is not None:
                unique_id = f"{unique_id}#{utcnow().timestamp():.6f}"
            row = Call(unique_id=unique_id[:64], channel=call.channel[:200], flow=call.flow[:64],
                       ani=call.ani[:64], ani_e164=_ani_key(call.ani), caller_name=call.caller_name,
                       dnis=call.dnis[:64])
            session.add(row)
            session.flush()
            return cls(row.id, row.unique_id)

    def event(self, kind: str, name: str = "", value: str = "") -> None:
        """Append one step: ``prompt``, ``input``, ``verification``, ``transfer`` ..."""
        self._seq += 1
        with session_scope() as session:
            session.add(IvrEvent(call_id=self.call_pk, seq=self._seq, kind=kind[:32],
                                 name=name[:64], value=value))

    def answered(self, language: str) -> None:
        self._update(answered_at=utcnow(), language=language)

    def set_language(self, language: str) -> None:
        self._update(language=language)

    def identified(self, customer_id: int) -> None:
        self._update(customer_id=customer_id)

    def verified(self) -> None:
        self._update(verified=True)

    def close(self, disposition: Disposition, transfer_reason: str = "") -> None:
        """End the record once; later calls are ignored (the first outcome wins)."""
        if self.closed:
            return
        self._update(ended_at=utcnow(), disposition=disposition, transfer_reason=transfer_reason[:64])
        self.closed = True
        log.info("call record closed: %s %s", disposition.value, transfer_reason)

    def _update(self, **values: object) -> None:
        with session_scope() as session:
            session.execute(update(Call).where(Call.id == self.call_pk).values(**values))

