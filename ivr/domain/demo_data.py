"""A realistic, deterministic policy book for demos, manual test calls and load tests.

The same seed and the same "today" always give the same book, so running
``ivr demo-data`` twice changes nothing: the book is written through the
importer's upsert functions (``write_book``), matched on business keys.
Dates are relative to "today" so that premiums are always about to fall due.

One customer is fixed for manual test calls: ``DEMO0001`` (see
``demo_customer``), calling from 13800138000. Each sales agent ``AGnnnn``
has the internal-line PIN ``nnnn`` (``AG0001``: ``0001``; see ``demo_agent_pin``).
Demo console users log in with the password ``<username>-demo`` (``DEMO_CONSOLE_USERS``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from ivr.db.models import (AgentStatus, ConsoleRole, Gender, PaymentFrequency, PhoneKind, PolicyStatus,
                           ProductLine, Tier)
from ivr.domain.book_import import AgentRow, Book, CustomerRow, PolicyRow
from ivr.domain.customers import resident_id_check_digit
from ivr.domain.phones import PhoneNumber, normalise_phone

DEFAULT_SEED = 95519
DEFAULT_CUSTOMERS = 1000
AGENT_COUNT = 50
DEMO_CUSTOMER_NO = "DEMO0001"
DEMO_MOBILE = "13800138000"
DEMO_BIRTH_DATE = date(1980, 5, 17)
DEMO_POLICY_NOS = ("8800000001", "8800000002")


@dataclass(frozen=True)
class DemoConsoleUser:
    username: str
    display_name: str
    role: ConsoleRole
    sip_endpoint: str | None
    team: str = ""

    @property
    def password(self) -> str:
        """Documented and public: demo data only."""
        return f"{self.username}-demo"


# One per role; agent1 and agent2 are the sandbox's PJSIP agent endpoints, each in a team of their own.
DEMO_CONSOLE_USERS = (
    DemoConsoleUser("agent1", "Li Na", ConsoleRole.AGENT, "agent1", "service"),
    DemoConsoleUser("agent2", "Zhang Wei", ConsoleRole.AGENT, "agent2", "renewals"),
    DemoConsoleUser("quality1", "Wang Fang", ConsoleRole.QUALITY, None),
    DemoConsoleUser("supervisor1", "Chen Jie", ConsoleRole.SUPERVISOR, None),
    DemoConsoleUser("admin1", "Liu Yang", ConsoleRole.ADMIN, None),
)

DEMO_ADVISOR = "agent1"  # DEMO0001's advisor of record

BRANCHES = ("北京分公司", "上海分公司", "广东分公司", "深圳分公司", "江苏分公司", "浙江分公司",
            "四川分公司", "湖北分公司", "山东分公司", "天津分公司")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN_NAME_CHARACTERS = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉萍红玲芬燕彬鹏辉宇浩然欣怡轩涵诺思远晨阳佳雪婷"
ENGLISH_GIVEN_NAMES = {Gender.MALE: ("James", "David", "Michael", "Thomas", "Daniel", "Oliver", "Lucas", "Samuel"),
                       Gender.FEMALE: ("Emma", "Sarah", "Laura", "Olivia", "Sophie", "Hannah", "Grace", "Chloe")}
ENGLISH_SURNAMES = ("Smith", "Brown", "Wilson", "Taylor", "Miller", "Anderson", "Walker", "Clarke", "Wright", "Hughes")
MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "147", "150", "151", "152",
                   "155", "156", "157", "158", "159", "166", "173", "176", "177", "180", "181", "186", "187",
                   "188", "189", "191", "198", "199")
# (trunk-prefixed area code, subscriber digits, resident-ID region code)
CITIES = (("010", 8, "110105"), ("021", 8, "310104"), ("020", 8, "440106"), ("0755", 8, "440304"),
          ("025", 8, "320102"), ("0571", 8, "330106"), ("028", 8, "510107"), ("027", 8, "420106"),
          ("0531", 8, "370102"), ("022", 8, "120101"), ("0391", 7, "410802"))
PRODUCTS = {ProductLine.LIFE: (("终身寿险", "Whole Life Plan"), ("定期寿险", "Term Life Plan"),
                               ("两全保险", "Endowment Plan")),
            ProductLine.HEALTH: (("百万医疗险", "Medical Plus"), ("重大疾病保险", "Critical Illness Cover")),
            ProductLine.MOTOR: (("机动车商业保险", "Motor Comprehensive"),)}
_MONTHS = {PaymentFrequency.MONTHLY: 1, PaymentFrequency.QUARTERLY: 3, PaymentFrequency.SEMI_ANNUAL: 6,
           PaymentFrequency.ANNUAL: 12}


def build_demo_book(customers: int = DEFAULT_CUSTOMERS, seed: int = DEFAULT_SEED,
                    today: date | None = None) -> Book:
    """``customers`` customers (``DEMO0001`` among them), their policies and ~50 sales agents."""
    today = today or date.today()
    rng = random.Random(seed)
    agents = [_agent(rng, number) for number in range(1, AGENT_COUNT + 1)]
    numbers = _NumberPool(rng)
    holders = [demo_customer()]
    policies = demo_policies(today, agents[0].agent_code)
    while len(holders) < customers:
        household = _household(rng, len(holders) + 1, min(customers - len(holders), 2), numbers, today)
        for holder in household:
            holders.append(holder)
            for _ in range(rng.choices((1, 2, 3, 4), weights=(45, 30, 17, 8))[0]):
                policies.append(_policy(rng, holder, len(policies) + 1, agents, today))
    return Book(agents=agents, customers=holders, policies=policies)


def demo_customer() -> CustomerRow:
    """The fixed customer for manual test calls: call from 13800138000, key 19800517."""
    first17 = f"110105{DEMO_BIRTH_DATE:%Y%m%d}123"
    return CustomerRow(customer_no=DEMO_CUSTOMER_NO, name="David Chen", gender=Gender.MALE,
                       birth_date=DEMO_BIRTH_DATE, national_id=first17 + resident_id_check_digit(first17),
                       language="en", tier=Tier.STANDARD,
                       phones=((PhoneKind.MOBILE, normalise_phone(DEMO_MOBILE)),))


def demo_policies(today: date, agent_code: str) -> list[PolicyRow]:
    """DEMO0001's two policies: one in force with a premium due in 10 days, one in its grace period."""
    in_force, in_grace = DEMO_POLICY_NOS
    return [
        PolicyRow(policy_no=in_force, customer_no=DEMO_CUSTOMER_NO, product_line=ProductLine.LIFE,
                  product_name="Whole Life Plan", status=PolicyStatus.IN_FORCE, sum_insured=Decimal("500000.00"),
                  premium=Decimal("1234.50"), payment_frequency=PaymentFrequency.MONTHLY,
                  start_date=date(2015, 3, 1), end_date=None, paid_to_date=today + timedelta(days=10),
                  next_due_date=today + timedelta(days=10), agent_code=agent_code),
        PolicyRow(policy_no=in_grace, customer_no=DEMO_CUSTOMER_NO, product_line=ProductLine.HEALTH,
                  product_name="Medical Plus", status=PolicyStatus.GRACE, sum_insured=Decimal("2000000.00"),
                  premium=Decimal("356.00"), payment_frequency=PaymentFrequency.MONTHLY,
                  start_date=date(2021, 9, 15), end_date=None, paid_to_date=today - timedelta(days=20),
                  next_due_date=today - timedelta(days=20), agent_code=agent_code),
    ]


