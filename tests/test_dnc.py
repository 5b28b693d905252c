"""Do-not-call: opt-outs last at least dnc_min_months; an import refuses a bad file with line and reason."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ivr.domain import dnc
from ivr.domain.book_import import BookFileError
from ivr.domain.dnc import DncSource
from ivr.db.session import session_scope
from ivr.domain.errors import ValidationError
from ivr.testing.small_book import SmallBook

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)


def test_an_opt_out_lasts_six_months_by_default_and_cannot_be_shorter(database_url: str) -> None:
    entry = dnc.opt_out("138 0013 8001", None, DncSource.IVR_KEY_9, NOW, actor="test")

    assert entry.number == "+8613800138001"
    assert entry.until == datetime(2027, 5, 20, 2, 0, tzinfo=timezone.utc)
    with pytest.raises(ValidationError, match="at least 6 months"):
        dnc.opt_out("13800138002", None, DncSource.AGENT, NOW, until=NOW + timedelta(days=180), actor="test")


def test_a_number_is_blocked_while_its_opt_out_lasts_then_free_again(database_url: str) -> None:
    dnc.opt_out("13800138001", None, DncSource.AGENT, NOW, "asked by phone", actor="test")

    with session_scope() as session:
        during = dnc.blocked(session, "+8613800138001", None, NOW + timedelta(days=180))
        after = dnc.blocked(session, "+8613800138001", None, datetime(2027, 5, 21, tzinfo=timezone.utc))
        other = dnc.blocked(session, "+8613800138002", None, NOW)
    assert (during, after, other) == (True, False, False)
    assert [e.reason for e in dnc.list_dnc(NOW)] == ["asked by phone"]
    assert dnc.list_dnc(datetime(2027, 6, 1, tzinfo=timezone.utc)) == []
    assert len(dnc.list_dnc(datetime(2027, 6, 1, tzinfo=timezone.utc), include_ended=True)) == 1


def test_an_opt_out_by_a_known_customer_blocks_every_number_of_theirs(small_book: SmallBook) -> None:
    dnc.opt_out("13800138001", small_book.customer_id, DncSource.IVR_KEY_9, NOW, actor="test")

    with session_scope() as session:
        assert dnc.blocked(session, "+861012345678", small_book.customer_id, NOW)


def test_months_are_added_by_the_calendar() -> None:
    assert dnc.add_months(datetime(2026, 8, 31, tzinfo=timezone.utc), 6) == datetime(2027, 2, 28, tzinfo=timezone.utc)
    assert dnc.add_months(datetime(2026, 12, 15, tzinfo=timezone.utc), 6) == datetime(2027, 6, 15, tzinfo=timezone.utc)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dnc.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_import_adds_every_number_normalised(database_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "number,reason,until\n138 0013 8001,complaint,\n010-12345678,,2028-01-31\n")

    report = dnc.import_dnc(path, NOW, actor="test")

    assert (report.added, report.problems, report.written) == (2, [], True)
    entries = {e.number: e for e in dnc.list_dnc(NOW)}
    assert set(entries) == {"+8613800138001", "+861012345678"}
    assert entries["+861012345678"].until.date().isoformat() == "2028-01-31"
    assert entries["+8613800138001"].source is DncSource.IMPORT


def test_a_bad_row_names_its_line_and_reason_and_nothing_is_added(database_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "number,until\n13800138001,\nnot a number,\n13800138002,2027-01-01\n13800138001,\n")

    report = dnc.import_dnc(path, NOW, actor="test")

    assert not report.written and report.added == 0 and dnc.list_dnc(NOW) == []
    assert [(p.line, p.reason.split(":")[0]) for p in report.problems] == [
        (3, "number 'not a number'"), (4, "an opt-out lasts at least 6 months (until 2027-05-20 or later)"),
        (5, "number '+8613800138001' repeats line 2")]
    assert str(report.problems[0]).startswith(f"{path}:3: ")


def test_skip_invalid_adds_the_good_rows(database_url: str, tmp_path: Path) -> None:
    report = dnc.import_dnc(write(tmp_path, "number\n13800138001\n12\n"), NOW, skip_invalid=True, actor="test")

    assert report.written and report.added == 1 and [p.line for p in report.problems] == [3]


def test_a_file_without_a_number_column_is_refused(database_url: str, tmp_path: Path) -> None:
    with pytest.raises(BookFileError, match="missing columns: number"):
        dnc.import_dnc(write(tmp_path, "phone\n13800138001\n"), NOW, actor="test")
