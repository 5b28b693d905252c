"""The call record: who called, what they did in the IVR, how the call ended.

A ``CallJournal`` writes in short transactions only, so a call that waits
minutes for a key holds no database connection, and a call that ends
abruptly still leaves every step it took up to its last wait.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update

from ivr.db.models import Call, Disposition, IvrEvent, utcnow
from ivr.config import get_settings
from ivr.db.session import get_engine, session_scope
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
    agi_server: str = ""  # the FastAGI server running the call (``agi_server_id``)


def _ani_key(ani: str) -> str:
    phone = parse_ani(ani, get_settings().country_code)
    return "" if phone is None else phone.e164


class CallJournal:
    """Append-only record of one call's path through the IVR.

    Steps are buffered in memory and written, with any change to the call row,
    in one short transaction by :meth:`flush`. Flows flush before every wait
    for the caller (``Conversation.ask``) and the record is flushed when it
    closes, so nothing the caller did is lost and no connection is held while
    they listen or key.
    """

    def __init__(self, call_pk: int, unique_id: str) -> None:
        self.call_pk = call_pk
        self.unique_id = unique_id
        self._seq = 0
        self._pending: list[dict[str, object]] = []
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
                       dnis=call.dnis[:64], agi_server=call.agi_server[:128])
            session.add(row)
            session.flush()
            return cls(row.id, row.unique_id)

    def event(self, kind: str, name: str = "", value: str = "") -> None:
        """Append one step: ``prompt``, ``input``, ``verification``, ``transfer`` ..."""
        self._seq += 1
        self._pending.append({"call_id": self.call_pk, "seq": self._seq, "at": utcnow(),
                              "kind": kind[:32], "name": name[:64], "value": value})

    def answered(self, language: str) -> None:
        self._write(answered_at=utcnow(), language=language)

    def set_language(self, language: str) -> None:
        self._write(language=language)

    def identified(self, customer_id: int) -> None:
        self._write(customer_id=customer_id)

    def verified(self) -> None:
        self._write(verified=True)

    def flush(self) -> None:
        """Write the buffered steps now (before the call waits for the caller)."""
        self._write()

    def close(self, disposition: Disposition, transfer_reason: str = "", policy_no: str = "") -> None:
        """End the record once, with the policy the call was about if any; later calls are ignored
        (the first outcome wins)."""
        if self.closed:
            return
        self._write(ended_at=utcnow(), disposition=disposition, transfer_reason=transfer_reason[:64],
                    policy_no=policy_no[:32])
        self.closed = True
        log.info("call record closed: %s %s", disposition.value, transfer_reason)

    def _write(self, **call_values: object) -> None:
        if not self._pending and not call_values:
            return
        with get_engine().begin() as connection:
            if self._pending:
                connection.execute(insert(IvrEvent), self._pending)
            if call_values:
                connection.execute(update(Call).where(Call.id == self.call_pk).values(**call_values))
        self._pending = []


def close_interrupted_calls(agi_server: str, running: Collection[int], opened_before: datetime) -> int:
    """Close as ``interrupted`` the open records of ``agi_server``'s calls that it no longer runs.

    A server killed mid-call, or one that could not write a call's end (the database was down),
    leaves records ``in_progress``. Only the server itself knows which of its calls still run
    (``running``: their record ids), so each server closes its own and never another's, whatever
    the number of servers sharing the database. Records opened after ``opened_before`` are left
    alone: their call may be starting now and not be in ``running`` yet.
    """
    if not agi_server:
        raise ValueError("close_interrupted_calls needs the server's id")
    with session_scope() as session:
        closed = session.execute(
            update(Call)
            .where(Call.agi_server == agi_server, Call.ended_at.is_(None),
                   Call.disposition == Disposition.IN_PROGRESS, Call.started_at < opened_before,
                   Call.id.not_in(list(running)))
            .values(ended_at=utcnow(), disposition=Disposition.INTERRUPTED)
            .execution_options(synchronize_session=False)).rowcount
    if closed:
        log.warning("closed %d call record(s) of %s as interrupted", closed, agi_server)
    return closed
