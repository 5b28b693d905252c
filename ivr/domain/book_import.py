"""The policy book from the insurer's core system: CSV files checked row by row, then upserted.

Three kinds of file (columns in docs/import.md): sales agents, customers and
policies, written in that order because each refers to the one before. Rows
are matched on business keys (``agent_code``, ``customer_no``, ``policy_no``),
so importing the same export twice changes nothing and a later export updates
what changed. A bad row is reported as ``file:line: reason``; any bad row
stops the whole import unless the operator chose to skip invalid rows.

The upsert functions take typed rows, not CSV, so the demo book is written
through exactly the same path as a real import.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import Enum
from functools import partial
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar, cast

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload
from sqlalchemy.orm.interfaces import LoaderOption

from ivr.config import get_settings
from ivr.db.models import (
    AgentStatus,
    Customer,
    CustomerPhone,
    Gender,
    PaymentFrequency,
    PhoneKind,
    Policy,
    PolicyStatus,
    ProductLine,
    SalesAgent,
    Tier,
)
from ivr.domain.customers import hash_national_id, normalise_national_id
from ivr.domain.phones import InvalidPhoneNumber, PhoneNumber, normalise_phone
from ivr.domain.sales_agents import hash_pin, pin_matches
from ivr.domain.values import valid_zone

CUSTOMER_LANGUAGES = ("zh", "en")
PHONE_COLUMNS = {"mobile": PhoneKind.MOBILE, "home_phone": PhoneKind.HOME, "work_phone": PhoneKind.WORK}
_KEY_LENGTH = 32
_NAME_LENGTH = 200
_IN_CHUNK = 500  # keys per IN (...) query, well under every database's parameter limit

R = TypeVar("R")
T = TypeVar("T")
E = TypeVar("E", bound=Enum)


class BookFileError(ValueError):
    """A file that cannot be read at all: wrong encoding, bad header, broken CSV."""


class Track(Protocol):
    """Reports progress through a long sequence (the CLI draws a progress bar)."""

    def __call__(self, label: str, items: Sequence[T]) -> Iterable[T]: ...


def untracked(label: str, items: Sequence[T]) -> Iterable[T]:
    """No progress reporting (tests, library use)."""
    return items


@dataclass(frozen=True)
class AgentRow:
    agent_code: str
    name: str
    licence_no: str
    branch: str
    status: AgentStatus
    pin: str | None = None  # internal-line PIN: demo book only, never read from a CSV file


@dataclass(frozen=True)
class CustomerRow:
    """A customer as the core system knows them; ``national_id`` is hashed when written."""

    customer_no: str
    name: str
    gender: Gender
    birth_date: date
    national_id: str
    language: str
    tier: Tier
    phones: tuple[tuple[PhoneKind, PhoneNumber], ...]
    time_zone: str = ""  # IANA zone; empty: the contact centre's


@dataclass(frozen=True)
class PolicyRow:
    policy_no: str
    customer_no: str
    product_line: ProductLine
    product_name: str
    status: PolicyStatus
    sum_insured: Decimal
    premium: Decimal
    payment_frequency: PaymentFrequency
    start_date: date
    end_date: date | None
    paid_to_date: date | None
    next_due_date: date | None
    agent_code: str | None


@dataclass(frozen=True)
class Book:
    """Rows of the three kinds, ready to be written in dependency order."""

    agents: Sequence[AgentRow] = ()
    customers: Sequence[CustomerRow] = ()
    policies: Sequence[PolicyRow] = ()


@dataclass
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class BookCounts:
    agents: UpsertCounts
    customers: UpsertCounts
    policies: UpsertCounts


@dataclass(frozen=True)
class RowProblem:
    """Why one line of one file was rejected, in the form editors and CI logs link to."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass
class ParsedFile(Generic[R]):
    """The good rows of a file (with their line numbers) and the problems of the bad ones."""

    name: str
    rows: list[tuple[int, R]] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)

    def good_rows(self) -> list[R]:
        return [row for _, row in self.rows]


@dataclass(frozen=True)
class FileReport:
    file: str
    counts: UpsertCounts
    problems: list[RowProblem]


@dataclass(frozen=True)
class ImportReport:
    files: list[FileReport]
    written: bool  # False when bad rows stopped the import

    @property
    def problems(self) -> list[RowProblem]:
        return [problem for report in self.files for problem in report.problems]


