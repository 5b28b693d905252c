"""Outbound premium-reminder campaigns: definitions, selection, attempts and the dial-time rules.

The rules (docs/campaigns.md) are checked when a list is planned and again
by ``dial_decision`` immediately before each dial, since a premium may be
paid, a number opted out or the window closed in between. Exactly-once is the
database's job: an attempt's key (campaign, policy, cycle, attempt_no) is
unique and committed before any dial, and ``begin_attempt`` moves it from
planned to dialing with one conditional UPDATE, so of two workers only one
ever dials it. Nothing here knows Celery or AMI: the dialer calls these.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ivr.config import get_settings
from ivr.db.models import (
    AgentState,
    AttemptStatus,
    Campaign,
    CampaignAttempt,
    CampaignState,
    Customer,
    CustomerPhone,
    DoNotCall,
    PaymentReconciliation,
    PhoneKind,
    Policy,
    PolicyStatus,
    ProductLine,
    QueueCall,
    QueueOutcome,
    SalesAgent,
)
from ivr.db.session import insert_all_if_absent, insert_if_absent, session_scope
from ivr.domain import agent_states
from ivr.domain.dnc import blocked
from ivr.domain.errors import InvalidTransition, NotFound, ValidationError
from ivr.domain.routing import load_holidays, route
from ivr.domain.values import without_control_characters

__all__ = ["AttemptCallFacts", "AttemptStatus", "CampaignFigures", "CampaignSpec", "CampaignState", "CampaignView",
           "DialAction", "DialDecision", "PlanCounts", "ProductLine", "RecordedResult", "Target",
           "abandoned_call", "agent_free_for", "attempt_call_facts", "begin_attempt", "campaign_by_name",
           "campaign_figures", "create_campaign",
           "dial_decision", "get_campaign", "list_campaigns", "pause_campaign", "plan_attempts", "record_result",
           "remind_later", "report_paid", "retry_after", "select_targets", "skip_attempt", "start_campaign",
           "stop_campaign", "update_campaign"]

# No campaign calls outside these local hours, whatever a campaign or a setting says.
EARLIEST_CALL, LATEST_CALL = time(9, 0), time(21, 0)
PHONE_ORDER = (PhoneKind.MOBILE, PhoneKind.HOME, PhoneKind.WORK)  # the mobile first
RESULTS = frozenset(AttemptStatus) - {AttemptStatus.PLANNED, AttemptStatus.SKIPPED, AttemptStatus.DIALING}
REACHED = (AttemptStatus.ANSWERED, AttemptStatus.CUSTOMER_HUNG_UP)  # a person answered
MESSAGE_DEADLINE_MS = 2000  # who is calling and why, within 2 s of answer; later is an abandoned call
TALK_STALE_AFTER = timedelta(hours=4)  # an agent's queue call with no end seen after this no longer keeps them busy
NOT_DIALLED = (AttemptStatus.PLANNED, AttemptStatus.SKIPPED)
# Retried results and the first wait before the retry; it doubles with every attempt.
RETRY_BASE = {AttemptStatus.BUSY: timedelta(hours=1), AttemptStatus.NO_ANSWER: timedelta(hours=2),
              AttemptStatus.MACHINE: timedelta(hours=2), AttemptStatus.CONGESTION: timedelta(minutes=30)}
KEYS = frozenset("0123456789*#")
KEY_AGENT, KEY_REMIND_LATER, KEY_STOP_CALLING = "1", "2", "9"  # key 3 (already paid): report_paid
_WINDOW = re.compile(r"^(\d\d:\d\d)-(\d\d:\d\d)$")
_MAX_DAYS = 366
_SEARCH_DAYS = 400  # a calling day is looked for this far ahead (holidays)
_TRANSITIONS = {"start": ((CampaignState.DRAFT, CampaignState.PAUSED), CampaignState.RUNNING),
                "pause": ((CampaignState.RUNNING,), CampaignState.PAUSED),
                "stop": ((CampaignState.DRAFT, CampaignState.RUNNING, CampaignState.PAUSED), CampaignState.STOPPED)}


@dataclass(frozen=True)
class CampaignSpec:
    """What a campaign manager chooses; None takes the ``campaign_*`` setting."""

    name: str
    message: str
    due_within_days: int | None = None  # in-force policies whose premium falls due within N days
    include_grace: bool = False  # policies in their grace period
    lapsing_within_days: int | None = None  # grace policies that lapse within N days
    product_lines: tuple[ProductLine, ...] = ()  # empty: every line
    branches: tuple[str, ...] = ()  # sales agents' branches; empty: every branch
    window: str | None = None  # "HH:MM-HH:MM", local
    max_attempts: int | None = None
    min_gap_hours: int | None = None
    max_channels: int | None = None
    calls_per_second: float | None = None
    detect_machines: bool = False  # listen for an answering machine before speaking


@dataclass(frozen=True)
class CampaignView:
    id: int
    name: str
    message: str
    due_within_days: int | None
    include_grace: bool
    lapsing_within_days: int | None
    product_lines: tuple[ProductLine, ...]
    branches: tuple[str, ...]
    window_start: time
    window_end: time
    max_attempts: int
    min_gap_hours: int
    max_channels: int
    calls_per_second: float
    detect_machines: bool
    state: CampaignState
    created_by: str
    created_at: datetime
    started_at: datetime | None
    paused_at: datetime | None
    stopped_at: datetime | None
    last_planned_at: datetime | None = None  # when its policies were last selected


@dataclass(frozen=True)
class Target:
    """A policy to remind, for one due date (the cycle), at the number to call."""

    policy_id: int
    policy_no: str
    customer_id: int
    cycle: date
    number: str  # E.164
    premium: Decimal


@dataclass(frozen=True)
class PlanCounts:
    selected: int  # targets matching now
    planned: int  # first attempts created by this run
    already_planned: int  # targets that had their first attempt already


class DialAction(str, enum.Enum):
    GO = "go"  # dial now (after begin_attempt)
    SKIP = "skip"  # never dial this attempt (reason)
    WAIT = "wait"  # not before wait_until
    HOLD = "hold"  # the campaign is not running: leave it planned


@dataclass(frozen=True)
class DialDecision:
    action: DialAction
    reason: str = ""
    wait_until: datetime | None = None


@dataclass(frozen=True)
class RecordedResult:
    attempt_id: int
    status: AttemptStatus
    retry_attempt_id: int | None  # the next attempt planned for a busy or unanswered call
    retry_not_before: datetime | None


@dataclass(frozen=True)
class AttemptCallFacts:
    """What the reminder call needs about an attempt: whom we called, in which language, for what."""

    attempt_id: int
    customer_id: int
    language: str
    birth_year: int  # asked for before any policy detail is spoken
    policy_id: int
    policy_no: str
    number: str  # E.164, as dialled
    cycle: date  # the due date being reminded
    amount: Decimal
    zone: ZoneInfo  # where the customer lives: "remind me later" is said in their local day
    detect_machines: bool = False  # the campaign listens for an answering machine first


@dataclass(frozen=True)
class CampaignFigures:
    """Progress and outcomes for the campaign page; rates are 0.0 before there is anything to divide."""

    targets: int  # policy cycles planned (their first attempts)
    attempts: int  # rows, retries included
    by_status: dict[str, int] = field(default_factory=dict)
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    dialled: int = 0
    reached: int = 0  # policy cycles where a person answered
    contact_rate: float = 0.0  # reached / targets
    agent_requests: int = 0  # key 1
    remind_later: int = 0  # key 2: promises to pay, called again later
    already_paid: int = 0  # payment reports of this campaign's calls
    opt_outs: int = 0  # key 9
    abandoned: int = 0  # answered calls abandoned (``abandoned_call``): message late or never, or no agent free
    abandoned_rate: float = 0.0  # abandoned / answered calls
    answered_calls: int = 0  # calls a person answered (answered or customer_hung_up), retries included
    late_messages: int = 0  # answered calls whose message began more than 2 s after answer, or never
    no_agent_free: int = 0  # answered calls that wanted a person when none was free (a callback was booked)


# --- campaigns -----------------------------------------------------------------------------------


def create_campaign(spec: CampaignSpec, created_by: str, now: datetime) -> CampaignView:
    """A new campaign in ``draft``; its name must be new."""
    values = _columns(spec)
    with session_scope() as session:
        campaign = Campaign(**values, state=CampaignState.DRAFT, created_by=created_by[:64],
                            created_at=now, updated_at=now)
        session.add(campaign)
        _flush_named(session, spec.name)
        return _view(campaign)


def update_campaign(campaign_id: int, spec: CampaignSpec, now: datetime) -> CampaignView:
    """Replace a campaign's definition; a stopped campaign cannot change."""
    values = _columns(spec)
    with session_scope() as session:
        campaign = _campaign(session, campaign_id, lock=True)
        if campaign.state is CampaignState.STOPPED:
            raise InvalidTransition(f"campaign {campaign.name!r} is stopped; it cannot change")
        for name, value in values.items():
            setattr(campaign, name, value)
        campaign.updated_at = now
        _flush_named(session, spec.name)
        return _view(campaign)


