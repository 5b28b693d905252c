"""The customer-centric data model: one customer, many phones and policies, one view.

Every schema change here needs an Alembic revision in ``ivr/db/migrations``.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, timezone
from decimal import Decimal

from sqlalchemy import (
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def aware_utc(moment: datetime | None) -> datetime | None:
    """A ``DateTime(timezone=True)`` column's value as aware UTC: SQLite gives them back naive."""
    return moment.replace(tzinfo=timezone.utc) if moment is not None and moment.tzinfo is None else moment


class Base(DeclarativeBase):
    pass


class Gender(str, enum.Enum):
    MALE = "male"
    FEMALE = "female"
    UNKNOWN = "unknown"


class Tier(str, enum.Enum):
    STANDARD = "standard"
    VIP = "vip"


class PhoneKind(str, enum.Enum):
    MOBILE = "mobile"
    HOME = "home"
    WORK = "work"


class ProductLine(str, enum.Enum):
    LIFE = "life"
    HEALTH = "health"
    MOTOR = "motor"


class PolicyStatus(str, enum.Enum):
    IN_FORCE = "in_force"
    GRACE = "grace"
    LAPSED = "lapsed"
    TERMINATED = "terminated"


class PaymentFrequency(str, enum.Enum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    SEMI_ANNUAL = "semi_annual"
    ANNUAL = "annual"
    SINGLE = "single"


class AgentStatus(str, enum.Enum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"


class Disposition(str, enum.Enum):
    IN_PROGRESS = "in_progress"
    SELF_SERVED = "self_served"
    TRANSFERRED = "transferred"
    ABANDONED_IN_IVR = "abandoned_in_ivr"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


def _enum(kind: type[enum.Enum], name: str) -> Enum:
    """Enums are stored as their string values, checked by the database."""
    return Enum(kind, name=name, values_callable=lambda k: [m.value for m in k],
                native_enum=False, length=32, validate_strings=True)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, on SQLite and PostgreSQL alike.

    SQLite gives naive datetimes back; comparing them with an aware ``now``
    raises. Naive values are refused on the way in: a time without a zone is
    ambiguous, and ours are always UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware (UTC) datetime")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_no: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    gender: Mapped[Gender] = mapped_column(_enum(Gender, "gender"), default=Gender.UNKNOWN)
    birth_date: Mapped[date] = mapped_column(Date)
    national_id_hash: Mapped[str] = mapped_column(String(128))
    national_id_last4: Mapped[str] = mapped_column(String(4), index=True)
    language: Mapped[str] = mapped_column(String(8), default="zh")
    tier: Mapped[Tier] = mapped_column(_enum(Tier, "tier"), default=Tier.STANDARD)
    # An IANA zone where the customer lives ("Europe/London"); empty: the contact centre's (`timezone`).
    # Campaigns call within their window in this zone (ivr/domain/campaigns.py).
    time_zone: Mapped[str] = mapped_column(String(64), default="", server_default="")
    # The call-centre agent who looks after this customer, offered first when they call
    # (the `advisor_of_record` setting; ivr/domain/advisors.py)
    advisor_id: Mapped[int | None] = mapped_column(
        ForeignKey("console_users.id", name="fk_customers_advisor", use_alter=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    phones: Mapped[list[CustomerPhone]] = relationship(
        back_populates="customer", cascade="all, delete-orphan")
    policies: Mapped[list[Policy]] = relationship(back_populates="holder")


class CustomerPhone(Base):
    """A phone number of a customer, normalised so every written form finds it."""

    __tablename__ = "customer_phones"
    __table_args__ = (UniqueConstraint("customer_id", "number", "extension"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(32), index=True)  # E.164, e.g. +8613800138000
    extension: Mapped[str] = mapped_column(String(10), default="")
    kind: Mapped[PhoneKind] = mapped_column(_enum(PhoneKind, "phone_kind"), default=PhoneKind.MOBILE)

    customer: Mapped[Customer] = relationship(back_populates="phones")


class SalesAgent(Base):
    __tablename__ = "sales_agents"

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    licence_no: Mapped[str] = mapped_column(String(64))
    branch: Mapped[str] = mapped_column(String(200))
    status: Mapped[AgentStatus] = mapped_column(_enum(AgentStatus, "agent_status"), default=AgentStatus.ACTIVE)
    # PIN for the sales agents' internal line: pbkdf2_sha256$iterations$salt$hash, see ivr/domain/sales_agents.py
    pin_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)


class Policy(Base):
    __tablename__ = "policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_no: Mapped[str] = mapped_column(String(32), unique=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    product_line: Mapped[ProductLine] = mapped_column(_enum(ProductLine, "product_line"))
    product_name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[PolicyStatus] = mapped_column(_enum(PolicyStatus, "policy_status"))
    sum_insured: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    premium: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    payment_frequency: Mapped[PaymentFrequency] = mapped_column(_enum(PaymentFrequency, "payment_frequency"))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    paid_to_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    next_due_date: Mapped[date | None] = mapped_column(Date, nullable=True, index=True)
    sales_agent_id: Mapped[int | None] = mapped_column(ForeignKey("sales_agents.id"), nullable=True)

    holder: Mapped[Customer] = relationship(back_populates="policies")
    sales_agent: Mapped[SalesAgent | None] = relationship()


class Call(Base):
    """One call through the IVR, from the first AGI request to its end."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    unique_id: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(200), default="")
    flow: Mapped[str] = mapped_column(String(64), default="")
    ani: Mapped[str] = mapped_column(String(64), default="", index=True)
    ani_e164: Mapped[str] = mapped_column(String(32), default="", index=True)
    caller_name: Mapped[str] = mapped_column(Text, default="")
    dnis: Mapped[str] = mapped_column(String(64), default="")
    language: Mapped[str] = mapped_column(String(8), default="")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    disposition: Mapped[Disposition] = mapped_column(
        _enum(Disposition, "disposition"), default=Disposition.IN_PROGRESS, index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), nullable=True, index=True)
    verified: Mapped[bool] = mapped_column(default=False)
    transfer_reason: Mapped[str] = mapped_column(String(64), default="")
    # The policy the caller dealt with in the IVR ("" none): first-call resolution is per policy
    policy_no: Mapped[str] = mapped_column(String(32), default="", server_default="")
    # Which FastAGI server runs the call (``agi_server_id``), so that a restarting server closes
    # only its own interrupted calls; empty for process AGI.
    agi_server: Mapped[str] = mapped_column(String(128), default="", server_default="", index=True)
    # The agent's wrap-up at the end of the call (ivr/domain/wrapup.py): a code from `wrapup_codes`
    wrapup_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    wrapup_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    wrapup_by: Mapped[int | None] = mapped_column(ForeignKey("console_users.id", name="fk_calls_wrapup_by"),
                                                  nullable=True)
    wrapup_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    events: Mapped[list[IvrEvent]] = relationship(
        back_populates="call", order_by="IvrEvent.seq", cascade="all, delete-orphan")


class IvrEvent(Base):
    """One step of a call's path: a prompt, a key entry, a verification, a transfer."""

    __tablename__ = "ivr_events"
    __table_args__ = (Index("ix_ivr_events_call_seq", "call_id", "seq", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64), default="")
    value: Mapped[str] = mapped_column(Text, default="")

    call: Mapped[Call] = relationship(back_populates="events")


# --- self-service: claims, complaints, sales-agent checks, lockouts ------------------------------


class ClaimStatus(str, enum.Enum):
    INCOMPLETE = "incomplete"  # opened by the IVR; the caller has not finished (or hung up)
    REPORTED = "reported"  # first notice of loss complete
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    PAID = "paid"
    CLOSED = "closed"


class IncidentType(str, enum.Enum):
    COLLISION = "collision"
    THEFT = "theft"
    GLASS = "glass"
    HOSPITALISATION = "hospitalisation"
    CRITICAL_ILLNESS = "critical_illness"
    DEATH = "death"
    OTHER = "other"


class ComplaintSubject(str, enum.Enum):
    SERVICE = "service"
    CLAIMS = "claims"
    SALES = "sales"
    BILLING = "billing"
    OTHER = "other"


class ComplaintStatus(str, enum.Enum):
    RECEIVED = "received"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"
    INFORMED = "informed"
    CLOSED = "closed"


class AgentCheckResult(str, enum.Enum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"
    UNKNOWN = "unknown"


class FraudAlertStatus(str, enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


class Claim(Base):
    """A first notice of loss, saved from the moment the caller chose the policy."""

    __tablename__ = "claims"
    __table_args__ = (Index("ix_claims_status_created_at", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_no: Mapped[str] = mapped_column(String(12), unique=True)  # YYMMDD + 6-digit sequence of the day
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    call_unique_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[ClaimStatus] = mapped_column(_enum(ClaimStatus, "claim_status"), default=ClaimStatus.INCOMPLETE)
    incident_type: Mapped[IncidentType | None] = mapped_column(_enum(IncidentType, "incident_type"), nullable=True)
    incident_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    callback_number: Mapped[str | None] = mapped_column(String(32), nullable=True)  # E.164
    recording_path: Mapped[str | None] = mapped_column(String(255), nullable=True)  # under recordings_dir
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    reported_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    policy: Mapped[Policy] = relationship()
    customer: Mapped[Customer] = relationship()


class Complaint(Base):
    """A complaint ticket, in a closed loop: received, assigned, resolved, informed, closed."""

    __tablename__ = "complaints"
    __table_args__ = (Index("ix_complaints_status_due_at", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_no: Mapped[str] = mapped_column(String(10), unique=True)  # YYMM + 6-digit sequence of the month
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), nullable=True, index=True)
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("policies.id"), nullable=True)
    call_unique_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    subject: Mapped[ComplaintSubject] = mapped_column(_enum(ComplaintSubject, "complaint_subject"))
    status: Mapped[ComplaintStatus] = mapped_column(
        _enum(ComplaintStatus, "complaint_status"), default=ComplaintStatus.RECEIVED)
    department: Mapped[str] = mapped_column(String(100), default="")
    recording_path: Mapped[str | None] = mapped_column(String(255), nullable=True)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    overdue: Mapped[bool] = mapped_column(default=False)  # stays set once the deadline was missed
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    customer: Mapped[Customer | None] = relationship()
    policy: Mapped[Policy | None] = relationship()
    events: Mapped[list[ComplaintEvent]] = relationship(
        back_populates="complaint", order_by="ComplaintEvent.id", cascade="all, delete-orphan")


class ComplaintEvent(Base):
    """One change of a complaint's status: who, when, from what to what."""

    __tablename__ = "complaint_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    from_status: Mapped[ComplaintStatus | None] = mapped_column(
        _enum(ComplaintStatus, "complaint_status"), nullable=True)
    to_status: Mapped[ComplaintStatus] = mapped_column(_enum(ComplaintStatus, "complaint_status"))
    actor: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text, default="")

    complaint: Mapped[Complaint] = relationship(back_populates="events")


class AgentCheck(Base):
    """A caller checking a sales agent's code (业务员身份鉴别); every check is kept."""

    __tablename__ = "agent_checks"
    __table_args__ = (Index("ix_agent_checks_code_checked_at", "keyed_code", "checked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    keyed_code: Mapped[str] = mapped_column(String(32))
    sales_agent_id: Mapped[int | None] = mapped_column(ForeignKey("sales_agents.id"), nullable=True)
    result: Mapped[AgentCheckResult] = mapped_column(_enum(AgentCheckResult, "agent_check_result"))
    caller_number: Mapped[str] = mapped_column(String(64), default="")
    call_unique_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)

    sales_agent: Mapped[SalesAgent | None] = relationship()


class FraudAlert(Base):
    """Repeated checks of a terminated or suspended agent's code: someone may be selling with it.

    At most one open alert per code (a partial unique index); further checks update it.
    """

    __tablename__ = "fraud_alerts"
    __table_args__ = (Index("uq_fraud_alerts_open_code", "agent_code", unique=True,
                            sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_code: Mapped[str] = mapped_column(String(32))
    sales_agent_id: Mapped[int | None] = mapped_column(ForeignKey("sales_agents.id"), nullable=True)
    check_count: Mapped[int] = mapped_column(Integer)
    first_check_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_check_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[FraudAlertStatus] = mapped_column(
        _enum(FraudAlertStatus, "fraud_alert_status"), default=FraudAlertStatus.OPEN)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)


class Lockout(Base):
    """Failed attempts at a secret (date of birth, PIN) per subject, across calls."""

    __tablename__ = "lockouts"
    __table_args__ = (UniqueConstraint("subject_kind", "subject_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(32))  # 'customer' | 'sales_agent' | 'console_address'
    subject_key: Mapped[str] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class NumberSequence(Base):
    """Counters for numbers people key and hear (claim and ticket numbers), one row per prefix.

    Incremented with ``UPDATE ... RETURNING``, which the database serialises,
    so two calls never get the same number.
    """

    __tablename__ = "number_sequences"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)  # e.g. 'claim:261121'
    value: Mapped[int] = mapped_column(Integer, default=0)


# --- routing: callback requests ------------------------------------------------------------------


class CallbackStatus(str, enum.Enum):
    """open -> in_progress (an agent took it) -> done, or failed (back to open until the last attempt)."""

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    FAILED = "failed"  # no attempt reached the caller, the last one included
    CANCELLED = "cancelled"


# Requests we still owe: at most one per number, and a further request merges into it.
OUTSTANDING_CALLBACK = "status IN ('open', 'in_progress')"


class CallbackRequest(Base):
    """A caller who asked to be called back (e.g. outside opening hours).

    At most one outstanding (open or in progress) request per number (a
    partial unique index): a further request from the same number updates
    that one, it never doubles it. Agents work the list oldest first
    (ivr/domain/callbacks.py).
    """

    __tablename__ = "callback_requests"
    __table_args__ = (Index("uq_callback_requests_open_number", "number", unique=True,
                            sqlite_where=text(OUTSTANDING_CALLBACK), postgresql_where=text(OUTSTANDING_CALLBACK)),
                      Index("ix_callback_requests_status_created_at", "status", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32))  # E.164
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), nullable=True, index=True)
    reason: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[CallbackStatus] = mapped_column(_enum(CallbackStatus, "callback_status"),
                                                   default=CallbackStatus.OPEN)
    request_count: Mapped[int] = mapped_column(Integer, default=1)  # requests merged into this one
    call_unique_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the latest request's call
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    # Worked by an agent: who took it and when, failed attempts so far, the last outcome
    assigned_to: Mapped[int | None] = mapped_column(
        ForeignKey("console_users.id", name="fk_callback_requests_assigned_to"), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    outcome_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    customer: Mapped[Customer | None] = relationship()
    assignee: Mapped[ConsoleUser | None] = relationship()


# --- agent console: users and roles --------------------------------------------------------------


class ConsoleRole(str, enum.Enum):
    """What a console user may see; the matrix is in docs/console.md."""

    AGENT = "agent"
    QUALITY = "quality"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class ConsoleUser(Base):
    """A person who logs in to the agent console (not a sales agent: see ``SalesAgent``)."""

    __tablename__ = "console_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)  # lower case
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[ConsoleRole] = mapped_column(_enum(ConsoleRole, "console_role"))
    # scrypt$n$r$p$salt$hash, see ivr/domain/users.py
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    # the PJSIP endpoint of the user's softphone, e.g. agent1: where their screen pops go
    sip_endpoint: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    team: Mapped[str] = mapped_column(String(64), default="", server_default="")  # KPIs by team; "" none
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)  # wrong passwords since the last success
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


# --- agents' queue state, queue calls and screen pops ---------------------------------------------


class AgentState(str, enum.Enum):
    """Where a console agent stands with the queues; paused carries a reason."""

    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    PAUSED = "paused"


class AgentStateChange(Base):
    """One change of an agent's state, with the queues they are in after it.

    Append-only: online time is the time between a change out of
    ``logged_out`` and the next change back, pause time likewise per reason
    (ivr/domain/agent_states.py). The latest row is the agent's state now.
    """

    __tablename__ = "agent_state_changes"
    __table_args__ = (Index("ix_agent_state_changes_user_at", "user_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("console_users.id", name="fk_agent_state_changes_user"))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    state: Mapped[AgentState] = mapped_column(_enum(AgentState, "agent_state"))
    reason: Mapped[str] = mapped_column(String(64), default="")  # the pause reason
    queues: Mapped[str] = mapped_column(String(200), default="")  # routing names, comma-separated, sorted
    source: Mapped[str] = mapped_column(String(32), default="console")  # console, api, admin, system


class QueueOutcome(str, enum.Enum):
    WAITING = "waiting"
    ANSWERED = "answered"
    ABANDONED = "abandoned"  # the caller hung up while waiting
    LOST = "lost"  # left the queue without an agent or a hangup we saw (e.g. Asterisk restarted)


class QueueCall(Base):
    """A caller's wait in an agent queue and how it ended, from Asterisk's queue events.

    Keyed by the caller channel's unique id, which is also the IVR call's
    (``calls.unique_id``): the agent's screen finds the IVR path through it.
    """

    __tablename__ = "queue_calls"
    __table_args__ = (Index("ix_queue_calls_joined_at", "joined_at"),
                      Index("ix_queue_calls_number_answered_at", "number", "answered_at"),
                      # repeat contacts (kpis: first-call resolution), the policy in it for index-only probes
                      Index("ix_queue_calls_customer_joined_policy", "customer_id", "joined_at", "policy_no"))

    id: Mapped[int] = mapped_column(primary_key=True)
    unique_id: Mapped[str] = mapped_column(String(64), unique=True)
    queue: Mapped[str] = mapped_column(String(64))  # the routing name (general, vip, claims, complaints)
    number: Mapped[str] = mapped_column(String(32), default="")  # the caller's number, E.164 when it reads as one
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", name="fk_queue_calls_customer"),
                                                    nullable=True)
    joined_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    outcome: Mapped[QueueOutcome] = mapped_column(_enum(QueueOutcome, "queue_outcome"), default=QueueOutcome.WAITING)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    left_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)  # answered, abandoned or lost
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)  # the agent's talk ended
    wait_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("console_users.id", name="fk_queue_calls_agent"),
                                                 nullable=True)
    agent_interface: Mapped[str] = mapped_column(String(80), default="")
    policy_no: Mapped[str] = mapped_column(String(32), default="", server_default="")  # the IVR call's, "" unknown
    # The agent passed the caller on (AgentComplete Reason: transfer): the transfer rate's numerator
    transferred: Mapped[bool] = mapped_column(default=False, server_default=false())


class ScreenPop(Base):
    """A call put through to an agent, for the agent's open console page to show."""

    __tablename__ = "screen_pops"
    __table_args__ = (UniqueConstraint("user_id", "call_unique_id", name="uq_screen_pops_user_call"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("console_users.id", name="fk_screen_pops_user"), index=True)
    call_unique_id: Mapped[str] = mapped_column(String(64))
    number: Mapped[str] = mapped_column(String(32), default="")  # as the caller presented it
    queue: Mapped[str] = mapped_column(String(64), default="")  # empty when offered directly (advisor of record)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


# --- outbound campaigns: premium reminders, attempts, do-not-call ---------------------------------


class CampaignState(str, enum.Enum):
    """draft -> running <-> paused; any of them -> stopped, which is final (ivr/domain/campaigns.py)."""

    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


class AttemptStatus(str, enum.Enum):
    PLANNED = "planned"  # waiting for its dial time
    SKIPPED = "skipped"  # a dial-time check said no (skip_reason)
    DIALING = "dialing"  # claimed by one dialer; its originate carries channel_id
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    CONGESTION = "congestion"
    FAILED = "failed"
    INVALID_NUMBER = "invalid_number"  # never retried
    CUSTOMER_HUNG_UP = "customer_hung_up"  # answered, then hung up before the message ended
    MACHINE = "machine"  # an answering machine (campaigns with detect_machines): retried like no answer


class DncSource(str, enum.Enum):
    IVR_KEY_9 = "ivr_key_9"  # the customer pressed 9 in a campaign call
    IMPORT = "import"  # `ivr dnc import`
    AGENT = "agent"  # an agent or operator (`ivr dnc add`)


class Campaign(Base):
    """An outbound premium-reminder campaign: whom it selects, when and how often it may call.

    Selection: in-force policies due within ``due_within_days``, policies in
    their grace period (``include_grace``), or grace policies lapsing within
    ``lapsing_within_days``; narrowed by product lines and sales branches
    (comma-separated; empty means all). The window is local time in the
    contact centre's zone and never outside 09:00-21:00.
    """

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    message: Mapped[str] = mapped_column(Text)
    due_within_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    include_grace: Mapped[bool] = mapped_column(default=False)
    lapsing_within_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    product_lines: Mapped[str] = mapped_column(String(100), default="")
    branches: Mapped[str] = mapped_column(Text, default="")
    window_start: Mapped[str] = mapped_column(String(5))  # HH:MM, local
    window_end: Mapped[str] = mapped_column(String(5))
    max_attempts: Mapped[int] = mapped_column(Integer)  # per policy per cycle
    min_gap_hours: Mapped[int] = mapped_column(Integer)  # between two attempts at one policy's cycle
    max_channels: Mapped[int] = mapped_column(Integer)
    calls_per_second: Mapped[float] = mapped_column()
    # Asterisk's AMD listens first: a machine is hung up on (result machine, retried like no answer), and
    # the message starts after a person's "hello" rather than at once (docs/campaigns.md).
    detect_machines: Mapped[bool] = mapped_column(default=False)
    state: Mapped[CampaignState] = mapped_column(_enum(CampaignState, "campaign_state"), default=CampaignState.DRAFT)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)  # the first start
    paused_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)  # the latest pause
    stopped_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # Pacing: no originate before this; taken by one conditional UPDATE (ivr/domain/campaign_dialing.py).
    next_dial_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # When its policies were last selected (hotline.plan_campaigns, or a start).
    last_planned_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class CampaignAttempt(Base):
    """One call (or planned call) of a campaign to one policy's holder for one due date.

    The unique key (campaign, policy, cycle, attempt_no) is committed before
    any dial, and ``planned -> dialing`` is one conditional UPDATE: a
    redelivered task or a second worker can never dial the same attempt twice.
    ``channel_id`` is the AMI ChannelId of the originate; ``dialled_via`` names the telephony server
    (the dialer's AMI address) it went through, empty before it is dialled.
    """

    __tablename__ = "campaign_attempts"
    __table_args__ = (UniqueConstraint("campaign_id", "policy_id", "cycle", "attempt_no",
                                       name="uq_campaign_attempts_key"),
                      Index("ix_campaign_attempts_policy_cycle", "policy_id", "cycle"),
                      Index("ix_campaign_attempts_campaign_status", "campaign_id", "status"),
                      Index("ix_campaign_attempts_campaign_ended", "campaign_id", "ended_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", name="fk_campaign_attempts_campaign"))
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id", name="fk_campaign_attempts_policy"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", name="fk_campaign_attempts_customer"))
    cycle: Mapped[date] = mapped_column(Date)  # the due date being reminded
    attempt_no: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(32), index=True)  # E.164
    status: Mapped[AttemptStatus] = mapped_column(_enum(AttemptStatus, "attempt_status"),
                                                  default=AttemptStatus.PLANNED)
    skip_reason: Mapped[str] = mapped_column(String(32), default="")
    channel_id: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    dialled_via: Mapped[str] = mapped_column(String(128), default="", server_default="")
    key_pressed: Mapped[str | None] = mapped_column(String(1), nullable=True)
    planned_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    not_before: Mapped[datetime] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    duration_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The abandoned measure (ivr/domain/campaigns.py abandoned_call): when the message began (our clock),
    # how long after answer on Asterisk's clock (None: not measurable), and whether the customer wanted a
    # person when none was free.
    message_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    message_delay_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    agent_unavailable: Mapped[bool] = mapped_column(default=False, server_default=false())