class _NumberPool:
    """Phone numbers no other demo customer has (sharing is only ever deliberate)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used = {normalise_phone(DEMO_MOBILE)}

    def mobile(self) -> PhoneNumber:
        return self._unique(lambda: f"{self._rng.choice(MOBILE_PREFIXES)}{self._rng.randrange(10 ** 8):08d}")

    def landline(self, area_code: str, digits: int, extension: bool = False) -> PhoneNumber:
        """A landline in one of the ways people write them, e.g. ``(021) 6123 4567`` or ``0755-61234567-801``."""
        def written() -> str:
            subscriber = f"{self._rng.randint(2, 8)}{self._rng.randrange(10 ** (digits - 1)):0{digits - 1}d}"
            suffix = f"-{self._rng.randint(100, 899)}" if extension else ""
            return self._rng.choice((f"{area_code}-{subscriber}", f"({area_code}) {subscriber}")) + suffix
        return self._unique(written)

    def _unique(self, make: Callable[[], str]) -> PhoneNumber:
        while (number := normalise_phone(make())) in self._used:
            pass
        self._used.add(number)
        return number


def _agent(rng: random.Random, number: int) -> AgentRow:
    """Mostly active; every 8th has left and every 25th is suspended, so each status always occurs."""
    status = (AgentStatus.SUSPENDED if number % 25 == 0 else
              AgentStatus.TERMINATED if number % 8 == 0 else AgentStatus.ACTIVE)
    return AgentRow(agent_code=f"AG{number:04d}", name=_chinese_name(rng),
                    licence_no=f"0201{rng.randrange(10 ** 16):016d}", branch=rng.choice(BRANCHES), status=status,
                    pin=demo_agent_pin(number))


def demo_agent_pin(number: int) -> str:
    """The internal-line PIN of demo agent ``AG<number>``: the code's four digits (AG0001 keys 0001)."""
    return f"{number:04d}"


