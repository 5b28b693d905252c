"""The audit trail: who changed which claim, complaint, do-not-call entry or recording, and how.

Each change appends one row to ``audit_log`` in the same transaction as the
change itself, so there is never a change without its row, nor a row without
its change. The rows form a hash chain: a row's ``hash`` is SHA-256 over the
previous row's hash and the row's canonical form, and ``seq`` counts up by
one. The database refuses UPDATE and DELETE on the table (triggers of
revision 0013); someone who gets past them (the table's owner, a superuser,
the SQLite file's owner) leaves evidence that ``verify`` finds: a row whose
content no longer matches its hash (altered), a gap in ``seq`` (deleted), or
a row whose ``prev_hash`` is not its predecessor's hash (reordered or
rewritten). Rewriting the chain from some row to the end goes unseen unless
the head printed by ``ivr audit verify`` is kept somewhere else and compared.

Appending is serialised so the chain has one order under concurrent writers:
on PostgreSQL by a transaction-scoped advisory lock (held to commit, per
schema); SQLite lets one writer at a time anyway, and ``seq`` being the
primary key turns any lost race into an error rather than a fork. Append as
the transaction's last step: the lock is held until it commits.

Details hold what changed (new status, field values, the call's unique id)
and are stored as canonical JSON; they carry the same customer data as the
rows they describe and are kept as long.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ivr.db.models import AuditEntry, utcnow
from ivr.db.session import session_scope

__all__ = ["CLAIM", "COMPLAINT", "DNC", "GENESIS", "IVR_ACTOR", "RECORDING", "SYSTEM_ACTOR", "AuditView",
           "Change", "ChainProblem", "ChainReport", "cli_actor", "list_entries", "record", "record_many",
           "user_actor", "verify_chain"]

CLAIM, COMPLAINT, DNC, RECORDING = "claim", "complaint", "dnc", "recording"
IVR_ACTOR = "ivr"  # the IVR, during a call (the call's unique id is in the details)
SYSTEM_ACTOR = "system"  # beat and the workers: collecting, purging, flagging overdue tickets
GENESIS = "0" * 64  # the prev_hash of the first row
_LOCK_KEY = 0x4155_4449  # "AUDI": the advisory lock's first key; the second is the schema's hash
_VERIFY_BATCH = 2000


def user_actor(user_id: int) -> str:
    """A console user as an actor (their id: usernames can be renamed)."""
    return f"user:{user_id}"


def cli_actor() -> str:
    """The operator running an ``ivr`` command, by their login name."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "cli"


@dataclass(frozen=True)
class Change:
    """One change to record: ``entity_kind`` (CLAIM, ...) ``entity_id`` was ``action``-ed by ``actor``."""

    actor: str
    entity_kind: str
    entity_id: str
    action: str
    details: Mapping[str, object] = field(default_factory=dict)


def record(session: Session, actor: str, entity_kind: str, entity_id: str | int, action: str,
           details: Mapping[str, object] | None = None, now: datetime | None = None) -> None:
    """Append one change in ``session``'s transaction (call it last: the chain's lock lasts to commit)."""
    record_many(session, [Change(actor, entity_kind, str(entity_id), action, details or {})], now)


def record_many(session: Session, changes: Sequence[Change], now: datetime | None = None) -> None:
    """Append several changes in order with one lock and one multi-row INSERT (an imported list)."""
    if not changes:
        return
    at = (now or utcnow()).astimezone(timezone.utc)
    session.flush()  # the change itself is written (and its row locks taken) before the chain's lock
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key, hashtext(current_schema()))"), {"key": _LOCK_KEY})
    head = session.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)).first()
    seq, prev_hash = (head.seq, head.hash) if head is not None else (0, GENESIS)
    rows = []
    for change in changes:
        seq += 1
        row = {"seq": seq, "at": at, "actor": change.actor[:100], "entity_kind": change.entity_kind,
               "entity_id": change.entity_id[:64], "action": change.action, "details": canonical(change.details),
               "prev_hash": prev_hash}
        prev_hash = row["hash"] = chain_hash(row)
        rows.append(row)
    session.execute(AuditEntry.__table__.insert(), rows)


