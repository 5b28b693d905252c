"""Which agent queue a caller waits in, at what priority, and whether the centre is open.

The decision is ours, not the dialplan's: the IVR knows the customer and what
they were doing. The dialplan maps the queue name through a fixed allow-list
(``[hotline-queue]`` in asterisk-conf/extensions.conf). Rules: docs/routing.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ivr.config import get_settings
from ivr.db.models import Customer, PaymentFrequency, Policy, Tier
from ivr.db.session import session_scope
from ivr.domain.policies import PAYABLE

# Routing names of the queues; the dialplan's [hotline-queue] maps each to an Asterisk queue.
GENERAL, VIP, CLAIMS, COMPLAINTS = "general", "vip", "claims", "complaints"
QUEUES = (GENERAL, VIP, CLAIMS, COMPLAINTS)
NORMAL_PRIORITY = 0

# Intents (CallState.intent) that have a queue of their own; any other waits in general or vip.
INTENT_QUEUES: Mapping[str, str] = {"claim": CLAIMS, "complaint": COMPLAINTS}

# Premiums a year per payment: a single premium is not a yearly relationship, so it counts 0.
PAYMENTS_A_YEAR: Mapping[PaymentFrequency, int] = {
    PaymentFrequency.MONTHLY: 12, PaymentFrequency.QUARTERLY: 4, PaymentFrequency.SEMI_ANNUAL: 2,
    PaymentFrequency.ANNUAL: 1, PaymentFrequency.SINGLE: 0}

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ROUND_THE_CLOCK = "mon-sun 00:00-24:00"
_MIDNIGHT_END = 24 * 60


class CalendarError(ValueError):
    """The ``opening_hours`` or ``holidays`` setting cannot be read; the message says where."""


@dataclass(frozen=True)
class Route:
    queue: str  # one of QUEUES
    priority: int  # Asterisk QUEUE_PRIO: higher is answered first
    reason: str  # why, for the call record and the logs: e.g. "claim+vip_tier"


@dataclass(frozen=True)
class Standing:
    """What routing needs to know of a customer."""

    tier: Tier
    annual_premium: Decimal  # of policies in force or in grace whose cover has not ended


def route(customer_id: int | None, intent: str, now: datetime) -> Route:
    """Where a caller who needs a person waits, from their record and what they were doing."""
    settings = get_settings()
    standing = None if customer_id is None else standing_of(customer_id, now.astimezone(settings.zone()).date())
    return decide(standing, intent, Decimal(settings.vip_annual_premium), settings.vip_priority)


def decide(standing: Standing | None, intent: str, vip_annual_premium: Decimal, vip_priority: int) -> Route:
    """The routing rules, without a database: the intent picks a specialist queue; being VIP
    raises the priority in it, or, without such an intent, picks the VIP queue."""
    vip_reason = _vip_reason(standing, vip_annual_premium)
    priority = vip_priority if vip_reason else NORMAL_PRIORITY
    specialist = INTENT_QUEUES.get(intent)
    if specialist is not None:
        return Route(specialist, priority, "+".join(filter(None, (intent, vip_reason))))
    if vip_reason:
        return Route(VIP, priority, vip_reason)
    return Route(GENERAL, NORMAL_PRIORITY, "unknown_caller" if standing is None else "standard")


def standing_of(customer_id: int, today: date) -> Standing | None:
    """The customer's tier and yearly premium; None when there is no such customer."""
    with session_scope() as session:
        tier = session.scalar(select(Customer.tier).where(Customer.id == customer_id))
        if tier is None:
            return None
        policies = session.execute(select(Policy.premium, Policy.payment_frequency, Policy.end_date).where(
            Policy.holder_id == customer_id, Policy.status.in_(PAYABLE))).all()
    return Standing(tier, annual_premium(
        (Decimal(premium), frequency) for premium, frequency, end in policies if end is None or end >= today))


def annual_premium(premiums: Iterable[tuple[Decimal, PaymentFrequency]]) -> Decimal:
    return sum((premium * PAYMENTS_A_YEAR[frequency] for premium, frequency in premiums), Decimal(0))


def _vip_reason(standing: Standing | None, vip_annual_premium: Decimal) -> str:
    if standing is None:
        return ""
    if standing.tier is Tier.VIP:
        return "vip_tier"
    return "vip_premium" if standing.annual_premium >= vip_annual_premium else ""