def start_campaign(campaign_id: int, now: datetime) -> CampaignView:
    return _transition(campaign_id, "start", now)


def pause_campaign(campaign_id: int, now: datetime) -> CampaignView:
    return _transition(campaign_id, "pause", now)


def stop_campaign(campaign_id: int, now: datetime) -> CampaignView:
    """Stop for good: its planned attempts are never dialled (``dial_decision`` skips them)."""
    return _transition(campaign_id, "stop", now)


def get_campaign(campaign_id: int) -> CampaignView:
    with session_scope() as session:
        return _view(_campaign(session, campaign_id))


def campaign_by_name(name: str) -> CampaignView:
    with session_scope() as session:
        campaign = session.scalar(select(Campaign).where(Campaign.name == name))
        if campaign is None:
            raise NotFound(f"no campaign named {name!r}", "campaign_not_found")
        return _view(campaign)


def list_campaigns() -> list[CampaignView]:
    with session_scope() as session:
        return [_view(c) for c in session.scalars(select(Campaign).order_by(Campaign.created_at, Campaign.id))]


def _transition(campaign_id: int, move: str, now: datetime) -> CampaignView:
    allowed, target = _TRANSITIONS[move]
    with session_scope() as session:
        campaign = _campaign(session, campaign_id, lock=True)
        if campaign.state not in allowed:
            raise InvalidTransition(f"campaign {campaign.name!r} is {campaign.state.value}; it cannot {move}")
        campaign.state = target
        campaign.updated_at = now
        if target is CampaignState.RUNNING:
            campaign.started_at = campaign.started_at or now
        elif target is CampaignState.PAUSED:
            campaign.paused_at = now
        else:
            campaign.stopped_at = now
        return _view(campaign)