@dataclass(frozen=True)
class BookFiles:
    """The export files of one import; any of them may be left out."""

    agents: Path | None = None
    customers: Path | None = None
    policies: Path | None = None


@dataclass(frozen=True)
class _FileKind(Generic[R]):
    key: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    parse: Callable[[Mapping[str, str]], R]


# --- parsing one row ----------------------------------------------------------------------------


def _optional_text(raw: Mapping[str, str], column: str, max_length: int = _NAME_LENGTH) -> str:
    value = raw.get(column, "")
    if len(value) > max_length:
        raise ValueError(f"{column} is longer than {max_length} characters")
    return value


def _text(raw: Mapping[str, str], column: str, max_length: int = _NAME_LENGTH) -> str:
    value = _optional_text(raw, column, max_length)
    if not value:
        raise ValueError(f"{column} is empty")
    return value


def _choice(raw: Mapping[str, str], column: str, kind: type[E], default: E | None = None) -> E:
    value = raw.get(column, "").lower()
    if not value and default is not None:
        return default
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(str(member.value) for member in kind)
        raise ValueError(f"{column} {value!r} is not one of: {allowed}") from None


def _optional_date(raw: Mapping[str, str], column: str) -> date | None:
    value = raw.get(column, "")
    if not value:
        return None
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{column} {value!r} is not a date (YYYY-MM-DD)") from None


def _date(raw: Mapping[str, str], column: str) -> date:
    value = _optional_date(raw, column)
    if value is None:
        raise ValueError(f"{column} is empty")
    return value


def _amount(raw: Mapping[str, str], column: str) -> Decimal:
    value = raw.get(column, "").replace(",", "")  # "1,234.50" as spreadsheets write it
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{column} {value!r} is not an amount") from None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"{column} {value!r} must be a positive amount with at most 2 decimals")
    if amount >= Decimal("1e10"):
        raise ValueError(f"{column} {value!r} is too large")
    return amount


def parse_agent(raw: Mapping[str, str]) -> AgentRow:
    return AgentRow(agent_code=_text(raw, "agent_code", _KEY_LENGTH), name=_text(raw, "name"),
                    licence_no=_text(raw, "licence_no", 64), branch=_text(raw, "branch"),
                    status=_choice(raw, "status", AgentStatus, AgentStatus.ACTIVE))


def parse_customer(raw: Mapping[str, str], country_code: str) -> CustomerRow:
    return CustomerRow(customer_no=_text(raw, "customer_no", _KEY_LENGTH), name=_text(raw, "name"),
                       gender=_choice(raw, "gender", Gender, Gender.UNKNOWN),
                       birth_date=_date(raw, "birth_date"), national_id=_national_id(raw),
                       language=_language(raw), tier=_choice(raw, "tier", Tier, Tier.STANDARD),
                       phones=_phones(raw, country_code), time_zone=_time_zone(raw))


def _national_id(raw: Mapping[str, str]) -> str:
    try:
        return normalise_national_id(_text(raw, "national_id", 64))
    except ValueError as error:
        raise ValueError(f"national_id: {error}") from None


def _language(raw: Mapping[str, str]) -> str:
    language = raw.get("language", "").lower() or CUSTOMER_LANGUAGES[0]
    if language not in CUSTOMER_LANGUAGES:
        raise ValueError(f"language {language!r} is not one of: {', '.join(CUSTOMER_LANGUAGES)}")
    return language


def _time_zone(raw: Mapping[str, str]) -> str:
    name = raw.get("time_zone", "").strip()
    if name and not valid_zone(name):
        raise ValueError(f"time_zone {name!r} is not an IANA time zone (for example Asia/Shanghai)")
    return name


def _phones(raw: Mapping[str, str], country_code: str) -> tuple[tuple[PhoneKind, PhoneNumber], ...]:
    """The customer's numbers, each once (the first column naming it gives its kind)."""
    phones: dict[PhoneNumber, PhoneKind] = {}
    for column, kind in PHONE_COLUMNS.items():
        if not raw.get(column):
            continue
        try:
            phones.setdefault(normalise_phone(raw[column], country_code), kind)
        except InvalidPhoneNumber as error:
            raise ValueError(f"{column} {raw[column]!r}: {error}") from None
    return tuple((kind, phone) for phone, kind in phones.items())


