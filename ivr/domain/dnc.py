"""Do-not-call: numbers (and customers) no campaign may call, each for at least ``dnc_min_months``.

A customer who presses 9, an agent and an imported list all put a number on
it. Rows are never deleted: a number is blocked while any of its rows lasts,
and a customer known by an opt-out is blocked on every number they have.
Campaigns check it when they select and again just before each dial
(ivr/domain/campaigns.py).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timezone
from functools import partial
from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ivr.config import get_settings
from ivr.db.models import DncSource, DoNotCall
from ivr.db.session import session_scope
from ivr.domain import audit
from ivr.domain.book_import import RowProblem, _FileKind, read_book_file
from ivr.domain.errors import ValidationError
from ivr.domain.phones import InvalidPhoneNumber, normalise_phone

__all__ = ["DncEntry", "DncImportReport", "DncSource", "add_months", "blocked", "earliest_end", "end_of_day",
           "import_dnc", "list_dnc", "opt_out"]

_REASON_LENGTH = 200


@dataclass(frozen=True)
class DncEntry:
    number: str  # E.164
    customer_id: int | None
    source: DncSource
    reason: str
    created_at: datetime
    until: datetime


@dataclass(frozen=True)
class DncRow:
    """One line of a do-not-call file: ``number`` (any written form), ``reason``, ``until`` (optional)."""

    number: str
    reason: str
    until: date | None


@dataclass(frozen=True)
class DncImportReport:
    added: int
    problems: list[RowProblem]
    written: bool  # False when bad rows stopped the import


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` later; the 31st becomes the month's last day."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def earliest_end(now: datetime) -> datetime:
    """The soonest an opt-out made at ``now`` may end."""
    return add_months(now, get_settings().dnc_min_months)


def opt_out(number: str, customer_id: int | None, source: DncSource, now: datetime, reason: str = "",
            until: datetime | None = None, *, actor: str) -> DncEntry:
    """Put ``number`` (any written form) on the list from ``now``, effective at once, on ``actor``'s word.

    ``until`` defaults to ``dnc_min_months`` from now; an earlier end is refused.
    """
    entry = _entry(_e164(number), customer_id, source, reason, now, until or earliest_end(now))
    with session_scope() as session:
        _add_audited(session, [entry], actor, now)
    return entry


def blocked(session: Session, number: str, customer_id: int | None, now: datetime) -> bool:
    """Whether a campaign may not call ``number`` (E.164) of ``customer_id`` at ``now``."""
    who = DoNotCall.number == number
    if customer_id is not None:
        who = or_(who, DoNotCall.customer_id == customer_id)
    return session.scalar(select(DoNotCall.id).where(who, DoNotCall.until > now).limit(1)) is not None


def list_dnc(now: datetime, include_ended: bool = False) -> list[DncEntry]:
    """The list, newest first; only the entries still in force unless ``include_ended``."""
    query = select(DoNotCall).order_by(DoNotCall.created_at.desc(), DoNotCall.id.desc())
    if not include_ended:
        query = query.where(DoNotCall.until > now)
    with session_scope() as session:
        return [DncEntry(row.number, row.customer_id, row.source, row.reason, row.created_at, row.until)
                for row in session.scalars(query)]


def import_dnc(path: Path, now: datetime, skip_invalid: bool = False, *, actor: str) -> DncImportReport:
    """Add every number of a CSV file (columns ``number``, optional ``reason`` and ``until``).

    A bad row is reported as ``file:line: reason``; any bad row adds nothing
    unless ``skip_invalid``. Raises BookFileError for a file that cannot be read.
    """
    kind = _FileKind("number", ("number",), ("reason", "until"),
                     partial(_parse_row, country_code=get_settings().country_code, now=now))
    parsed = read_book_file(path, kind)
    if parsed.problems and not skip_invalid:
        return DncImportReport(0, parsed.problems, written=False)
    entries = [_entry(row.number, None, DncSource.IMPORT, row.reason, now, _row_end(row, now))
               for row in parsed.good_rows()]
    with session_scope() as session:
        _add_audited(session, entries, actor, now)
    return DncImportReport(len(entries), parsed.problems, written=True)


def _add_audited(session: Session, entries: list[DncEntry], actor: str, now: datetime) -> None:
    """The entries, each with its audit row (under the new row's id), in one transaction."""
    rows = [DoNotCall(**asdict(entry)) for entry in entries]
    session.add_all(rows)
    session.flush()
    audit.record_many(session, [audit.Change(actor, audit.DNC, str(row.id), "added", asdict(entry))
                                for row, entry in zip(rows, entries, strict=True)], now)


def _parse_row(raw: Mapping[str, str], country_code: str, now: datetime) -> DncRow:
    try:
        number = normalise_phone(raw["number"], country_code).e164
    except InvalidPhoneNumber as error:
        raise ValueError(f"number {raw['number']!r}: {error}") from None
    row = DncRow(number, raw.get("reason", ""), _until(raw.get("until", "")))
    problem = _problem(row.reason, _row_end(row, now), now)
    if problem:
        raise ValueError(problem)
    return row


def _until(text: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"until {text!r} is not a date (YYYY-MM-DD)") from None


def end_of_day(day: date) -> datetime:
    """An opt-out ``until`` a date lasts to the end of that day (UTC)."""
    return datetime.combine(day, time.max, tzinfo=timezone.utc)


def _row_end(row: DncRow, now: datetime) -> datetime:
    """A row without ``until`` gets the shortest opt-out."""
    return earliest_end(now) if row.until is None else end_of_day(row.until)


def _entry(number: str, customer_id: int | None, source: DncSource, reason: str, now: datetime,
           until: datetime) -> DncEntry:
    problem = _problem(reason, until, now)
    if problem:
        raise ValidationError(problem, "invalid_dnc_entry")
    return DncEntry(number, customer_id, source, reason, now, until)


def _problem(reason: str, until: datetime, now: datetime) -> str | None:
    """What is wrong with an opt-out made at ``now``, or None."""
    if until < earliest_end(now):
        return (f"an opt-out lasts at least {get_settings().dnc_min_months} months "
                f"(until {earliest_end(now):%Y-%m-%d} or later)")
    if len(reason) > _REASON_LENGTH:
        return f"the reason is longer than {_REASON_LENGTH} characters"
    return None


def _e164(number: str) -> str:
    try:
        return normalise_phone(number, get_settings().country_code).e164
    except InvalidPhoneNumber as error:
        raise ValidationError(str(error), "invalid_phone_number") from None