def _campaign(session: Session, campaign_id: int, lock: bool = False) -> Campaign:
    query = select(Campaign).where(Campaign.id == campaign_id)
    campaign = session.scalar(query.with_for_update() if lock else query)
    if campaign is None:
        raise NotFound(f"no campaign {campaign_id}", "campaign_not_found")
    return campaign


def _flush_named(session: Session, name: str) -> None:
    try:
        session.flush()
    except IntegrityError:
        raise ValidationError(f"there is already a campaign named {name!r}", "campaign_name_taken") from None


def _columns(spec: CampaignSpec) -> dict[str, object]:
    """The campaign's columns from a spec, checked, with the settings' defaults filled in."""
    settings = get_settings()
    start, end = parse_window(spec.window or settings.campaign_window)
    _check_selection(spec)
    return {"name": _text(spec.name, "name", 100), "message": _text(spec.message, "message", 2000),
            "due_within_days": spec.due_within_days, "include_grace": spec.include_grace,
            "lapsing_within_days": spec.lapsing_within_days,
            "product_lines": ",".join(line.value for line in spec.product_lines),
            "branches": ",".join(_branches(spec.branches)),
            "window_start": f"{start:%H:%M}", "window_end": f"{end:%H:%M}",
            "max_attempts": _bounded(spec.max_attempts, settings.campaign_max_attempts, "max_attempts", 1, 10),
            "min_gap_hours": _bounded(spec.min_gap_hours, settings.campaign_min_gap_hours, "min_gap_hours", 1, 168),
            "max_channels": _bounded(spec.max_channels, settings.campaign_max_channels, "max_channels", 1, 1000),
            "calls_per_second": _rate(spec.calls_per_second, settings.campaign_calls_per_second),
            "detect_machines": bool(spec.detect_machines)}


def parse_window(text: str) -> tuple[time, time]:
    """``"09:00-20:00"``: local start and end; refused when any of it falls within 21:00-09:00."""
    match = _WINDOW.match(text.strip())
    try:
        start, end = (time.fromisoformat(match[1]), time.fromisoformat(match[2])) if match else (None, None)
    except ValueError:
        start = end = None
    if start is None or end is None or end <= start:
        raise ValidationError(f"calling window {text!r} is not HH:MM-HH:MM, start before end", "invalid_window")
    if start < EARLIEST_CALL or end > LATEST_CALL:
        raise ValidationError(f"calling window {text!r} reaches into 21:00-09:00, when no one may be called",
                              "window_outside_hours")
    return start, end


def _check_selection(spec: CampaignSpec) -> None:
    if spec.due_within_days is None and spec.lapsing_within_days is None and not spec.include_grace:
        raise ValidationError("choose whom to call: premiums due within N days, the grace period, "
                              "or lapsing within N days", "no_selection")
    for name in ("due_within_days", "lapsing_within_days"):
        days = getattr(spec, name)
        if days is not None and not 0 <= days <= _MAX_DAYS:
            raise ValidationError(f"{name} must be 0 to {_MAX_DAYS}, not {days}", "invalid_selection")


def _text(value: str, name: str, max_length: int) -> str:
    value = value.strip()
    if not value or len(value) > max_length:
        raise ValidationError(f"the campaign's {name} must have 1 to {max_length} characters", f"invalid_{name}")
    return without_control_characters(value, f"the campaign's {name}", f"invalid_{name}")


def _branches(branches: Sequence[str]) -> list[str]:
    cleaned = [branch.strip() for branch in branches if branch.strip()]
    if any("," in branch for branch in cleaned):
        raise ValidationError("a branch name cannot hold a comma", "invalid_branch")
    return cleaned


def _bounded(value: int | None, default: int, name: str, low: int, high: int) -> int:
    chosen = default if value is None else value
    if not low <= chosen <= high:
        raise ValidationError(f"{name} must be {low} to {high}, not {chosen}", f"invalid_{name}")
    return chosen