def parse_policy(raw: Mapping[str, str]) -> PolicyRow:
    start_date, end_date = _date(raw, "start_date"), _optional_date(raw, "end_date")
    if end_date is not None and end_date < start_date:
        raise ValueError(f"end_date {end_date} is before start_date {start_date}")
    return PolicyRow(policy_no=_text(raw, "policy_no", _KEY_LENGTH),
                     customer_no=_text(raw, "customer_no", _KEY_LENGTH),
                     product_line=_choice(raw, "product_line", ProductLine),
                     product_name=_optional_text(raw, "product_name"),
                     status=_choice(raw, "status", PolicyStatus),
                     sum_insured=_amount(raw, "sum_insured"), premium=_amount(raw, "premium"),
                     payment_frequency=_choice(raw, "payment_frequency", PaymentFrequency),
                     start_date=start_date, end_date=end_date,
                     paid_to_date=_optional_date(raw, "paid_to_date"),
                     next_due_date=_optional_date(raw, "next_due_date"),
                     agent_code=_optional_text(raw, "agent_code", _KEY_LENGTH) or None)


AGENT_FILE = _FileKind("agent_code", ("agent_code", "name", "licence_no", "branch"), ("status",), parse_agent)
POLICY_FILE = _FileKind(
    "policy_no",
    ("policy_no", "customer_no", "product_line", "status", "sum_insured", "premium", "payment_frequency",
     "start_date"),
    ("product_name", "end_date", "paid_to_date", "next_due_date", "agent_code"), parse_policy)


def customer_file(country_code: str) -> _FileKind[CustomerRow]:
    """The customers file kind; numbers without a country code get ``country_code``."""
    return _FileKind("customer_no", ("customer_no", "name", "birth_date", "national_id"),
                     ("gender", "language", "tier", "time_zone", *PHONE_COLUMNS),
                     partial(parse_customer, country_code=country_code))


# --- reading a file -----------------------------------------------------------------------------


def read_book_file(path: Path, kind: _FileKind[R], track: Track = untracked) -> ParsedFile[R]:
    """Every row of a file checked: the good ones typed, the bad ones explained.

    A key seen twice in one file is a problem on the second line: the export
    is ambiguous, and silently keeping either row could be wrong.
    """
    header, records = _read_csv(path, kind)
    parsed: ParsedFile[R] = ParsedFile(str(path))
    first_seen: dict[str, int] = {}
    for line, fields in track(f"checking {path.name}", records):
        try:
            if len(fields) != len(header):
                raise ValueError(f"has {len(fields)} fields, the header has {len(header)}")
            row = kind.parse({name: value.strip() for name, value in zip(header, fields, strict=True)})
        except ValueError as error:
            parsed.problems.append(RowProblem(parsed.name, line, str(error)))
            continue
        key = getattr(row, kind.key)
        if key in first_seen:
            parsed.problems.append(RowProblem(parsed.name, line, f"{kind.key} {key!r} repeats line {first_seen[key]}"))
            continue
        first_seen[key] = line
        parsed.rows.append((line, row))
    return parsed


