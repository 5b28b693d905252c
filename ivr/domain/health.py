"""What operators must know now, for ``ivr health``, ``GET /api/health`` and the wallboard: each problem
as an alert with a stable code, none when all is well.

Checked: the database answers; the recordings folder has ``recording_min_free_mb``
free where MixMonitor writes today; no call of the last day went unrecorded
(its files never written: a full disk). Cheap enough for the wallboard's
refresh every 2 s (one statvfs, one indexed count).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from ivr.domain import call_recordings

__all__ = ["Alert", "alerts"]

log = logging.getLogger(__name__)

FAILED_RECORDINGS_WINDOW = timedelta(days=1)
_MB = 1024 * 1024


@dataclass(frozen=True)
class Alert:
    code: str  # stable: database_unreachable, recordings_disk_low, recordings_failed
    message: str  # for a person; names no path or secret (the health endpoint needs no login)


def alerts(now: datetime) -> list[Alert]:
    """Every problem found now, in a fixed order."""
    found = []
    space = call_recordings.recording_space(now)
    if space.low:
        found.append(Alert("recordings_disk_low",
                           f"recordings folder has {space.free_bytes / _MB:.1f} MB free, under the minimum of "
                           f"{space.min_free_bytes // _MB} MB: calls may not be recorded"))
    try:
        failed = call_recordings.failed_recordings_since(now - FAILED_RECORDINGS_WINDOW)
    except SQLAlchemyError as error:
        log.error("health check: database unreachable: %s", error)
        return [Alert("database_unreachable", "the database does not answer"), *found]
    if failed:
        found.append(Alert("recordings_failed", f"{failed} call(s) of the last 24 hours were not recorded: "
                                                "their files were never written (a full disk?)"))
    return found