def _rate(value: float | None, default: float) -> float:
    chosen = default if value is None else value
    if not 0 < chosen <= 100:
        raise ValidationError(f"calls_per_second must be above 0 and at most 100, not {chosen}",
                              "invalid_calls_per_second")
    return chosen


def _view(campaign: Campaign) -> CampaignView:
    values = {f.name: getattr(campaign, f.name) for f in fields(CampaignView)
              if f.name not in ("product_lines", "branches", "window_start", "window_end")}
    return CampaignView(**values,
                        product_lines=tuple(ProductLine(v) for v in campaign.product_lines.split(",") if v),
                        branches=tuple(b for b in campaign.branches.split(",") if b),
                        window_start=time.fromisoformat(campaign.window_start),
                        window_end=time.fromisoformat(campaign.window_end))


# --- selection and planning ----------------------------------------------------------------------


def select_targets(campaign_id: int, now: datetime) -> list[Target]:
    """The policies the campaign would remind now, each at its holder's first number not on do-not-call.

    Premium payable and unpaid for the cycle (its due date), not terminated,
    not reported paid for the cycle, matching the due window, lines and
    branches. ``now`` gives the local day and the do-not-call list's state.
    """
    with session_scope() as session:
        return _targets(session, _campaign(session, campaign_id), now)


def _targets(session: Session, campaign: Campaign, now: datetime,
             *more: ColumnElement[bool]) -> list[Target]:
    """``select_targets`` in a session, narrowed by ``more`` conditions on Policy."""
    matching = [*_selection(campaign, now), *more]
    policies = session.execute(select(Policy.id, Policy.policy_no, Policy.holder_id, Policy.next_due_date,
                                      Policy.premium).where(*matching).order_by(Policy.id)).all()
    numbers = _callable_numbers(session, select(Policy.holder_id).where(*matching), now) if policies else {}
    return [Target(row.id, row.policy_no, row.holder_id, row.next_due_date, numbers[row.holder_id],
                   Decimal(row.premium)) for row in policies if row.holder_id in numbers]


def plan_attempts(campaign_id: int, now: datetime) -> PlanCounts:
    """Create the first attempt of every target that has none: running it twice creates nothing new.

    Only targets without a first attempt for their cycle are read (one
    anti-join on the attempt key), so a run that finds nothing new reads
    nothing: the periodic planner stays cheap on a large book. A stopped
    campaign plans nothing.
    """
    with session_scope() as session:
        campaign = _campaign(session, campaign_id)
        if campaign.state is CampaignState.STOPPED:
            raise InvalidTransition(f"campaign {campaign_id} is stopped; it plans no more calls")
        has_first = exists().where(CampaignAttempt.campaign_id == campaign_id, CampaignAttempt.policy_id == Policy.id,
                                   CampaignAttempt.cycle == Policy.next_due_date, CampaignAttempt.attempt_no == 1)
        targets = _targets(session, campaign, now, ~has_first)
        already = session.scalar(select(func.count()).select_from(Policy).where(
            *_selection(campaign, now), has_first)) or 0
        campaign.last_planned_at = now
        before = _first_attempts(session, campaign_id)
        insert_all_if_absent(session, CampaignAttempt, [
            {"campaign_id": campaign_id, "policy_id": target.policy_id, "customer_id": target.customer_id,
             "cycle": target.cycle, "attempt_no": 1, "number": target.number, "status": AttemptStatus.PLANNED,
             "skip_reason": "", "planned_at": now, "not_before": now} for target in targets])
        planned = _first_attempts(session, campaign_id) - before
    return PlanCounts(planned + already, planned, already)


def _selection(campaign: Campaign, now: datetime) -> list[ColumnElement[bool]]:
    """What the campaign selects now, as SQL conditions on Policy: it matches, and was not reported paid."""
    reported = exists().where(PaymentReconciliation.policy_id == Policy.id,
                              PaymentReconciliation.cycle == Policy.next_due_date)
    return [*_matching(campaign, now.astimezone(get_settings().zone()).date()), ~reported]


def _matching(campaign: Campaign, today: date) -> list[ColumnElement[bool]]:
    """The campaign's selection as SQL conditions on Policy: used to select, and to re-check before a dial."""
    grace = timedelta(days=get_settings().grace_period_days)
    groups: list[ColumnElement[bool]] = []
    if campaign.due_within_days is not None:
        groups.append(and_(Policy.status == PolicyStatus.IN_FORCE, Policy.next_due_date.between(
            today, today + timedelta(days=campaign.due_within_days))))
    if campaign.include_grace:
        groups.append(Policy.status == PolicyStatus.GRACE)
    if campaign.lapsing_within_days is not None:  # a grace policy lapses grace_period_days after its due date
        groups.append(and_(Policy.status == PolicyStatus.GRACE, Policy.next_due_date.between(
            today - grace, today + timedelta(days=campaign.lapsing_within_days) - grace)))
    conditions = [or_(*groups), Policy.next_due_date.is_not(None)]
    view = _view(campaign)
    if view.product_lines:
        conditions.append(Policy.product_line.in_(view.product_lines))
    if view.branches:
        conditions.append(Policy.sales_agent_id.in_(select(SalesAgent.id).where(SalesAgent.branch.in_(view.branches))))
    return conditions


