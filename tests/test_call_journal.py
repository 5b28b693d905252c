"""The call record's journal: buffered steps and row changes, written together, straight to the database."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text, update

from ivr.db.models import Call, Disposition, IvrEvent
from ivr.db.session import session_scope, write_direct
from ivr.domain.calls import EVENTS_PER_INSERT, CallJournal, NewCall
from ivr.testing.missing import missing
from ivr.testing.small_book import SmallBook


def _open(unique_id: str = "1700000000.1") -> CallJournal:
    return CallJournal.open(NewCall(unique_id, "PJSIP/trunk-0001", "hotline", "13800138000", "Zhang\n\"Wei\"",
                                    "95519", agi_server="agi-a"))


def _call(pk: int) -> Call:
    with session_scope() as session:
        call = session.get(Call, pk)
        assert call is not None
        session.expunge(call)
        return call


def _steps(pk: int) -> list[tuple[int, str, str, str]]:
    with session_scope() as session:
        return [tuple(row) for row in session.execute(
            select(IvrEvent.seq, IvrEvent.kind, IvrEvent.name, IvrEvent.value)
            .where(IvrEvent.call_id == pk).order_by(IvrEvent.seq))]


def test_a_call_record_opens_with_the_callers_text_kept_as_data(database_url: str) -> None:
    journal = _open()

    call = _call(journal.call_pk)
    assert (call.unique_id, call.ani, call.ani_e164, call.caller_name, call.agi_server) == (
        "1700000000.1", "13800138000", "+8613800138000", "Zhang\n\"Wei\"", "agi-a")
    assert call.disposition is Disposition.IN_PROGRESS and call.started_at is not None and not call.verified


def test_a_repeated_unique_id_gets_a_record_of_its_own(database_url: str) -> None:
    first, second = _open("dup.1"), _open("dup.1")

    assert first.call_pk != second.call_pk
    assert second.unique_id.startswith("dup.1#") and _call(second.call_pk).unique_id == second.unique_id


def test_steps_and_row_changes_wait_for_the_flush_then_are_written_together(small_book: SmallBook) -> None:
    journal = _open()
    journal.answered("en")
    journal.identified(small_book.customer_id)
    journal.event("identification", "ani", "recognised")
    journal.event("input", "birth_date", "********")
    journal.verified()

    assert _steps(journal.call_pk) == [] and _call(journal.call_pk).customer_id is None
    journal.flush()

    call = _call(journal.call_pk)
    assert (call.customer_id, call.verified, call.language) == (small_book.customer_id, True, "en")
    assert call.answered_at is not None
    assert _steps(journal.call_pk) == [(1, "identification", "ani", "recognised"),
                                       (2, "input", "birth_date", "********")]


def test_a_long_read_out_is_written_whole_and_in_order(database_url: str) -> None:
    journal = _open()
    count = EVENTS_PER_INSERT * 2 + 5
    for index in range(count):
        journal.event("prompt", f"p{index}", "x" * index)

    journal.close(Disposition.SELF_SERVED, policy_no="9900000001")

    steps = _steps(journal.call_pk)
    assert [seq for seq, *_ in steps] == list(range(1, count + 1))
    assert steps[-1] == (count, "prompt", f"p{count - 1}", "x" * (count - 1))
    call = _call(journal.call_pk)
    assert (call.disposition, call.policy_no) == (Disposition.SELF_SERVED, "9900000001")
    assert call.ended_at is not None


def test_only_the_first_outcome_closes_the_record(database_url: str) -> None:
    journal = _open()
    journal.close(Disposition.TRANSFERRED, "caller_pressed_0")
    journal.close(Disposition.ABANDONED_IN_IVR)

    call = _call(journal.call_pk)
    assert (call.disposition, call.transfer_reason) == (Disposition.TRANSFERRED, "caller_pressed_0")


def test_a_failed_write_leaves_nothing_half_written_and_the_pool_usable(database_url: str) -> None:
    journal = _open()
    journal.event("prompt", "welcome")
    journal.identified(999_999)  # no such customer: the foreign key refuses the row change

    with pytest.raises(Exception, match="(?i)foreign key"):
        journal.flush()

    assert _steps(journal.call_pk) == []  # the steps' INSERT was rolled back with the UPDATE
    [row] = write_direct([(update(Call).where(Call.id == journal.call_pk).values(language="zh")
                           .returning(Call.language), {})])
    assert row == ("zh",)


def test_a_flush_survives_its_pooled_connection_dying(database_url: str) -> None:
    """A database restart kills every pooled connection; the direct pool has no ping, so the write
    finds the dead connection itself and is run again, whole, on a fresh one."""
    if not database_url.startswith("postgresql"):
        missing("PostgreSQL", "IVR_TEST_DATABASE_URL is not set; SQLite has no server connection to kill")
    journal = _open()
    journal.event("prompt", "welcome")
    journal.answered("en")
    journal.flush()  # the pool now holds the connection that wrote
    with session_scope() as session:
        killed = session.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                      "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                                      "AND query LIKE '%INSERT INTO ivr_events%'")).all()
    assert killed and all(ok for (ok,) in killed)

    journal.event("input", "main_menu", "1")
    journal.verified()
    journal.flush()

    assert _steps(journal.call_pk) == [(1, "prompt", "welcome", ""), (2, "input", "main_menu", "1")]
    assert _call(journal.call_pk).verified

