"""The advisor of record: the call-centre agent a customer is offered first when they ask for a person.

Which agent that is comes from the ``advisor_of_record`` setting:
``assigned`` (the customer's ``advisor_id``), ``last_agent`` (the agent who
last answered one of their queue calls, within ``advisor_last_agent_days``)
or ``off``. The advisor is offered only when logged in and not paused; the
dialplan rings them only when their phone is free (DEVICE_STATE), for
``advisor_ring_seconds``, and then queues the caller as usual.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from ivr.config import get_settings
from ivr.db.models import ConsoleRole, ConsoleUser, Customer, QueueCall
from ivr.db.session import session_scope
from ivr.domain import agent_states
from ivr.domain.errors import NotFound, ValidationError
from ivr.domain.users import SIP_ENDPOINT

__all__ = ["RELATIONS", "advisor_endpoint", "assign_advisor"]

RELATIONS = ("assigned", "last_agent", "off")


def advisor_endpoint(customer_id: int | None, now: datetime) -> str | None:
    """The PJSIP endpoint of the customer's advisor if they can take the call now, else None."""
    relation = get_settings().advisor_of_record
    if relation not in RELATIONS:
        raise ValueError(f"setting advisor_of_record must be one of {', '.join(RELATIONS)}: {relation!r}")
    if customer_id is None or relation == "off":
        return None
    user_id = _assigned(customer_id) if relation == "assigned" else _last_agent(customer_id, now)
    if user_id is None:
        return None
    status = agent_states.available_agent(user_id)  # an active agent only: a deactivated advisor is never offered
    if status is None or status.sip_endpoint is None:
        return None
    # the value goes into Dial(): stored values are checked on write, this guards rows written by hand
    return status.sip_endpoint if SIP_ENDPOINT.fullmatch(status.sip_endpoint) else None


def _assigned(customer_id: int) -> int | None:
    with session_scope() as session:
        return session.scalar(select(Customer.advisor_id).where(Customer.id == customer_id))


def _last_agent(customer_id: int, now: datetime) -> int | None:
    since = now - timedelta(days=get_settings().advisor_last_agent_days)
    with session_scope() as session:
        return session.scalar(select(QueueCall.agent_id).where(
            QueueCall.customer_id == customer_id, QueueCall.agent_id.is_not(None), QueueCall.answered_at >= since)
            .order_by(QueueCall.answered_at.desc()).limit(1))


def assign_advisor(customer_nos: list[str], username: str | None) -> int:
    """Make console agent ``username`` the advisor of these customers (None: no advisor); how many changed.

    Every customer number must exist and the user must be an agent: nothing changes otherwise.
    """
    with session_scope() as session:
        advisor_id = None
        if username is not None:
            user = session.scalar(select(ConsoleUser).where(ConsoleUser.username == username.lower()))
            if user is None:
                raise NotFound(f"no console user {username}", "user_not_found")
            if user.role is not ConsoleRole.AGENT:
                raise ValidationError(f"{user.username} is a {user.role.value}, not an agent", "not_an_agent")
            advisor_id = user.id
        known = set(session.scalars(select(Customer.customer_no).where(Customer.customer_no.in_(customer_nos))))
        missing = sorted(set(customer_nos) - known)
        if missing:
            raise NotFound(f"no customer {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""),
                           "customer_not_found")
        result = session.execute(update(Customer).where(Customer.customer_no.in_(customer_nos))
                                 .values(advisor_id=advisor_id))
        return int(result.rowcount)  # type: ignore[attr-defined]