def _callable_numbers(session: Session, holders: Select[tuple[int]], now: datetime) -> dict[int, str]:
    """Each holder's first number (mobile, home, work) that do-not-call allows; none: left out.

    ``holders`` is a subquery, never a list of ids: a large book's targets would pass PostgreSQL's
    65,535 bind parameters (and SQLite's 32,766) in one ``IN``.
    """
    active = DoNotCall.until > now
    blocked_customers = set(session.scalars(select(DoNotCall.customer_id).where(active)))
    blocked_numbers = set(session.scalars(select(DoNotCall.number).where(active)))
    phones = session.execute(select(CustomerPhone.customer_id, CustomerPhone.number, CustomerPhone.kind)
                             .where(CustomerPhone.customer_id.in_(holders), CustomerPhone.extension == "")
                             .order_by(CustomerPhone.id)).all()
    chosen: dict[int, str] = {}
    for phone in sorted(phones, key=lambda p: PHONE_ORDER.index(p.kind)):
        if phone.customer_id not in blocked_customers and phone.number not in blocked_numbers:
            chosen.setdefault(phone.customer_id, phone.number)
    return chosen


def _first_attempts(session: Session, campaign_id: int) -> int:
    return session.scalar(select(func.count()).select_from(CampaignAttempt).where(
        CampaignAttempt.campaign_id == campaign_id, CampaignAttempt.attempt_no == 1)) or 0


# --- dial time -----------------------------------------------------------------------------------


def dial_decision(attempt_id: int, now: datetime) -> DialDecision:
    """Whether to dial a planned attempt now: every rule, re-read from the database. Writes nothing."""
    with session_scope() as session:
        attempt = _attempt(session, attempt_id)
        campaign = _campaign(session, attempt.campaign_id)
        return (_state_decision(attempt, campaign) or _policy_decision(session, attempt, campaign, now)
                or _number_decision(session, attempt, now) or _timing_decision(session, attempt, campaign, now))


def _state_decision(attempt: CampaignAttempt, campaign: Campaign) -> DialDecision | None:
    if attempt.status is not AttemptStatus.PLANNED:
        return DialDecision(DialAction.SKIP, f"already_{attempt.status.value}")
    if campaign.state is CampaignState.STOPPED:
        return DialDecision(DialAction.SKIP, "campaign_stopped")
    if campaign.state is not CampaignState.RUNNING:
        return DialDecision(DialAction.HOLD, f"campaign_{campaign.state.value}")
    return None


def _policy_decision(session: Session, attempt: CampaignAttempt, campaign: Campaign,
                     now: datetime) -> DialDecision | None:
    """Paid since selection, terminated, reported paid, or no longer what the campaign selects."""
    policy = session.get(Policy, attempt.policy_id)
    assert policy is not None  # a foreign key
    reported = session.scalar(select(PaymentReconciliation.id).where(
        PaymentReconciliation.policy_id == policy.id, PaymentReconciliation.cycle == attempt.cycle))
    today = now.astimezone(get_settings().zone()).date()
    still_matching = session.scalar(select(Policy.id).where(
        Policy.id == policy.id, Policy.next_due_date == attempt.cycle, *_matching(campaign, today)))
    for reason, applies in (("terminated", policy.status is PolicyStatus.TERMINATED),
                            ("paid", policy.next_due_date is None or policy.next_due_date > attempt.cycle),
                            ("reported_paid", reported is not None),
                            ("no_longer_matching", still_matching is None)):
        if applies:
            return DialDecision(DialAction.SKIP, reason)
    return None


def _number_decision(session: Session, attempt: CampaignAttempt, now: datetime) -> DialDecision | None:
    if blocked(session, attempt.number, attempt.customer_id, now):
        return DialDecision(DialAction.SKIP, "do_not_call")
    invalid = session.scalar(select(CampaignAttempt.id).where(
        CampaignAttempt.number == attempt.number, CampaignAttempt.status == AttemptStatus.INVALID_NUMBER).limit(1))
    return None if invalid is None else DialDecision(DialAction.SKIP, "invalid_number")


