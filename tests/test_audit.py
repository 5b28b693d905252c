"""The audit trail: every change to a claim, complaint or do-not-call entry leaves a row with its actor,
in a hash chain the database will not let anyone update or delete; tampering behind the triggers' back
(altered, deleted, reordered rows) is found by ``ivr audit verify``; concurrent writers keep one chain."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import Connection, text
from sqlalchemy.exc import DatabaseError

from ivr.cli import main
from ivr.db.models import ComplaintStatus, ComplaintSubject, IncidentType
from ivr.db.session import get_engine
from ivr.domain import audit, claims, complaints, dnc
from ivr.domain.dnc import DncSource
from ivr.testing.small_book import SmallBook

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=timezone.utc)


def _changes(kind: str | None = None) -> list[tuple[str, str, str, str]]:
    return [(e.actor, e.entity_kind, e.entity_id, e.action) for e in audit.list_entries(kind)]


def _complaint(n: int = 0) -> str:
    return complaints.open_complaint(ComplaintSubject.BILLING, None, None, f"1733300000.{n}", NOW).ticket_no


def test_each_change_to_a_claim_complaint_or_opt_out_is_audited_with_its_actor(small_book: SmallBook) -> None:
    claim_no = claims.open_claim(small_book.motor_policy, small_book.customer_id, "1733300000.1", NOW).claim_no
    claims.record_incident_type(claim_no, IncidentType.GLASS)
    claims.record_incident_date(claim_no, date(2026, 12, 3))
    claims.submit_claim(claim_no, NOW)
    ticket_no = _complaint()
    complaints.transition(ticket_no, ComplaintStatus.ASSIGNED, "lead.li", department="billing", now=NOW)
    dnc.opt_out("13800138001", None, DncSource.AGENT, NOW, "asked by phone", actor="cli:ops")

    assert _changes() == [
        ("ivr", "claim", claim_no, "opened"), ("ivr", "claim", claim_no, "incident_type"),
        ("ivr", "claim", claim_no, "incident_date"), ("ivr", "claim", claim_no, "submitted"),
        ("ivr", "complaint", ticket_no, "opened"), ("lead.li", "complaint", ticket_no, "transition"),
        ("cli:ops", "dnc", "1", "added")]
    details = [json.loads(e.details) for e in audit.list_entries()]
    assert details[0] == {"call": "1733300000.1", "policy_no": small_book.motor_policy}
    assert details[2]["incident_date"] == "2026-12-03" and details[3]["status"] == "reported"
    assert details[5] == {"from": "received", "to": "assigned", "department": "billing", "note": ""}
    assert details[6]["number"] == "+8613800138001" and details[6]["reason"] == "asked by phone"


def test_a_refused_change_leaves_no_audit_row(small_book: SmallBook) -> None:
    ticket_no = _complaint()
    with pytest.raises(complaints.InvalidTransition):
        complaints.transition(ticket_no, ComplaintStatus.CLOSED, "lead.li", now=NOW)

    assert [action for *_, action in _changes()] == ["opened"]


def test_flagging_overdue_tickets_audits_each_one_as_the_system(database_url: str) -> None:
    first, second = _complaint(1), _complaint(2)

    assert complaints.flag_overdue(NOW + timedelta(days=3)) == 2
    assert _changes()[-2:] == [("system", "complaint", first, "overdue"), ("system", "complaint", second, "overdue")]


@pytest.fixture
def chain(database_url: str) -> list[str]:
    """Five audited tickets, their chain intact."""
    tickets = [_complaint(n) for n in range(5)]
    assert audit.verify_chain().problem is None
    return tickets


def test_the_database_refuses_to_update_or_delete_an_audit_row(chain: list[str]) -> None:
    for statement in ("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2", "DELETE FROM audit_log WHERE seq = 2"):
        with pytest.raises(DatabaseError, match="append-only"), get_engine().begin() as connection:
            connection.execute(text(statement))

    assert [e.actor for e in audit.list_entries()] == ["ivr"] * 5


@contextmanager
def _behind_the_triggers() -> Iterator[Connection]:
    """As the table's owner could: the append-only triggers off for one transaction, then back on."""
    with get_engine().begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
            yield connection
            connection.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))
        else:
            triggers = connection.execute(text(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'")).scalars().all()
            for name in ("audit_log_no_update", "audit_log_no_delete"):
                connection.execute(text(f"DROP TRIGGER {name}"))
            yield connection
            for sql in triggers:
                connection.execute(text(sql))


def _verify() -> tuple[int, str]:
    result = CliRunner().invoke(main, ["audit", "verify"])
    return result.exit_code, result.output


def test_audit_verify_exits_0_on_an_intact_chain_and_prints_its_head(chain: list[str]) -> None:
    code, output = _verify()
    assert code == 0 and output == f"audit log intact: 5 rows, head 5 {audit.verify_chain().head_hash}\n"


def test_an_altered_row_is_found_and_named(chain: list[str]) -> None:
    with _behind_the_triggers() as connection:
        connection.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3"))

    problem = audit.verify_chain().problem
    code, output = _verify()

    assert problem is not None and (problem.seq, problem.reason) == (3, "altered")
    assert code == 1 and "audit log broken at row 3 (altered)" in output


def test_a_deleted_row_is_found_and_named(chain: list[str]) -> None:
    with _behind_the_triggers() as connection:
        connection.execute(text("DELETE FROM audit_log WHERE seq = 2"))

    problem = audit.verify_chain().problem
    code, output = _verify()

    assert problem is not None and (problem.seq, problem.reason) == (2, "deleted")
    assert code == 1 and "row 2 missing" in output


def test_rows_swapped_with_their_hashes_recomputed_are_found_as_reordered(chain: list[str]) -> None:
    """Someone who knows the hash swaps rows 2 and 3 and rehashes each: the links between them break."""
    with _behind_the_triggers() as connection:
        rows = {r.seq: dict(r._mapping) for r in connection.execute(text("SELECT * FROM audit_log WHERE seq IN (2, 3)"))}
        for seq, other in ((2, 3), (3, 2)):
            moved = {**rows[other], "seq": seq, "at": audit.list_entries()[other - 1].at}
            connection.execute(text("UPDATE audit_log SET entity_id = :entity_id, details = :details, "
                                    "prev_hash = :prev_hash, hash = :hash WHERE seq = :seq"),
                               {**moved, "hash": audit.chain_hash(moved)})

    problem = audit.verify_chain().problem

    assert problem is not None and (problem.seq, problem.reason) == (2, "reordered")


def _opt_out(n: int) -> str:
    return dnc.opt_out(f"1380013{n:04d}", None, DncSource.IVR_KEY_9, NOW, actor="ivr").number


def test_concurrent_writers_leave_one_unbroken_chain(database_url: str) -> None:
    """Eight callers opting out at once (on PostgreSQL in CI; nothing else serialises these inserts):
    every append in one order, none lost, none refused."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        numbers = list(pool.map(_opt_out, range(80)))

    report = audit.verify_chain()

    assert report.problem is None and report.checked == report.head_seq == 80
    assert sorted(json.loads(e.details)["number"] for e in audit.list_entries(limit=100)) == sorted(numbers)


def test_audit_list_filters_by_entity(chain: list[str]) -> None:
    dnc.opt_out("13800138001", None, DncSource.AGENT, NOW, actor="cli:ops")

    by_kind = CliRunner().invoke(main, ["audit", "list", "--entity", "dnc"])
    by_ticket = CliRunner().invoke(main, ["audit", "list", "--entity", "complaint", "--id", chain[1]])
    helped = CliRunner().invoke(main, ["audit", "list", "--help"])

    assert by_kind.exit_code == 0 and by_kind.output.count("\n") == 1 and "cli:ops" in by_kind.output
    assert by_ticket.output.count("\n") == 1 and chain[1] in by_ticket.output and chain[2] not in by_ticket.output
    assert "--entity" in helped.output and "--actor" in helped.output