def _chinese_name(rng: random.Random, surname: str | None = None) -> str:
    given = "".join(rng.choices(GIVEN_NAME_CHARACTERS, k=rng.choice((1, 2, 2))))
    return (surname or rng.choice(SURNAMES)) + given


def _household(rng: random.Random, first_number: int, room: int, numbers: _NumberPool,
               today: date) -> list[CustomerRow]:
    """One customer, or now and then two sharing a family landline (which must not identify either)."""
    city = rng.choice(CITIES)
    size = 2 if room == 2 and rng.random() < 0.02 else 1
    shared_home = numbers.landline(city[0], city[1]) if size == 2 else None
    surname = rng.choice(SURNAMES)
    return [_customer(rng, first_number + i, city, numbers, shared_home, surname, today) for i in range(size)]


def _customer(rng: random.Random, number: int, city: tuple[str, int, str], numbers: _NumberPool,
              shared_home: PhoneNumber | None, surname: str, today: date) -> CustomerRow:
    gender = rng.choice((Gender.MALE, Gender.FEMALE))
    birth_date = today - timedelta(days=rng.randint(18 * 365, 80 * 365))
    english = rng.random() < 0.06
    phones: list[tuple[PhoneKind, PhoneNumber]] = [(PhoneKind.MOBILE, numbers.mobile())]
    if shared_home is not None:
        phones.append((PhoneKind.HOME, shared_home))
    elif rng.random() < 0.2:
        phones.append((PhoneKind.HOME, numbers.landline(city[0], city[1])))
    if rng.random() < 0.08:
        phones.append((PhoneKind.WORK, numbers.landline(city[0], city[1], extension=True)))
    return CustomerRow(
        customer_no=f"C{number:07d}",
        name=(f"{rng.choice(ENGLISH_GIVEN_NAMES[gender])} {rng.choice(ENGLISH_SURNAMES)}" if english
              else _chinese_name(rng, surname)),
        gender=gender, birth_date=birth_date,
        national_id=_passport(rng) if english else _resident_id(rng, city[2], birth_date, gender),
        language="en" if english else "zh", tier=Tier.VIP if rng.random() < 0.06 else Tier.STANDARD,
        phones=tuple(phones))