def _timing_decision(session: Session, attempt: CampaignAttempt, campaign: Campaign,
                     now: datetime) -> DialDecision:
    """At most max_attempts calls per policy and cycle (any campaign), min_gap_hours apart, in the window."""
    # Not this attempt itself: a racing worker's claim of it, committed after our first read, makes it
    # a lost race (begin_attempt), not a call too soon after itself.
    dialled = session.execute(select(func.count(), func.max(CampaignAttempt.started_at)).where(
        CampaignAttempt.policy_id == attempt.policy_id, CampaignAttempt.cycle == attempt.cycle,
        CampaignAttempt.id != attempt.id, CampaignAttempt.status.not_in(NOT_DIALLED))).one()
    if dialled[0] >= campaign.max_attempts:
        return DialDecision(DialAction.SKIP, "max_attempts")
    earliest = max(now, attempt.not_before)
    if dialled[1] is not None:
        earliest = max(earliest, dialled[1] + timedelta(hours=campaign.min_gap_hours))
    settings = get_settings()
    moment = next_call_time(earliest, time.fromisoformat(campaign.window_start),
                            time.fromisoformat(campaign.window_end), load_holidays(settings.holidays),
                            customer_zone(session, attempt.customer_id))
    if moment <= now:
        return DialDecision(DialAction.GO)
    return DialDecision(DialAction.WAIT, "window" if moment > earliest else "too_soon", moment)


def customer_zone(session: Session, customer_id: int) -> ZoneInfo:
    """Where the customer lives (``customers.time_zone``), or the contact centre's zone: the calling
    window is the customer's local time."""
    return get_settings().zone_of(session.scalar(select(Customer.time_zone).where(Customer.id == customer_id)) or "")


def next_call_time(earliest: datetime, start: time, end: time, holidays: frozenset[date],
                   zone: ZoneInfo) -> datetime:
    """The first moment from ``earliest`` inside the local window on a day that is not a holiday.

    The window is narrowed to 09:00-21:00 whatever it says (a row written by
    hand, an old setting).
    """
    start, end = max(start, EARLIEST_CALL), min(end, LATEST_CALL)
    local = earliest.astimezone(zone)
    for offset in range(_SEARCH_DAYS):
        day = local.date() + timedelta(days=offset)
        opens, closes = datetime.combine(day, start, tzinfo=zone), datetime.combine(day, end, tzinfo=zone)
        candidate = max(opens, local)
        if day not in holidays and candidate < closes:
            return candidate.astimezone(timezone.utc)
    raise ValidationError(f"no calling day within {_SEARCH_DAYS} days of {earliest:%Y-%m-%d}", "no_calling_day")


def skip_attempt(attempt_id: int, reason: str, now: datetime) -> bool:
    """Close a planned attempt as skipped with ``reason``; False when it was no longer planned."""
    return _move(attempt_id, AttemptStatus.PLANNED, status=AttemptStatus.SKIPPED, skip_reason=reason[:32],
                 ended_at=now)


def begin_attempt(attempt_id: int, channel_id: str, now: datetime, dialled_via: str = "") -> bool:
    """Claim a planned attempt for dialing, as ``channel_id`` (the AMI ChannelId of the originate)
    through the telephony server named ``dialled_via`` (the one to ask about the channel later).

    One conditional UPDATE, committed before the originate: of two workers
    beginning the same attempt exactly one gets True; the other must not dial.
    """
    if not channel_id or len(channel_id) > 64:
        raise ValidationError(f"channel id {channel_id!r} must have 1 to 64 characters", "invalid_channel_id")
    if len(dialled_via) > 128:
        raise ValidationError(f"server name {dialled_via[:40]!r}... is longer than 128 characters", "invalid_dialled_via")
    try:
        return _move(attempt_id, AttemptStatus.PLANNED, status=AttemptStatus.DIALING, channel_id=channel_id,
                     started_at=now, dialled_via=dialled_via)
    except IntegrityError:
        raise ValidationError(f"channel id {channel_id!r} belongs to another attempt", "channel_id_taken") from None


def record_result(attempt_id: int, status: AttemptStatus, key: str | None, now: datetime,
                  answered_at: datetime | None = None, message_started_at: datetime | None = None,
                  message_delay_ms: int | None = None, agent_unavailable: bool = False) -> RecordedResult:
    """How a dialled attempt ended, and the key pressed; a busy or unanswered call plans its retry.

    Only an attempt in ``dialing`` takes a result, once: a second result for it is InvalidTransition.
    An answered call also says when its message began, how long after answer (Asterisk's clock; None
    when it could not be read) and whether the customer wanted a person when none was free: the
    abandoned measure (``abandoned_call``).
    """
    if status not in RESULTS:
        raise ValidationError(f"{status.value} is not how a call ends", "invalid_attempt_result")
    if key is not None and key not in KEYS:
        raise ValidationError(f"key {key!r} is not a phone key", "invalid_key")
    with session_scope() as session:
        attempt = _attempt(session, attempt_id)
        started = attempt.started_at or now
        if not _move_in(session, attempt_id, AttemptStatus.DIALING, status=status, key_pressed=key,
                        answered_at=answered_at or attempt.answered_at, ended_at=now,
                        duration_seconds=max(0, int((now - started).total_seconds())),
                        message_started_at=message_started_at, message_delay_ms=message_delay_ms,
                        agent_unavailable=agent_unavailable):
            raise InvalidTransition(f"attempt {attempt_id} is {attempt.status.value}, not dialing")
        retry = _plan_retry(session, attempt, status, now)
    return RecordedResult(attempt_id, status, retry.id if retry else None, retry.not_before if retry else None)


