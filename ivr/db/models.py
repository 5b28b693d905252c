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
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


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
