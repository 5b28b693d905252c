"""Pacing a campaign: at most ``max_channels`` calls at once and ``calls_per_second`` call starts,
slower when its abandoned rate nears 3 %.

Both limits are enforced in the database, not in memory, so they hold across
workers: the concurrent calls are counted from the attempts in ``dialing``,
and each originate first books a slot on the campaign's row (``next_dial_at``,
one conditional UPDATE in ``ivr/domain/campaign_dialing.take_dial_slot``).
Slots are booked up to ``BOOK_AHEAD`` ahead and follow each other one
interval apart (``1 / calls_per_second``, ``RATE_GUARD`` wider), so while
there is work the campaign dials at its cap, and never over it: the worker
claims its attempt, sleeps until its slot, and sends the Originate at once.

**The abandoned-rate throttle.** Before each slot and each tick the
campaign's recent abandoned rate is read from the database
(``campaign_dialing.recent_calls``: its latest ``RECENT_CALLS`` answered calls
that ended within ``RECENT_WINDOW``, abandoned as ``campaigns.abandoned_call``
defines it) and ``throttle`` turns it into the limits to dial with: full speed
below 2 %, slowing down linearly from 2 % to 3 %, and from 3 % one call at a
time, one start every 5 s at most, until the rate falls (the hour moves on,
and calls that go well count). So that a handful of calls cannot stop a
campaign, the rate is taken over at least ``MIN_ANSWERED`` calls: one
abandoned call among the first ten reads as 2 %, not 10 %. The functions here
are the arithmetic, pure, with the clock passed in, except ``campaign_throttle``
and ``take_slot``, which read the database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from ivr.domain import campaign_dialing
from ivr.domain.campaign_dialing import DialSlot
from ivr.domain.campaigns import CampaignView

__all__ = ["Throttle", "abandoned_rate", "batch_size", "campaign_throttle", "countdowns", "slot_interval",
           "take_slot", "throttle"]

CHANNEL_WAIT = timedelta(seconds=1)  # all channels busy: look again this much later
ABANDON_LIMIT = 0.03  # never reach this abandoned rate: from here, one call at a time
SLOW_FROM = 0.02  # from here up to the limit, fewer channels and call starts
RECENT_CALLS = 500  # the rate is over the campaign's latest answered calls (steps of 0.2 %) ...
RECENT_WINDOW = timedelta(hours=1)  # ... that ended within this
MIN_ANSWERED = 50  # fewer answered calls count as this many (a few calls cannot throttle wildly)
CAREFUL_CALLS_PER_SECOND = 0.2  # at or over the limit: one start every 5 s at most
BOOK_AHEAD = timedelta(seconds=1)  # a worker may book a slot this far ahead, and waits for it
RATE_GUARD = 0.03  # slots this much wider than 1 / calls_per_second: the cap is never passed


@dataclass(frozen=True)
class Throttle:
    """The limits to dial with now: the campaign's own, or fewer."""

    max_channels: int
    calls_per_second: float
    abandoned_rate: float
    mode: str  # "full", "slowing" or "one_at_a_time"


def abandoned_rate(answered: int, abandoned: int) -> float:
    """Abandoned over answered calls, counting at least ``MIN_ANSWERED`` answered calls."""
    return abandoned / max(answered, MIN_ANSWERED)


def throttle(max_channels: int, calls_per_second: float, answered: int, abandoned: int) -> Throttle:
    """The limits for a campaign whose recent ``answered`` calls include ``abandoned`` ones.

    Below ``SLOW_FROM``: the campaign's own. From ``SLOW_FROM`` to ``ABANDON_LIMIT``: both scaled by
    ``(ABANDON_LIMIT - rate) / (ABANDON_LIMIT - SLOW_FROM)`` (1 at 2 %, near 0 at 3 %), channels rounded
    down, never below one channel nor one start every 5 s. At the limit or over: one channel, one
    start every 5 s (or the campaign's own rate if slower).
    """
    rate = abandoned_rate(answered, abandoned)
    careful = min(calls_per_second, CAREFUL_CALLS_PER_SECOND)
    if rate < SLOW_FROM:
        return Throttle(max_channels, calls_per_second, rate, "full")
    if rate >= ABANDON_LIMIT:
        return Throttle(1, careful, rate, "one_at_a_time")
    factor = round((ABANDON_LIMIT - rate) / (ABANDON_LIMIT - SLOW_FROM), 4)  # 4 places: no float dust
    return Throttle(max(1, math.floor(max_channels * factor)), max(careful, round(calls_per_second * factor, 4)),
                    rate, "slowing")


def campaign_throttle(campaign: CampaignView, now: datetime) -> Throttle:
    """The campaign's limits now, from its recent calls in the database (the same for every worker)."""
    recent = campaign_dialing.recent_calls(campaign.id, now - RECENT_WINDOW, RECENT_CALLS)
    return throttle(campaign.max_channels, campaign.calls_per_second, recent.answered, recent.abandoned)


def slot_interval(calls_per_second: float) -> timedelta:
    """The time between two call starts of one campaign."""
    if calls_per_second <= 0:
        raise ValueError(f"calls_per_second must be above 0, not {calls_per_second}")
    return timedelta(seconds=1 / calls_per_second)


def batch_size(max_channels: int, dialing: int, calls_per_second: float, tick_seconds: float) -> int:
    """How many attempts one tick enqueues: no more than the free channels, nor than the rate allows in a tick."""
    free = max(0, max_channels - dialing)
    return min(free, max(1, math.floor(calls_per_second * tick_seconds)))


def countdowns(count: int, calls_per_second: float) -> list[float]:
    """Seconds to delay each of ``count`` tasks of one tick: spread one slot apart, so they seldom
    find their slot taken. They stay within the tick, far below Redis's visibility timeout."""
    step = slot_interval(calls_per_second).total_seconds()
    return [round(index * step, 3) for index in range(count)]


def take_slot(campaign: CampaignView, now: datetime) -> DialSlot:
    """The campaign's next originate slot under its throttle (rate and channels checked in one UPDATE),
    at most ``BOOK_AHEAD`` from now, or when to look again. Slots are ``RATE_GUARD`` wider than the
    rate asks, so the jitter of a wake-up never puts one call too many into a second."""
    limits = campaign_throttle(campaign, now)
    return campaign_dialing.take_dial_slot(campaign.id, now, slot_interval(limits.calls_per_second) * (1 + RATE_GUARD),
                                           BOOK_AHEAD, CHANNEL_WAIT, max_channels=limits.max_channels)