def retry_after(status: AttemptStatus, attempt_no: int) -> timedelta | None:
    """How long after attempt ``attempt_no`` ended with ``status`` to try again; None: never.

    Busy, no answer, an answering machine and congestion are retried, waiting
    twice as long each time; an invalid number or an answered call are not.
    """
    base = RETRY_BASE.get(status)
    return None if base is None else base * 2 ** (attempt_no - 1)


def _plan_retry(session: Session, attempt: CampaignAttempt, status: AttemptStatus,
                now: datetime) -> CampaignAttempt | None:
    campaign = _campaign(session, attempt.campaign_id)
    delay = retry_after(status, attempt.attempt_no)
    if delay is None or attempt.attempt_no >= campaign.max_attempts:
        return None
    return _plan_next(session, attempt, now + max(delay, timedelta(hours=campaign.min_gap_hours)), now)


def remind_later(attempt_id: int, wanted: datetime, now: datetime) -> datetime | None:
    """"Remind me later" (key 2): plan the next attempt for ``wanted``, or the first calling moment after it.

    The moment is inside the campaign's window on a day that is not a holiday
    and at least ``min_gap_hours`` from now; None when the attempt was the
    campaign's last (``max_attempts``): no call is planned.
    """
    settings = get_settings()
    with session_scope() as session:
        attempt = _attempt(session, attempt_id)
        campaign = _campaign(session, attempt.campaign_id)
        if attempt.attempt_no >= campaign.max_attempts:
            return None
        moment = next_call_time(max(wanted, now + timedelta(hours=campaign.min_gap_hours)),
                                time.fromisoformat(campaign.window_start), time.fromisoformat(campaign.window_end),
                                load_holidays(settings.holidays), customer_zone(session, attempt.customer_id))
        return _plan_next(session, attempt, moment, now).not_before


def _plan_next(session: Session, attempt: CampaignAttempt, not_before: datetime, now: datetime) -> CampaignAttempt:
    """The attempt after ``attempt``, planned for ``not_before`` unless it exists already."""
    key = {"campaign_id": attempt.campaign_id, "policy_id": attempt.policy_id, "cycle": attempt.cycle,
           "attempt_no": attempt.attempt_no + 1}
    insert_if_absent(session, CampaignAttempt, **key, customer_id=attempt.customer_id, number=attempt.number,
                     status=AttemptStatus.PLANNED, skip_reason="", planned_at=now, not_before=not_before)
    planned = session.scalar(select(CampaignAttempt).filter_by(**key))
    assert planned is not None  # inserted, or there already
    return planned


def attempt_call_facts(attempt_id: int) -> AttemptCallFacts:
    """The customer, policy and cycle of an attempt, for the reminder call (ivr/flows/renewal_reminder.py)."""
    with session_scope() as session:
        attempt = _attempt(session, attempt_id)
        policy = session.get(Policy, attempt.policy_id)
        assert policy is not None  # a foreign key
        return AttemptCallFacts(attempt_id=attempt.id, customer_id=attempt.customer_id,
                                language=policy.holder.language, birth_year=policy.holder.birth_date.year,
                                policy_id=policy.id, policy_no=policy.policy_no, number=attempt.number,
                                cycle=attempt.cycle, amount=Decimal(policy.premium),
                                zone=get_settings().zone_of(policy.holder.time_zone),
                                detect_machines=_campaign(session, attempt.campaign_id).detect_machines)


def report_paid(policy_id: int, cycle: date, attempt_id: int | None, now: datetime) -> bool:
    """Flag "I have already paid" for reconciliation: the policy is not called again this cycle.

    True when newly flagged; a second report for the same cycle changes nothing.
    """
    with session_scope() as session:
        if session.get(Policy, policy_id) is None:
            raise NotFound(f"no policy {policy_id}", "policy_not_found")
        before = session.scalar(select(PaymentReconciliation.id).where(
            PaymentReconciliation.policy_id == policy_id, PaymentReconciliation.cycle == cycle))
        insert_if_absent(session, PaymentReconciliation, policy_id=policy_id, cycle=cycle, attempt_id=attempt_id,
                         reported_at=now)
    return before is None


def _move(attempt_id: int, expected: AttemptStatus, **values: object) -> bool:
    with session_scope() as session:
        return _move_in(session, attempt_id, expected, **values)


def _move_in(session: Session, attempt_id: int, expected: AttemptStatus, **values: object) -> bool:
    """UPDATE the attempt WHERE it is still ``expected``; whether this call made the change."""
    changed = session.execute(update(CampaignAttempt)
                              .where(CampaignAttempt.id == attempt_id, CampaignAttempt.status == expected)
                              .values(**values).execution_options(synchronize_session=False)).rowcount
    return changed == 1


def _attempt(session: Session, attempt_id: int) -> CampaignAttempt:
    attempt = session.get(CampaignAttempt, attempt_id)
    if attempt is None:
        raise NotFound(f"no campaign attempt {attempt_id}", "attempt_not_found")
    return attempt


