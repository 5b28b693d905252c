"""The call record: who called, what they did in the IVR, how the call ended.

A ``CallJournal`` writes in short transactions only, so a call that waits
minutes for a key holds no database connection, and a call that ends
abruptly still leaves every step it took up to its last wait.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Executable, Insert, Update, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql

from ivr.db.models import Call, Disposition, IvrEvent, utcnow
from ivr.config import get_settings
from ivr.db.session import Write, database_dialect, dialect_insert, session_scope, write_direct
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

    Steps, and changes to the call row (answered, identified, verified ...),
    are buffered in memory and written together in one short transaction by
    :meth:`flush`. Flows flush before every wait for the caller
    (``Conversation.ask``) and the record is flushed when it closes, so nothing
    the caller did is lost and no connection is held while they listen or key.
    These are the writes of every call, so they go straight to the database
    (``write_direct``: statements compiled once, no ORM, no ping), measured in
    docs/benchmarks.md ("FastAGI load").
    """

    def __init__(self, call_pk: int, unique_id: str) -> None:
        self.call_pk = call_pk
        self.unique_id = unique_id
        self._seq = 0
        self._pending: list[Step] = []
        self._changes: dict[str, object] = {}
        self.closed = False

    @classmethod
    def open(cls, call: NewCall) -> "CallJournal":
        """Create the call record; a repeated unique id gets a suffix, never a crash."""
        values = {"channel": call.channel[:200], "flow": call.flow[:64], "ani": call.ani[:64],
                  "ani_e164": _ani_key(call.ani), "caller_name": call.caller_name, "dnis": call.dnis[:64],
                  "language": "", "started_at": utcnow(), "disposition": Disposition.IN_PROGRESS,
                  "verified": False, "transfer_reason": "", "policy_no": "", "agi_server": call.agi_server[:128]}
        unique_id = (call.unique_id or "unknown")[:64]
        for candidate in (unique_id, f"{unique_id[:40]}#{utcnow().timestamp():.6f}"):
            [row] = write_direct([(_insert_call(database_dialect()), values | {"unique_id": candidate})])
            if row is not None:
                return cls(row[0], candidate)
        raise RuntimeError(f"call unique id {unique_id!r} is taken twice over")

    def event(self, kind: str, name: str = "", value: str = "") -> None:
        """Append one step: ``prompt``, ``input``, ``verification``, ``transfer`` ..."""
        self._seq += 1
        self._pending.append((self._seq, utcnow(), kind[:32], name[:64], value))

    def answered(self, language: str) -> None:
        self._changes.update(answered_at=utcnow(), language=language)

    def set_language(self, language: str) -> None:
        self._changes["language"] = language

    def identified(self, customer_id: int) -> None:
        self._changes["customer_id"] = customer_id

    def verified(self) -> None:
        self._changes["verified"] = True

    def flush(self) -> None:
        """Write the buffered steps and call-row changes now (before the call waits for the caller)."""
        writes = _flush_writes(database_dialect(), self.call_pk, self._pending, self._changes)
        if writes:
            write_direct(writes)
        self._pending, self._changes = [], {}

    def close(self, disposition: Disposition, transfer_reason: str = "", policy_no: str = "") -> None:
        """End the record once, with the policy the call was about if any; later calls are ignored
        (the first outcome wins)."""
        if self.closed:
            return
        self._changes.update(ended_at=utcnow(), disposition=disposition, transfer_reason=transfer_reason[:64],
                             policy_no=policy_no[:32])
        self.flush()
        self.closed = True
        log.info("call record closed: %s %s", disposition.value, transfer_reason)


#: Steps written by one INSERT on SQLite (a call flushes a handful at a time; a long menu read-out more).
EVENTS_PER_INSERT = 32
_EVENT_COLUMNS = ("seq", "at", "kind", "name", "value")
Step = tuple[object, ...]


def _flush_writes(dialect: str, call_pk: int, steps: list[Step], changes: dict[str, object]) -> list[Write]:
    """A flush as statements, all in one transaction.

    PostgreSQL: one statement whatever the number of steps (their columns as
    arrays through ``unnest()``, the call-row change in the same statement), so
    one round trip and a statement text psycopg converts once, not per count of
    rows. SQLite, in process: multi-row INSERTs and an UPDATE.
    """
    columns = tuple(sorted(changes))
    if dialect == "postgresql":
        if not steps and not changes:
            return []
        arrays = {f"{name}s": list(values) for name, values in zip(_EVENT_COLUMNS, zip(*steps))} if steps else {}
        return [(_postgresql_flush(bool(steps), columns), {"call_pk": call_pk} | changes | arrays)]
    writes = [_event_rows(call_pk, steps[at:at + EVENTS_PER_INSERT]) for at in range(0, len(steps), EVENTS_PER_INSERT)]
    if changes:
        writes.append((_update_call(columns), {"call_pk": call_pk} | changes))
    return writes


def _event_rows(call_pk: int, rows: list[Step]) -> Write:
    params: dict[str, object] = {"call_pk": call_pk}
    for index, row in enumerate(rows):
        params.update({f"{column}_{index}": value for column, value in zip(_EVENT_COLUMNS, row)})
    return _insert_events(len(rows)), params


@functools.cache
def _insert_events(count: int) -> Insert:
    """SQLite: ``count`` steps in one multi-row INSERT."""
    columns = IvrEvent.__table__.c
    call_id = bindparam("call_pk", type_=columns.call_id.type)
    return insert(IvrEvent).values([
        {"call_id": call_id} | {name: bindparam(f"{name}_{index}", type_=columns[name].type) for name in _EVENT_COLUMNS}
        for index in range(count)])


@functools.cache
def _postgresql_flush(with_steps: bool, columns: tuple[str, ...]) -> Executable:
    """PostgreSQL: the steps' INSERT, the call row's UPDATE, or the UPDATE with the INSERT as its CTE."""
    if not columns:
        return _postgresql_insert_steps()
    change = _update_call(columns)
    return change.add_cte(_postgresql_insert_steps().cte("steps")) if with_steps else change


@functools.cache
def _postgresql_insert_steps() -> Insert:
    columns = IvrEvent.__table__.c
    arrays = [bindparam(f"{name}s", type_=postgresql.ARRAY(columns[name].type)) for name in _EVENT_COLUMNS]
    rows = func.unnest(*arrays).table_valued(*_EVENT_COLUMNS).render_derived()
    return insert(IvrEvent).from_select(
        ["call_id", *_EVENT_COLUMNS],
        select(bindparam("call_pk", type_=columns.call_id.type), *(rows.c[name] for name in _EVENT_COLUMNS)))


@functools.cache
def _update_call(columns: tuple[str, ...]) -> Update:
    return update(Call).where(Call.id == bindparam("call_pk")).values({name: bindparam(name) for name in columns})


@functools.cache
def _insert_call(dialect: str) -> Insert:
    """The new call's row, or nothing when its unique id is taken (ON CONFLICT DO NOTHING RETURNING)."""
    return (dialect_insert(dialect)(Call).values(unique_id=bindparam("unique_id"))
            .on_conflict_do_nothing(index_elements=["unique_id"]).returning(Call.id))


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