# --- opening hours -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpeningCalendar:
    """When people answer: minutes-of-day windows per weekday (0 = Monday), closed days, the zone."""

    windows: Mapping[int, tuple[tuple[int, int], ...]]
    holidays: frozenset[date]
    zone: ZoneInfo

    def is_open(self, now: datetime) -> bool:
        if now.tzinfo is None:
            raise ValueError(f"naive datetime {now!r}: pass an aware datetime")
        local = now.astimezone(self.zone)
        if local.date() in self.holidays:
            return False
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.windows.get(local.weekday(), ()))


def is_open(now: datetime) -> bool:
    """Whether agents answer at ``now``: the ``opening_hours``, ``holidays`` and ``timezone`` settings."""
    return centre_calendar().is_open(now)


def centre_calendar() -> OpeningCalendar:
    """The calendar from the settings, read afresh (a holidays file may change while we run)."""
    settings = get_settings()
    return OpeningCalendar(parse_opening_hours(settings.opening_hours), load_holidays(settings.holidays),
                           settings.zone())


_RULE = re.compile(r"^(?P<days>[a-z,\-]+)\s+(?P<spans>\d\d:\d\d-\d\d:\d\d(?:\s*,\s*\d\d:\d\d-\d\d:\d\d)*)$")


def parse_opening_hours(text: str) -> dict[int, tuple[tuple[int, int], ...]]:
    """``"mon-fri 08:00-20:00; sat 09:00-12:00,13:00-17:00"``: days (ranges or lists), then local
    times; the end is exclusive and may be ``24:00``. A span across midnight is written as two
    (``fri 22:00-24:00; sat 00:00-02:00``). An empty text means never open."""
    windows: dict[int, list[tuple[int, int]]] = {}
    for rule in filter(None, (part.strip().lower() for part in text.split(";"))):
        match = _RULE.match(rule)
        if match is None:
            raise CalendarError(f"opening_hours: cannot read {rule!r}; write e.g. 'mon-fri 08:00-20:00'")
        spans = [_span(span.strip(), rule) for span in match["spans"].split(",")]
        for day in _days(match["days"], rule):
            windows.setdefault(day, []).extend(spans)
    return {day: tuple(sorted(spans)) for day, spans in windows.items()}


def load_holidays(spec: str) -> frozenset[date]:
    """Closed days: comma-separated ``YYYY-MM-DD`` dates and paths of files holding such dates,
    one per line (``#`` starts a comment)."""
    days: set[date] = set()
    for item in filter(None, (part.strip() for part in spec.split(","))):
        if re.fullmatch(r"\d{4}-\d\d-\d\d", item):
            days.add(_date(item, "holidays"))
            continue
        path = Path(item)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise CalendarError(f"holidays: cannot read the file {item!r}: {exc}") from exc
        for number, line in enumerate(lines, 1):
            entry = line.split("#", 1)[0].strip()
            if entry:
                days.add(_date(entry, f"holidays file {item}, line {number}"))
    return frozenset(days)


def _days(text: str, rule: str) -> list[int]:
    chosen: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise CalendarError(f"opening_hours: unknown day in {rule!r}; days are {', '.join(DAYS)}")
        start, end = DAYS.index(first), DAYS.index(last or first)
        if end < start:
            raise CalendarError(f"opening_hours: {part!r} runs backwards in {rule!r}")
        chosen.extend(range(start, end + 1))
    return chosen


def _span(text: str, rule: str) -> tuple[int, int]:
    start_text, end_text = text.split("-")
    start, end = _minute(start_text, rule), _minute(end_text, rule)
    if end <= start:
        raise CalendarError(f"opening_hours: {text!r} ends before it starts in {rule!r} "
                            "(split a span across midnight into two days)")
    return start, end


def _minute(text: str, rule: str) -> int:
    if text == "24:00":
        return _MIDNIGHT_END
    try:
        moment = time.fromisoformat(text)
    except ValueError as exc:
        raise CalendarError(f"opening_hours: {text!r} is not a time in {rule!r}") from exc
    return moment.hour * 60 + moment.minute


def _date(text: str, where: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise CalendarError(f"{where}: {text!r} is not a YYYY-MM-DD date") from exc