def _read_csv(path: Path, kind: _FileKind[Any]) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the non-blank records, each with the line it starts on; a file over
    ``import_max_megabytes`` or holding NUL bytes (not a text export) is refused before any row is read."""
    _check_file(path)
    records: list[tuple[int, list[str]]] = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:  # -sig: Excel's UTF-8 starts with a BOM
            reader = csv.reader(stream)
            header = [name.strip() for name in next(reader, [])]
            _check_header(path, header, kind)
            start = reader.line_num + 1
            for fields in reader:
                if any(value.strip() for value in fields):
                    records.append((start, fields))
                start = reader.line_num + 1
    except UnicodeDecodeError as error:
        raise BookFileError(f"{path}: not UTF-8 text (byte {error.object[error.start]:#x}); export it as "
                            f"UTF-8, or convert it, e.g. iconv -f GBK -t UTF-8") from None
    except csv.Error as error:
        raise BookFileError(f"{path}:{reader.line_num}: {error}") from None
    return header, records


def _check_file(path: Path) -> None:
    limit = get_settings().import_max_megabytes
    size = path.stat().st_size
    if size > limit * 1024 * 1024:
        raise BookFileError(f"{path}: {size / 1024 / 1024:.0f} MB is over the {limit} MB an import accepts "
                            "(setting import_max_megabytes); split the export or raise the setting")
    with path.open("rb") as stream:
        if b"\x00" in stream.read(64 * 1024):
            raise BookFileError(f"{path}: a binary file (it holds NUL bytes), not a CSV text export")


def _check_header(path: Path, header: list[str], kind: _FileKind[Any]) -> None:
    if not header:
        raise BookFileError(f"{path}:1: the file is empty; the first line must name the columns")
    missing = [name for name in kind.required if name not in header]
    unknown = [name for name in header if name not in kind.required + kind.optional]
    repeated = sorted({name for name in header if header.count(name) > 1})
    for problem, names in (("missing columns", missing), ("unknown columns", unknown),
                           ("repeated columns", repeated)):
        if names:
            raise BookFileError(f"{path}:1: {problem}: {', '.join(names)} "
                                f"(columns: {', '.join(kind.required + kind.optional)}; see docs/import.md)")


def _check_references(session: Session, policies: ParsedFile[PolicyRow],
                      customers: ParsedFile[CustomerRow] | None, agents: ParsedFile[AgentRow] | None) -> None:
    """Move to the problems every policy whose holder or agent is neither in the database nor in this import."""
    rows = policies.good_rows()
    known_customers = {row.customer_no for row in (customers.good_rows() if customers else [])}
    known_customers |= set(_ids_by_key(session, Customer.customer_no, {row.customer_no for row in rows}))
    known_agents = {row.agent_code for row in (agents.good_rows() if agents else [])}
    known_agents |= set(_ids_by_key(session, SalesAgent.agent_code, {row.agent_code for row in rows if row.agent_code}))
    kept: list[tuple[int, PolicyRow]] = []
    for line, row in policies.rows:
        if row.customer_no not in known_customers:
            policies.problems.append(RowProblem(policies.name, line, f"customer_no {row.customer_no!r} is neither "
                                                                     f"in the database nor in the customers file"))
        elif row.agent_code is not None and row.agent_code not in known_agents:
            policies.problems.append(RowProblem(policies.name, line, f"agent_code {row.agent_code!r} is neither "
                                                                     f"in the database nor in the agents file"))
        else:
            kept.append((line, row))
    policies.rows = kept
    policies.problems.sort(key=lambda problem: problem.line)


# --- writing ------------------------------------------------------------------------------------


def _chunks(keys: Iterable[str]) -> Iterable[list[str]]:
    ordered = sorted(set(keys))
    return (ordered[i:i + _IN_CHUNK] for i in range(0, len(ordered), _IN_CHUNK))


def _ids_by_key(session: Session, key: InstrumentedAttribute[str], keys: Iterable[str]) -> dict[str, int]:
    """Database ids of the rows with these business keys (absent keys are left out)."""
    id_column = key.class_.id
    return {found: row_id for chunk in _chunks(keys)
            for found, row_id in session.execute(select(key, id_column).where(key.in_(chunk)))}


def _load_by_key(session: Session, key: InstrumentedAttribute[str], keys: Iterable[str],
                 *options: LoaderOption) -> dict[str, Any]:
    model = key.class_
    return {getattr(obj, key.key): obj for chunk in _chunks(keys)
            for obj in session.scalars(select(model).options(*options).where(key.in_(chunk)))}


def _assign(obj: object, values: Mapping[str, object]) -> bool:
    """Set the values that differ; whether any did (unchanged rows are not rewritten)."""
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


def _upsert(session: Session, key: InstrumentedAttribute[str], rows: Sequence[R],
            values_of: Callable[[R], dict[str, object]], track: Track,
            sync_children: Callable[[Any, R], bool] = lambda obj, row: False,
            options: Sequence[LoaderOption] = ()) -> UpsertCounts:
    """Insert the rows whose key is new, update those that differ, count the rest as unchanged."""
    model = cast(type[Any], key.class_)
    existing = _load_by_key(session, key, (getattr(row, key.key) for row in rows), *options)
    counts = UpsertCounts()
    for row in track(f"writing {model.__tablename__}", rows):
        values = values_of(row)
        obj = existing.get(str(values[key.key]))
        if obj is None:
            obj = model(**values)
            sync_children(obj, row)
            session.add(obj)
            counts.inserted += 1
        elif _assign(obj, values) | sync_children(obj, row):
            counts.updated += 1
        else:
            counts.unchanged += 1
    session.flush()
    return counts


def upsert_agents(session: Session, rows: Sequence[AgentRow], track: Track = untracked) -> UpsertCounts:
    return _upsert(session, SalesAgent.agent_code, rows, lambda row: {
        "agent_code": row.agent_code, "name": row.name, "licence_no": row.licence_no,
        "branch": row.branch, "status": row.status}, track, sync_children=_sync_pin)


def _sync_pin(agent: SalesAgent, row: AgentRow) -> bool:
    """Set the row's PIN when it has one the agent does not; whether it changed (hashes are salted)."""
    if row.pin is None or (agent.pin_hash is not None and pin_matches(agent.pin_hash, row.pin)):
        return False
    agent.pin_hash = hash_pin(row.pin)
    return True