class DoNotCall(Base):
    """A number (and its customer, when known) no campaign may call until ``until``.

    Rows are kept after they end (the history of opt-outs); a number is
    blocked while any of its rows, or its customer's, lasts.
    """

    __tablename__ = "do_not_call"
    __table_args__ = (Index("ix_do_not_call_number_until", "number", "until"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32))  # E.164
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", name="fk_do_not_call_customer"),
                                                    nullable=True, index=True)
    source: Mapped[DncSource] = mapped_column(_enum(DncSource, "dnc_source"))
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    until: Mapped[datetime] = mapped_column(UtcDateTime)


class PaymentReconciliation(Base):
    """A customer said "I have already paid" (key 3): finance checks it; no more calls that cycle."""

    __tablename__ = "payment_reconciliation"
    __table_args__ = (UniqueConstraint("policy_id", "cycle", name="uq_payment_reconciliation_policy_cycle"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id", name="fk_payment_reconciliation_policy"))
    cycle: Mapped[date] = mapped_column(Date)
    attempt_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign_attempts.id", name="fk_payment_reconciliation_attempt"), nullable=True)
    reported_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class RecordingStatus(str, enum.Enum):
    RECORDING = "recording"  # Asterisk is still writing it (its WAV header says 0 bytes)
    COMPLETE = "complete"  # closed, hashed, catalogued
    UNFINISHED = "unfinished"  # never closed (Asterisk died mid-call): kept as found
    FAILED = "failed"  # the call ended but its files were never written (a full disk): alerted
    PURGED = "purged"  # deleted at the end of its retention


class TranscriptionStatus(str, enum.Enum):
    WAITING = "waiting"  # the recording is not complete yet
    PENDING = "pending"  # complete, not yet handed to the broker (it was down, say)
    QUEUED = "queued"  # its task is with the broker
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # with a reason code and message; the recording is kept


class CallRecording(Base):
    """One recorded call: the caller's and the agent's directions (MixMonitor ``r()`` and ``t()``).

    Keyed by the recorded channel's unique id, which names the files
    (``calls/<date>/<unique id>-caller.wav``); call, agent, queue and campaign
    are looked up from it when the recording is complete. Each file's SHA-256
    is taken then, so a later change is evident (``ivr recordings verify``).
    """

    __tablename__ = "call_recordings"
    __table_args__ = (Index("ix_call_recordings_started_at", "started_at"),
                      Index("ix_call_recordings_transcription", "transcription_status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    unique_id: Mapped[str] = mapped_column(String(64), unique=True)
    base_path: Mapped[str] = mapped_column(String(255))  # relative to recordings_dir, no suffix
    direction: Mapped[str] = mapped_column(String(16), default="inbound")  # inbound or outbound
    call_type: Mapped[str] = mapped_column(String(16), default="service")  # service, sales or renewal
    status: Mapped[RecordingStatus] = mapped_column(_enum(RecordingStatus, "recording_status"),
                                                    default=RecordingStatus.RECORDING)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", name="fk_call_recordings_call"), nullable=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", name="fk_call_recordings_customer"),
                                                    nullable=True, index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("console_users.id", name="fk_call_recordings_agent"),
                                                 nullable=True, index=True)
    queue: Mapped[str] = mapped_column(String(64), default="")
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", name="fk_call_recordings_campaign"),
                                                    nullable=True)
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("policies.id", name="fk_call_recordings_policy"),
                                                  nullable=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    duration_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    format: Mapped[str] = mapped_column(String(16), default="wav")
    caller_bytes: Mapped[int] = mapped_column(Integer, default=0)
    agent_bytes: Mapped[int] = mapped_column(Integer, default=0)
    caller_sha256: Mapped[str] = mapped_column(String(64), default="")
    agent_sha256: Mapped[str] = mapped_column(String(64), default="")
    last_seen_bytes: Mapped[int] = mapped_column(Integer, default=0)  # both files, at the last look
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    retain_until: Mapped[date | None] = mapped_column(Date, nullable=True, index=True)
    legal_hold: Mapped[bool] = mapped_column(default=False, server_default=false())
    purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    transcription_status: Mapped[TranscriptionStatus] = mapped_column(
        _enum(TranscriptionStatus, "transcription_status"), default=TranscriptionStatus.WAITING)
    transcription_error: Mapped[str] = mapped_column(Text, default="")  # "<code>: <message>" when failed
    transcribed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    analytics: Mapped[str] = mapped_column(Text, default="")  # JSON: talk, silence, script adherence, keywords
    # From the analytics, for searching and KPIs in SQL: the share of script items said (None: no
    # script for the call type), and the keyword lists that fired, space-separated ("complaint churn").
    script_adherence: Mapped[float | None] = mapped_column(Float, nullable=True, index=True)
    flags: Mapped[str] = mapped_column(String(200), default="", server_default="")

    pauses: Mapped[list[RecordingPause]] = relationship(order_by="RecordingPause.paused_at",
                                                        cascade="all, delete-orphan")
    turns: Mapped[list[TranscriptTurn]] = relationship(order_by="TranscriptTurn.seq", cascade="all, delete-orphan")


class RecordingPause(Base):
    """Recording muted for a payment or another sensitive moment, by an agent, and resumed."""

    __tablename__ = "recording_pauses"

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int | None] = mapped_column(
        ForeignKey("call_recordings.id", name="fk_recording_pauses_recording"), nullable=True, index=True)
    unique_id: Mapped[str] = mapped_column(String(64), index=True)  # known before the recording is catalogued
    paused_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    resumed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("console_users.id", name="fk_recording_pauses_user"), nullable=True)


