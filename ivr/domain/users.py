"""Console users: who may log in to the agent console, with which role, and login throttling.

Passwords are stored as salted scrypt hashes (``scrypt$n$r$p$salt$hash``, a
fresh random salt per password). ``web_login_lock_threshold`` wrong passwords
in a row lock the user for ``web_login_lock_minutes``; while locked even the
right password is refused, so guessing gains nothing. Someone trying many
usernames escapes that lock, so wrong logins are also counted per client
address (``ivr.domain.lockouts``): ``web_login_address_threshold`` of them,
whatever the usernames, refuse every login from that address for
``web_login_address_minutes``, other addresses unaffected. Each function is one
short transaction and returns frozen views, never the row with its hash.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.config import get_settings
from ivr.db.models import AgentState, ConsoleRole, ConsoleUser
from ivr.db.session import session_scope
from ivr.domain import agent_states, lockouts
from ivr.domain.errors import NotFound, ValidationError

__all__ = ["ConsoleRole", "ConsoleUserView", "LoginOutcome", "LoginResult", "MIN_PASSWORD_LENGTH", "authenticate",
           "create_user", "get_user", "hash_password", "list_users", "password_matches", "put_user", "set_active",
           "set_password"]

MIN_PASSWORD_LENGTH = 10
# scrypt cost: N=2**15, r=8, p=1 needs 32 MiB and about 50 ms; stored in each hash, so it can rise later.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
_SCRYPT_MAXMEM = 64 * 1024 * 1024
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
# A PJSIP endpoint name as Asterisk dials it (PJSIP/<name>): it reaches AMI actions and Dial().
SIP_ENDPOINT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")  # use fullmatch
TEAM_MAX_LENGTH = 64


class LoginOutcome(str, enum.Enum):
    OK = "ok"
    WRONG = "wrong"  # unknown user or wrong password: the two are never told apart
    LOCKED = "locked"
    INACTIVE = "inactive"  # right password, but the user has been switched off
    THROTTLED = "throttled"  # too many wrong logins from this client address: not even checked


@dataclass(frozen=True)
class ConsoleUserView:
    id: int
    username: str
    display_name: str
    role: ConsoleRole
    active: bool
    sip_endpoint: str | None
    last_login_at: datetime | None
    team: str  # "" when in none; the KPIs' team grouping
    # Changes whenever the password does: a session made before a password change is ended by it.
    credential_stamp: str


@dataclass(frozen=True)
class LoginResult:
    outcome: LoginOutcome
    user: ConsoleUserView | None = None  # set when the outcome is OK
    locked_until: datetime | None = None  # set when the outcome is LOCKED or THROTTLED


def create_user(username: str, display_name: str, role: ConsoleRole, password: str,
                sip_endpoint: str | None = None, team: str = "") -> ConsoleUserView:
    """A new, active console user; ``username_taken`` if the name (any case) is in use."""
    username = _checked_username(username)
    password_hash = hash_password(_checked_password(password))
    with session_scope() as session:
        if _find(session, username) is not None:
            raise ValidationError(f"there is already a console user {username}", "username_taken")
        user = ConsoleUser(username=username, display_name=display_name.strip() or username, role=role,
                           password_hash=password_hash, active=True, sip_endpoint=_checked_endpoint(sip_endpoint),
                           team=_checked_team(team), failed_logins=0)
        session.add(user)
        session.flush()
        return _view(user)


def _checked_endpoint(sip_endpoint: str | None) -> str | None:
    if not sip_endpoint:
        return None
    if not SIP_ENDPOINT.fullmatch(sip_endpoint):
        raise ValidationError(f"SIP endpoint {sip_endpoint[:40]!r}: letters, digits, _ and - only (e.g. agent1)",
                              "invalid_sip_endpoint")
    return sip_endpoint


def _checked_team(team: str) -> str:
    team = team.strip()
    if len(team) > TEAM_MAX_LENGTH or not team.isprintable():
        raise ValidationError(f"team {team[:40]!r}: at most {TEAM_MAX_LENGTH} printable characters", "invalid_team")
    return team


def set_team(username: str, team: str) -> None:
    """Put the user in ``team`` ("" for none); their calls count for it in the KPIs from then on
    and, as the team is read when a report is made, for past periods too (docs/kpis.md)."""
    with session_scope() as session:
        _existing(session, username).team = _checked_team(team)


def put_user(username: str, display_name: str, role: ConsoleRole, password: str,
             sip_endpoint: str | None = None, team: str = "") -> ConsoleUserView:
    """Create the user, or bring an existing one back to exactly these values, active and unlocked.

    For demo data, which must be the same after every run; people are managed with
    ``create_user`` and ``set_password``.
    """
    username = _checked_username(username)
    password_hash = hash_password(_checked_password(password))
    with session_scope() as session:
        user = _find(session, username) or ConsoleUser(username=username)
        session.add(user)
        user.display_name, user.role, user.sip_endpoint = display_name, role, _checked_endpoint(sip_endpoint)
        user.team = _checked_team(team)
        user.password_hash, user.active, user.failed_logins, user.locked_until = password_hash, True, 0, None
        session.flush()
        return _view(user)


def set_password(username: str, password: str) -> None:
    """Replace the user's password and lift any lock; sessions opened with the old one end."""
    password_hash = hash_password(_checked_password(password))
    with session_scope() as session:
        user = _existing(session, username)
        user.password_hash, user.failed_logins, user.locked_until = password_hash, 0, None