def upsert_customers(session: Session, rows: Sequence[CustomerRow], salt: str,
                     track: Track = untracked) -> UpsertCounts:
    """Customers and their phones; the national ID is kept only as a salted hash and its last 4."""
    return _upsert(session, Customer.customer_no, rows, lambda row: {
        "customer_no": row.customer_no, "name": row.name, "gender": row.gender, "birth_date": row.birth_date,
        "national_id_hash": hash_national_id(row.national_id, salt),
        "national_id_last4": row.national_id[-4:], "language": row.language, "tier": row.tier,
        "time_zone": row.time_zone,
    }, track, sync_children=_sync_phones, options=[selectinload(Customer.phones)])


def _sync_phones(customer: Customer, row: CustomerRow) -> bool:
    """Make the customer's phones those of the row, keeping unchanged ones; whether any changed."""
    wanted = {(phone.e164, phone.extension): kind for kind, phone in row.phones}
    changed = False
    for phone in list(customer.phones):
        kind = wanted.pop((phone.number, phone.extension), None)
        if kind is None:
            customer.phones.remove(phone)
            changed = True
        elif phone.kind != kind:
            phone.kind = kind
            changed = True
    for (number, extension), kind in wanted.items():
        customer.phones.append(CustomerPhone(number=number, extension=extension, kind=kind))
        changed = True
    return changed


def upsert_policies(session: Session, rows: Sequence[PolicyRow], track: Track = untracked) -> UpsertCounts:
    """Policies, linked to holders and agents already written (references checked beforehand)."""
    holders = _ids_by_key(session, Customer.customer_no, (row.customer_no for row in rows))
    agents = _ids_by_key(session, SalesAgent.agent_code, (row.agent_code for row in rows if row.agent_code))

    def values_of(row: PolicyRow) -> dict[str, object]:
        return {"policy_no": row.policy_no, "holder_id": holders[row.customer_no],
                "sales_agent_id": agents[row.agent_code] if row.agent_code else None,
                "product_line": row.product_line, "product_name": row.product_name, "status": row.status,
                "sum_insured": row.sum_insured, "premium": row.premium,
                "payment_frequency": row.payment_frequency, "start_date": row.start_date,
                "end_date": row.end_date, "paid_to_date": row.paid_to_date, "next_due_date": row.next_due_date}

    return _upsert(session, Policy.policy_no, rows, values_of, track)


def write_book(session: Session, book: Book, salt: str, track: Track = untracked) -> BookCounts:
    """Upsert a whole book in dependency order, in the caller's transaction."""
    return BookCounts(agents=upsert_agents(session, book.agents, track),
                      customers=upsert_customers(session, book.customers, salt, track),
                      policies=upsert_policies(session, book.policies, track))


# --- the whole import ---------------------------------------------------------------------------


def import_book(session: Session, files: BookFiles, *, salt: str, country_code: str,
                skip_invalid: bool = False, track: Track = untracked) -> ImportReport:
    """Check every file, then write the book in the caller's transaction.

    Nothing is written when any row is bad, unless ``skip_invalid``: then the
    good rows are written and the bad ones reported. Raises BookFileError for
    a file that cannot be read at all, whatever ``skip_invalid`` says.
    """
    agents = read_book_file(files.agents, AGENT_FILE, track) if files.agents else None
    customers = read_book_file(files.customers, customer_file(country_code), track) if files.customers else None
    policies = read_book_file(files.policies, POLICY_FILE, track) if files.policies else None
    if policies is not None:
        _check_references(session, policies, customers, agents)
    parsed: list[tuple[ParsedFile[Any] | None, str]] = [
        (agents, "agents"), (customers, "customers"), (policies, "policies")]
    if any(file.problems for file, _ in parsed if file) and not skip_invalid:
        return ImportReport([FileReport(file.name, UpsertCounts(), file.problems) for file, _ in parsed if file],
                            written=False)
    book = Book(*(file.good_rows() if file else [] for file, _ in parsed))
    counts = write_book(session, book, salt, track)
    return ImportReport([FileReport(file.name, getattr(counts, kind), file.problems)
                         for file, kind in parsed if file], written=True)