# --- agents for an answered call ------------------------------------------------------------------


def agent_free_for(customer_id: int | None, intent: str, now: datetime) -> bool:
    """Whether the queue routing would send this customer to has an agent free to take them now.

    From the database, as the switchboard keeps it (no AMI from a flow): agents logged in to that
    queue and not paused, less those talking on a queue call (answered, no end seen, for at most
    ``TALK_STALE_AFTER``), less the callers already waiting in it.
    """
    queue = route(customer_id, intent, now).queue
    ready = {agent.user_id for agent in agent_states.agents(on_duty_only=True)
             if agent.state is AgentState.AVAILABLE and queue in agent.queues}
    if not ready:
        return False
    with session_scope() as session:
        talking = set(session.scalars(select(QueueCall.agent_id).where(
            QueueCall.agent_id.in_(ready), QueueCall.outcome == QueueOutcome.ANSWERED,
            QueueCall.ended_at.is_(None), QueueCall.answered_at >= now - TALK_STALE_AFTER)))
        waiting = session.scalar(select(func.count()).select_from(QueueCall).where(
            QueueCall.queue == queue, QueueCall.outcome == QueueOutcome.WAITING)) or 0
    return len(ready - talking) > waiting


# --- figures -------------------------------------------------------------------------------------


def abandoned_call() -> ColumnElement[bool]:
    """The one definition of an abandoned campaign call, as SQL on ``campaign_attempts``.

    A person answered (``answered`` or ``customer_hung_up``) and either the message did not start
    within ``MESSAGE_DEADLINE_MS`` of answer (it began later on Asterisk's clock, or never: they hung
    up first, the flow never ran) or they wanted a person and none was free. A message that began
    but whose delay Asterisk could not give is not counted late (docs/campaigns.md).
    """
    return and_(CampaignAttempt.status.in_(REACHED),
                or_(_late_message(), CampaignAttempt.agent_unavailable.is_(True)))


def _late_message() -> ColumnElement[bool]:
    return or_(CampaignAttempt.message_started_at.is_(None),
               CampaignAttempt.message_delay_ms > MESSAGE_DEADLINE_MS)


def campaign_figures(campaign_id: int) -> CampaignFigures:
    """Progress, contact rate, keys chosen, already-paid reports, opt-outs and abandoned rate."""
    with session_scope() as session:
        _campaign(session, campaign_id)
        of_campaign = CampaignAttempt.campaign_id == campaign_id
        by_status = {status.value: count for status, count in session.execute(
            select(CampaignAttempt.status, func.count()).where(of_campaign).group_by(CampaignAttempt.status))}
        skipped = dict(session.execute(select(CampaignAttempt.skip_reason, func.count()).where(
            of_campaign, CampaignAttempt.status == AttemptStatus.SKIPPED).group_by(CampaignAttempt.skip_reason))
            .all())
        keys = dict(session.execute(select(CampaignAttempt.key_pressed, func.count()).where(
            of_campaign, CampaignAttempt.status.in_(REACHED)).group_by(CampaignAttempt.key_pressed)).all())
        reached = session.scalar(select(func.count()).select_from(
            select(CampaignAttempt.policy_id, CampaignAttempt.cycle).where(
                of_campaign, CampaignAttempt.status.in_(REACHED)).distinct().subquery())) or 0
        paid = session.scalar(select(func.count()).select_from(PaymentReconciliation).join(
            CampaignAttempt, CampaignAttempt.id == PaymentReconciliation.attempt_id).where(of_campaign)) or 0
        targets = _first_attempts(session, campaign_id)
        abandoned, late, no_agent = session.execute(select(
            _count_where(abandoned_call()), _count_where(_late_message()),
            _count_where(CampaignAttempt.agent_unavailable.is_(True)))
            .where(of_campaign, CampaignAttempt.status.in_(REACHED))).one()
    return _figures(targets, by_status, skipped, keys, reached, paid, (abandoned or 0, late or 0, no_agent or 0))


def _count_where(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _figures(targets: int, by_status: dict[str, int], skipped: dict[str, int], keys: dict[str | None, int],
             reached: int, paid: int, abandon: tuple[int, int, int]) -> CampaignFigures:
    answered = sum(by_status.get(status.value, 0) for status in REACHED)
    abandoned, late, no_agent = abandon
    return CampaignFigures(
        targets=targets, attempts=sum(by_status.values()), by_status=by_status, skipped_by_reason=skipped,
        dialled=sum(count for status, count in by_status.items() if status not in {s.value for s in NOT_DIALLED}),
        reached=reached, contact_rate=reached / targets if targets else 0.0,
        agent_requests=keys.get(KEY_AGENT, 0), remind_later=keys.get(KEY_REMIND_LATER, 0), already_paid=paid,
        opt_outs=keys.get(KEY_STOP_CALLING, 0), abandoned=abandoned,
        abandoned_rate=abandoned / answered if answered else 0.0, answered_calls=answered, late_messages=late,
        no_agent_free=no_agent)
