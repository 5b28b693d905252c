"""Pacing a campaign: at most ``max_channels`` calls at once and ``calls_per_second`` call starts.

Both limits are enforced in the database, not in memory, so they hold across
workers: the concurrent calls are counted from the attempts in ``dialing``,
and each originate first takes a slot on the campaign's row (``next_dial_at``,
one conditional UPDATE in ``ivr/domain/campaign_dialing.take_dial_slot``). A
slot is ``1 / calls_per_second`` long and counts from the moment it is taken,
so the rate may fall below the cap but never goes over it. The functions here
are the arithmetic, pure, with the clock passed in.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from ivr.domain import campaign_dialing
from ivr.domain.campaign_dialing import DialSlot

__all__ = ["batch_size", "countdowns", "slot_interval", "take_slot"]

CHANNEL_WAIT = timedelta(seconds=1)  # all channels busy: look again this much later


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


def take_slot(campaign_id: int, calls_per_second: float, now: datetime) -> DialSlot:
    """The campaign's next originate slot (rate and channels checked in one UPDATE), or when to look again."""
    return campaign_dialing.take_dial_slot(campaign_id, now, slot_interval(calls_per_second), CHANNEL_WAIT)
