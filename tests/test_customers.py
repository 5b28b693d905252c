"""Recognising a caller by number, verifying the birth date, keeping national IDs unreadable."""

from __future__ import annotations

from datetime import date

import pytest

from sqlalchemy import select, text

from ivr.db.models import Customer, CustomerPhone, Gender, PhoneKind, Tier
from ivr.db.session import session_scope
from ivr.domain.callers import KnownCaller, identify_by_phone
from ivr.domain.customers import (
    find_customer_by_phone,
    find_policy,
    hash_national_id,
    normalise_national_id,
    verify_birth_date,
)
from ivr.testing.missing import missing

SALT = "test-salt"


def _customer(customer_no: str, *numbers: str) -> Customer:
    return Customer(customer_no=customer_no, name="张伟", gender=Gender.MALE, birth_date=date(1980, 5, 17),
                    national_id_hash=hash_national_id("E12345678", SALT), national_id_last4="5678", language="zh",
                    tier=Tier.STANDARD, phones=[CustomerPhone(number=n, kind=PhoneKind.MOBILE) for n in numbers])


@pytest.fixture
def two_customers_sharing_a_landline(database_url: str) -> None:
    with session_scope() as session:
        session.add_all([_customer("C1", "+8613800138000", "+861062345678"),
                         _customer("C2", "+8613900139000", "+861062345678")])


@pytest.mark.parametrize("ani", ["13800138000", "+8613800138000", "8613800138000", "008613800138000"])
def test_caller_with_own_mobile_is_recognised_in_every_ani_form(two_customers_sharing_a_landline: None,
                                                                ani: str) -> None:
    with session_scope() as session:
        customer = find_customer_by_phone(session, ani)
        assert customer is not None and customer.customer_no == "C1"


@pytest.mark.parametrize("ani", ["01062345678", "anonymous", "", "13700137000", "\"x\" <1>"])
def test_shared_unknown_or_garbage_number_recognises_nobody(two_customers_sharing_a_landline: None,
                                                            ani: str) -> None:
    with session_scope() as session:
        assert find_customer_by_phone(session, ani) is None


@pytest.mark.parametrize("ani", ["13800138000", "+8613800138000", "8613800138000", "008613800138000"])
def test_ivr_recognises_the_sole_owner_of_a_number_with_their_language(two_customers_sharing_a_landline: None,
                                                                       ani: str) -> None:
    known = identify_by_phone(ani)
    with session_scope() as session:
        c1 = session.scalar(select(Customer).where(Customer.customer_no == "C1"))
        assert known == KnownCaller(c1.id, "zh")


@pytest.mark.parametrize("ani", ["01062345678", "anonymous", "", "13700137000", "\"x\" <1>"])
def test_ivr_recognises_nobody_by_a_shared_unknown_or_garbage_number(two_customers_sharing_a_landline: None,
                                                                      ani: str) -> None:
    assert identify_by_phone(ani) is None


def test_recognition_survives_its_pooled_connection_dying(two_customers_sharing_a_landline: None,
                                                          database_url: str) -> None:
    """A database restart kills every pooled connection; the direct pool has no ping, so the
    read itself finds the dead connection and is retried on a fresh one."""
    if not database_url.startswith("postgresql"):
        missing("PostgreSQL", "IVR_TEST_DATABASE_URL is not set; SQLite has no server connection to kill")
    assert identify_by_phone("13800138000") is not None  # the pool now holds a connection
    with session_scope() as session:
        killed = session.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                      "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                                      "AND query LIKE 'SELECT customers.id, customers.language%'")).all()
    assert killed and all(ok for (ok,) in killed)
    assert identify_by_phone("13800138000") is not None


def test_unknown_policy_number_finds_nothing(database_url: str) -> None:
    with session_scope() as session:
        assert find_policy(session, "0000000000") is None


@pytest.mark.parametrize("keyed, expected", [
    ("19800517", True), ("19800518", False), ("17051980", False), ("1980517", False), ("", False),
    ("198005170", False), ("1980-05-17", False), ("19800517#", False), ("abcdefgh", False),
])
def test_birth_date_must_be_keyed_exactly_as_yyyymmdd(keyed: str, expected: bool) -> None:
    assert verify_birth_date(_customer("C1"), keyed) is expected


def test_national_id_hash_is_keyed_by_the_salt_and_hides_the_id() -> None:
    digest = hash_national_id("110105198005171239", SALT)

    assert digest == hash_national_id(" 110105 19800517 1239 ", SALT)
    assert digest != hash_national_id("110105198005171239", "another installation")
    assert "110105198005171239" not in digest and "19800517" not in digest


def test_resident_id_check_digit_x_is_accepted_in_either_case() -> None:
    assert normalise_national_id("31010419900701008x") == "31010419900701008X"
    assert hash_national_id("31010419900701008x", SALT) == hash_national_id("31010419900701008X", SALT)


@pytest.mark.parametrize("bad, reason", [
    ("110105198005171230", "check digit 0, expected 9"), ("11010519800517123Y", "must end in a digit or X"),
    ("1234", "5 to 32"), ("张伟", "5 to 32"), ("", "5 to 32"),
])
def test_malformed_national_id_is_refused_with_reason(bad: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        normalise_national_id(bad)