def set_active(username: str, active: bool, now: datetime | None = None) -> None:
    """Switch a user off (they cannot log in; their sessions end at their next request; an agent is
    logged out of the queues, which the console's switchboard carries out in Asterisk) or on again."""
    with session_scope() as session:
        user = _existing(session, username)
        user.active = active
        user_id = user.id
    if not active and agent_states.status_of(user_id).state is not AgentState.LOGGED_OUT:
        agent_states.record_change(user_id, AgentState.LOGGED_OUT, (), "", now or datetime.now(timezone.utc),
                                   source="admin")


def authenticate(username: str, password: str, now: datetime | None = None, address: str = "") -> LoginResult:
    """Check a login, counting wrong passwords and locking after ``web_login_lock_threshold`` in a row;
    with the client's ``address``, also counting wrong logins from it (a right one forgets them)."""
    now = now or datetime.now(timezone.utc)
    if address:
        address_locked = lockouts.is_locked(lockouts.CONSOLE_ADDRESS, address, now)
        if address_locked is not None:
            return LoginResult(LoginOutcome.THROTTLED, locked_until=address_locked)
    result = _check_login(username, password, now)
    if address and result.outcome in (LoginOutcome.WRONG, LoginOutcome.LOCKED):
        settings = get_settings()
        lockouts.record_failure(lockouts.CONSOLE_ADDRESS, address, now, settings.web_login_address_threshold,
                                settings.web_login_address_minutes)
    elif address and result.outcome is LoginOutcome.OK:
        lockouts.record_success(lockouts.CONSOLE_ADDRESS, address)
    return result


def _check_login(username: str, password: str, now: datetime) -> LoginResult:
    settings = get_settings()
    with session_scope() as session:
        user = session.scalars(select(ConsoleUser).where(ConsoleUser.username == username.strip().lower())
                               .with_for_update()).one_or_none()
        if user is None:
            password_matches(_unknown_user_hash(), password)  # take as long as for a real user
            return LoginResult(LoginOutcome.WRONG)
        if user.locked_until is not None and user.locked_until > now:
            return LoginResult(LoginOutcome.LOCKED, locked_until=user.locked_until)
        if not password_matches(user.password_hash, password):
            _count_failure(user, now, settings.web_login_lock_threshold, settings.web_login_lock_minutes)
            if user.locked_until is not None:
                return LoginResult(LoginOutcome.LOCKED, locked_until=user.locked_until)
            return LoginResult(LoginOutcome.WRONG)
        user.failed_logins, user.locked_until = 0, None
        if not user.active:
            return LoginResult(LoginOutcome.INACTIVE)
        user.last_login_at = now
        return LoginResult(LoginOutcome.OK, user=_view(user))


def get_user(user_id: int) -> ConsoleUserView | None:
    with session_scope() as session:
        user = session.get(ConsoleUser, user_id)
        return _view(user) if user is not None else None


def list_users() -> list[ConsoleUserView]:
    with session_scope() as session:
        return [_view(user) for user in session.scalars(select(ConsoleUser).order_by(ConsoleUser.username))]


def hash_password(password: str) -> str:
    salt = secrets.token_hex(16)
    digest = hashlib.scrypt(password.encode(), salt=salt.encode(), n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            maxmem=_SCRYPT_MAXMEM)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt}${digest.hex()}"


def password_matches(password_hash: str, password: str) -> bool:
    try:
        scheme, n, r, p, salt, expected = password_hash.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(password.encode(), salt=salt.encode(), n=int(n), r=int(r), p=int(p),
                                maxmem=_SCRYPT_MAXMEM)
    except ValueError:
        return False
    return hmac.compare_digest(digest.hex(), expected)


def _count_failure(user: ConsoleUser, now: datetime, threshold: int, lock_minutes: int) -> None:
    if user.locked_until is not None:  # the lock expired: count afresh
        user.failed_logins, user.locked_until = 0, None
    user.failed_logins += 1
    if user.failed_logins >= threshold:
        user.locked_until = now + timedelta(minutes=lock_minutes)


@lru_cache(maxsize=1)
def _unknown_user_hash() -> str:
    return hash_password(secrets.token_hex(16))


def _checked_username(username: str) -> str:
    username = username.strip().lower()
    if not _USERNAME.fullmatch(username):
        raise ValidationError("a username is 1 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter "
                              "or digit", "invalid_username")
    return username


def _checked_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"a password has at least {MIN_PASSWORD_LENGTH} characters", "password_too_short")
    return password


def _find(session: Session, username: str) -> ConsoleUser | None:
    return session.scalars(select(ConsoleUser).where(ConsoleUser.username == username)).one_or_none()


def _existing(session: Session, username: str) -> ConsoleUser:
    user = _find(session, username.strip().lower())
    if user is None:
        raise NotFound(f"no console user {username}", "user_not_found")
    return user


def _view(user: ConsoleUser) -> ConsoleUserView:
    stamp = hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]
    return ConsoleUserView(id=user.id, username=user.username, display_name=user.display_name, role=user.role,
                           active=user.active, sip_endpoint=user.sip_endpoint, last_login_at=user.last_login_at,
                           team=user.team or "", credential_stamp=stamp)