def _resident_id(rng: random.Random, region: str, birth_date: date, gender: Gender) -> str:
    """A well-formed mainland resident ID: region, birth date, sequence (odd for men), check digit."""
    sequence = rng.randrange(0, 999, 2) + (1 if gender is Gender.MALE else 0)
    first17 = f"{region}{birth_date:%Y%m%d}{sequence:03d}"
    return first17 + resident_id_check_digit(first17)


def _passport(rng: random.Random) -> str:
    return f"{rng.choice('EGKP')}{rng.randrange(10 ** 8):08d}"


def _policy(rng: random.Random, holder: CustomerRow, number: int, agents: list[AgentRow],
            today: date) -> PolicyRow:
    line = rng.choices(tuple(PRODUCTS), weights=(40, 35, 25))[0]
    chinese_name, english_name = rng.choice(PRODUCTS[line])
    frequency = _frequency(rng, line)
    status = rng.choices(tuple(PolicyStatus), weights=(75, 10, 10, 5))[0]
    if frequency is PaymentFrequency.SINGLE and status in (PolicyStatus.GRACE, PolicyStatus.LAPSED):
        status = PolicyStatus.IN_FORCE  # nothing left to pay, so nothing to fall behind on
    start_date = today - timedelta(days=rng.randint(400, 3650))
    end_date, paid_to, next_due = _dates(rng, status, frequency, today)
    return PolicyRow(policy_no=f"{8810000000 + number}", customer_no=holder.customer_no, product_line=line,
                     product_name=english_name if holder.language == "en" else chinese_name, status=status,
                     sum_insured=_sum_insured(rng, line), premium=_premium(rng, line, frequency),
                     payment_frequency=frequency, start_date=start_date, end_date=end_date,
                     paid_to_date=paid_to, next_due_date=next_due, agent_code=rng.choice(agents).agent_code)


def _frequency(rng: random.Random, line: ProductLine) -> PaymentFrequency:
    if line is ProductLine.MOTOR:
        return PaymentFrequency.ANNUAL
    if line is ProductLine.HEALTH:
        return rng.choice((PaymentFrequency.MONTHLY, PaymentFrequency.ANNUAL))
    return rng.choices(tuple(PaymentFrequency), weights=(40, 15, 10, 30, 5))[0]


def _dates(rng: random.Random, status: PolicyStatus, frequency: PaymentFrequency,
           today: date) -> tuple[date | None, date | None, date | None]:
    """(end_date, paid_to_date, next_due_date) that fit the status: in force falls due within one period."""
    if status is PolicyStatus.TERMINATED:
        end_date = today - timedelta(days=rng.randint(1, 365))
        return end_date, end_date, None
    if frequency is PaymentFrequency.SINGLE:
        return None, None, None
    if status is PolicyStatus.IN_FORCE:
        due = today + timedelta(days=rng.randint(1, 30 * _MONTHS[frequency]))
    elif status is PolicyStatus.GRACE:
        due = today - timedelta(days=rng.randint(1, 59))
    else:
        return None, today - timedelta(days=rng.randint(61, 720)), None
    return None, due, due


def _sum_insured(rng: random.Random, line: ProductLine) -> Decimal:
    low, high, step = {ProductLine.LIFE: (100_000, 3_000_000, 10_000), ProductLine.HEALTH: (1_000_000, 6_000_000,
                       100_000), ProductLine.MOTOR: (1_000_000, 3_000_000, 500_000)}[line]
    return Decimal(rng.randrange(low, high + 1, step)).quantize(Decimal("0.01"))


def _premium(rng: random.Random, line: ProductLine, frequency: PaymentFrequency) -> Decimal:
    low, high = {ProductLine.LIFE: (2_000, 30_000), ProductLine.HEALTH: (300, 5_000),
                 ProductLine.MOTOR: (2_000, 12_000)}[line]
    annual = Decimal(rng.randint(low, high))
    periods = 12 // _MONTHS.get(frequency, 12)
    return (annual / periods).quantize(Decimal("0.01"))
