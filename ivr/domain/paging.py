"""One page of a long list, the same for every list the domain serves (claims, tickets, checks)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from ivr.domain.errors import ValidationError

T = TypeVar("T")
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    page: int
    per_page: int
    total: int  # rows matching the filters, on all pages


def check_page(page: int, per_page: int) -> None:
    if page < 1:
        raise ValidationError(f"page must be 1 or more, not {page}", "invalid_page")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValidationError(f"per_page must be from 1 to {MAX_PER_PAGE}, not {per_page}", "invalid_per_page")


def within_days(column: InstrumentedAttribute[datetime], date_from: date | None,
                date_to: date | None) -> list[Any]:
    """Conditions for a timestamp on or after ``date_from`` and on or before ``date_to`` (UTC days)."""
    if date_from and date_to and date_from > date_to:
        raise ValidationError(f"from {date_from} is after to {date_to}", "invalid_date_range")
    conditions = []
    if date_from is not None:
        conditions.append(column >= datetime.combine(date_from, time(), timezone.utc))
    if date_to is not None:
        conditions.append(column < datetime.combine(date_to + timedelta(days=1), time(), timezone.utc))
    return conditions


def fetch_page(session: Session, query: Select[Any], page: int, per_page: int,
               view: Callable[[Any], T]) -> Page[T]:
    """Run ``query`` (already filtered and ordered) for one page, with the total count."""
    check_page(page, per_page)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = session.scalars(query.limit(per_page).offset((page - 1) * per_page)).all()
    return Page(items=[view(row) for row in rows], page=page, per_page=per_page, total=total)