class RecordingAccess(Base):
    """Someone listened to or downloaded a recording: who, when, which (admins read this log)."""

    __tablename__ = "recording_access"
    __table_args__ = (Index("ix_recording_access_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("call_recordings.id", name="fk_recording_access_recording"),
                                              index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("console_users.id", name="fk_recording_access_user"))
    action: Mapped[str] = mapped_column(String(16))  # listen or download
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class QaEvaluation(Base):
    """A quality evaluation of one recorded call against a scorecard form: item scores, total, coaching."""

    __tablename__ = "qa_evaluations"

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("call_recordings.id", name="fk_qa_evaluations_recording"),
                                              index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("console_users.id", name="fk_qa_evaluations_agent"),
                                                 nullable=True, index=True)
    evaluator_id: Mapped[int] = mapped_column(ForeignKey("console_users.id", name="fk_qa_evaluations_evaluator"))
    form: Mapped[str] = mapped_column(String(64))
    scores: Mapped[str] = mapped_column(Text)  # JSON: item -> points given
    total: Mapped[float] = mapped_column(Float)  # 0..100, weighted
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class TranscriptTurn(Base):
    """One speaker's stretch of speech in a recorded call, with its words, in time order."""

    __tablename__ = "transcript_turns"
    __table_args__ = (UniqueConstraint("recording_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("call_recordings.id", name="fk_transcript_turns_recording"))
    seq: Mapped[int] = mapped_column(Integer)
    speaker: Mapped[str] = mapped_column(String(16))  # caller or agent
    start_seconds: Mapped[float] = mapped_column(Float)
    end_seconds: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)  # redacted: long digit runs are [redacted:digits]
    words: Mapped[str] = mapped_column(Text, default="[]")  # JSON [[word, start, end, confidence], ...]


class AuditEntry(Base):
    """One change to a claim, complaint, do-not-call entry or recording, chained to the one before.

    Append-only: the database refuses UPDATE and DELETE (triggers of revision
    0013); ``hash`` is SHA-256 over ``prev_hash`` and the row's canonical form
    (ivr/domain/audit.py), so a row changed, removed or moved behind the
    triggers' back is found by ``ivr audit verify``. ``seq`` is given by the
    appender (the head's plus one), not by the database, so a gap is a deletion.
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity_kind", "entity_id"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(100))  # ivr, system, cli:<os user>, user:<console user id>
    entity_kind: Mapped[str] = mapped_column(String(32))  # claim, complaint, dnc, recording
    entity_id: Mapped[str] = mapped_column(String(64))  # claim or ticket number, row id
    action: Mapped[str] = mapped_column(String(32))
    details: Mapped[str] = mapped_column(Text)  # canonical JSON (sorted keys, no spaces)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
