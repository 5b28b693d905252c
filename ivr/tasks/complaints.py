"""Complaint tasks: beat runs ``flag_overdue_complaints`` every ``overdue_check_minutes``."""

from __future__ import annotations

import logging

from celery import Task, shared_task

from ivr.domain import complaints

log = logging.getLogger(__name__)


@shared_task(name="hotline.flag_overdue_complaints", bind=True)
def flag_overdue_complaints(self: Task) -> int:
    """Flag the unresolved tickets past their deadline; how many were newly flagged.

    Idempotent (a flagged ticket stays flagged), so a redelivery is harmless.
    One UPDATE: too short to need a status row of its own.
    """
    flagged = complaints.flag_overdue()
    log.info("complaints flagged overdue: flagged=%d task=%s task_id=%s", flagged, self.name, self.request.id)
    return flagged
