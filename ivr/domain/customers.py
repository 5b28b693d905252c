"""Recognising and verifying the customer on the line.

The IVR calls these from short session scopes (one per step, never held while
the caller keys digits), so what they return is usable after the session ends.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import date

from sqlalchemy import BindParameter, ScalarSelect, bindparam, func, select
from sqlalchemy.orm import Session, joinedload

from ivr.config import get_settings
from ivr.db.models import Customer, CustomerPhone, Policy
from ivr.domain.phones import parse_ani

# Work factor of the national-ID hash. The secret salt is what keeps a leaked
# database from being matched against a list of IDs (resident IDs have little
# entropy: region, birth date, three digits); the iterations only make guessing
# dearer should the salt leak too, and are kept low enough for a book of a
# million customers to import in minutes. Stored in each hash, so it can grow.
NATIONAL_ID_HASH_ITERATIONS = 1000

_RESIDENT_ID = re.compile(r"^[0-9]{17}[0-9X]$")
_OTHER_DOCUMENT = re.compile(r"^[A-Z0-9]{5,32}$")  # passports and permits of foreign customers
_CHECK_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARACTERS = "10X98765432"


def sole_owner_of(number: str | BindParameter[str]) -> ScalarSelect[int]:
    """The id of the one customer with this E.164 number; NULL when none has it, or several do.

    A number on several customers' records (a family landline, a company
    switchboard) never identifies one of them: greeting the wrong person would
    be worse than asking for a policy number.
    """
    owner = func.min(CustomerPhone.customer_id)
    return (select(owner).where(CustomerPhone.number == number)
            .having(owner == func.max(CustomerPhone.customer_id)).scalar_subquery())


#: The caller recognised by number: id and language of the number's sole owner (one round trip).
CALLER_BY_NUMBER = select(Customer.id, Customer.language).where(Customer.id == sole_owner_of(bindparam("number")))


def find_customer_by_phone(session: Session, ani_text: str, country_code: str | None = None) -> Customer | None:
    """The customer whose phone the call comes from, when the number is theirs alone
    (``sole_owner_of``). Withheld or garbage ANI gives None."""
    phone = parse_ani(ani_text, country_code or get_settings().country_code)
    if phone is None:
        return None
    return session.scalar(select(Customer).where(Customer.id == sole_owner_of(phone.e164)))


def find_policy(session: Session, policy_no: str) -> Policy | None:
    """The policy with this number, holder loaded: the caller is verified against the holder next."""
    return session.scalar(select(Policy).options(joinedload(Policy.holder))
                          .where(Policy.policy_no == policy_no.strip()))


def verify_birth_date(customer: Customer, keyed: str) -> bool:
    """Whether the caller keyed the customer's birth date as YYYYMMDD; anything else is a mismatch."""
    return birth_date_matches(customer.birth_date, keyed)


def birth_date_matches(birth_date: date, keyed: str) -> bool:
    """``verify_birth_date`` of a birth date already read."""
    return keyed == f"{birth_date:%Y%m%d}"


def normalise_national_id(text: str) -> str:
    """The canonical form of a national ID, so that every written form hashes alike.

    Mainland resident IDs (18 characters) must carry a correct check digit: a
    wrong one is a typing error in the core system, and would never match what
    the customer tells an agent. Other documents (passports of foreign
    customers) are 5 to 32 letters and digits. Raises ValueError with the reason,
    which never repeats the whole ID: import reports end up in logs.
    """
    canonical = re.sub(r"[\s-]", "", unicodedata.normalize("NFKC", text)).upper()
    if len(canonical) == 18 and canonical[:17].isdigit():
        if not _RESIDENT_ID.match(canonical):
            raise ValueError("an 18-character resident ID must end in a digit or X")
        expected = resident_id_check_digit(canonical[:17])
        if canonical[17] != expected:
            raise ValueError(f"resident ID ending {canonical[-4:]} has check digit {canonical[17]}, "
                             f"expected {expected}")
        return canonical
    if not _OTHER_DOCUMENT.match(canonical):
        raise ValueError("not an 18-character resident ID nor a document number of 5 to 32 letters and digits")
    return canonical


def resident_id_check_digit(first17: str) -> str:
    """The 18th character of a mainland resident ID (GB 11643-1999, ISO 7064 MOD 11-2)."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, _CHECK_WEIGHTS, strict=True))
    return _CHECK_CHARACTERS[total % 11]


def hash_national_id(national_id: str, salt: str) -> str:
    """The only form in which a national ID is stored, beside its last 4 characters.

    Keyed with the installation's secret salt and deterministic, so that an ID
    an agent or a caller gives can be matched without the raw ID ever being kept.
    """
    digest = hashlib.pbkdf2_hmac("sha256", normalise_national_id(national_id).encode(),
                                 salt.encode(), NATIONAL_ID_HASH_ITERATIONS)
    return f"pbkdf2_sha256${NATIONAL_ID_HASH_ITERATIONS}${digest.hex()}"