def canonical(value: object) -> str:
    """JSON with sorted keys and no spaces: the one text a row's hash is taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain)


def _plain(value: object) -> object:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} cannot go into an audit row's details")


def chain_hash(row: Mapping[str, object]) -> str:
    """SHA-256 (hex) over the previous hash and the row's canonical form (every column but ``hash``)."""
    at = row["at"]
    assert isinstance(at, datetime)
    body = {"seq": row["seq"], "at": at.astimezone(timezone.utc).isoformat(timespec="microseconds"),
            "actor": row["actor"], "entity_kind": row["entity_kind"], "entity_id": row["entity_id"],
            "action": row["action"], "details": row["details"]}
    return hashlib.sha256((str(row["prev_hash"]) + canonical(body)).encode()).hexdigest()


# --- reading and verifying -------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditView:
    seq: int
    at: datetime
    actor: str
    entity_kind: str
    entity_id: str
    action: str
    details: str  # canonical JSON


def list_entries(entity_kind: str | None = None, entity_id: str | None = None, actor: str | None = None,
                 limit: int = 100) -> list[AuditView]:
    """The latest ``limit`` rows matching the filters, in chain order (oldest first)."""
    query = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit)
    if entity_kind is not None:
        query = query.where(AuditEntry.entity_kind == entity_kind)
    if entity_id is not None:
        query = query.where(AuditEntry.entity_id == entity_id)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    with session_scope() as session:
        rows = [AuditView(r.seq, r.at, r.actor, r.entity_kind, r.entity_id, r.action, r.details)
                for r in session.scalars(query)]
    return rows[::-1]


@dataclass(frozen=True)
class ChainProblem:
    seq: int  # the first bad row (for a deletion: the first missing seq)
    reason: str  # altered, deleted or reordered
    message: str


@dataclass(frozen=True)
class ChainReport:
    checked: int
    head_seq: int  # 0: empty
    head_hash: str  # keep it elsewhere to detect a rewritten tail later
    problem: ChainProblem | None  # None: intact


def verify_chain() -> ChainReport:
    """Walk the chain from the first row; stop at the first row that breaks it."""
    checked, expected_seq, prev_hash = 0, 1, GENESIS
    for row in _rows_in_order():
        problem = _problem(row, expected_seq, prev_hash)
        if problem is not None:
            return ChainReport(checked, expected_seq - 1, prev_hash, problem)
        checked, expected_seq, prev_hash = checked + 1, row.seq + 1, row.hash
    return ChainReport(checked, expected_seq - 1, prev_hash, None)


def _problem(row: AuditEntry, expected_seq: int, prev_hash: str) -> ChainProblem | None:
    stored = {column: getattr(row, column) for column in
              ("seq", "at", "actor", "entity_kind", "entity_id", "action", "details", "prev_hash")}
    if chain_hash(stored) != row.hash:
        return ChainProblem(row.seq, "altered", f"row {row.seq} does not match its hash: its content was changed")
    if row.seq != expected_seq:
        gap = f"row {expected_seq}" if row.seq == expected_seq + 1 else f"rows {expected_seq}..{row.seq - 1}"
        return ChainProblem(expected_seq, "deleted", f"{gap} missing: the chain jumps from {expected_seq - 1} "
                                                     f"to {row.seq}")
    if row.prev_hash != prev_hash:
        return ChainProblem(row.seq, "reordered", f"row {row.seq} does not follow row {row.seq - 1} "
                                                  f"(its prev_hash is not that row's hash): rows moved or rewritten")
    return None


def _rows_in_order() -> Iterator[AuditEntry]:
    """Every row by ``seq``, fetched in batches (the log grows without end)."""
    after = 0
    while True:
        with session_scope() as session:
            batch = list(session.scalars(select(AuditEntry).where(AuditEntry.seq > after)
                                         .order_by(AuditEntry.seq).limit(_VERIFY_BATCH)))
        yield from batch
        if len(batch) < _VERIFY_BATCH:
            return
        after = batch[-1].seq
