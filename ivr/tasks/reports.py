"""Scheduled KPI reports: beat runs ``kpi_reports`` hourly; it writes what is missing.

Yesterday's daily report and the last full week's (Monday to Sunday, the
centre's days) by agent, team, queue and campaign, as HTML, CSV and XLSX under
``reports_dir``/daily and /weekly. A report already written is not written
again, so a late, repeated or redelivered run does no harm and a beat that was
down catches up on its next run.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from celery import Task, shared_task

from ivr.config import get_settings
from ivr.domain.kpis import Period
from ivr.reporting.kpi_report import FORMATS, build, report_path, write
from ivr.tasks import KPI_REPORTS

log = logging.getLogger(__name__)
BY = ("agent", "team", "queue", "campaign")


def due_periods(today: date) -> dict[str, Period]:
    """The periods that should have reports by now: yesterday, and the last full week."""
    last_sunday = today - timedelta(days=today.isoweekday())
    return {"daily": Period(today - timedelta(days=1), today - timedelta(days=1)),
            "weekly": Period(last_sunday - timedelta(days=6), last_sunday)}


@shared_task(name=KPI_REPORTS, bind=True)
def kpi_reports(self: Task) -> dict[str, Any]:
    """Write the daily and weekly reports that are missing; the paths written."""
    settings = get_settings()
    written = []
    for kind, period in due_periods(settings.today()).items():
        folder = Path(settings.reports_dir) / kind
        for by in BY:
            missing = [fmt for fmt in FORMATS if not report_path(folder, by, period, fmt).exists()]
            if not missing:
                continue
            report = build(period, by)
            written += [str(write(report, fmt, folder)) for fmt in missing]
    log.info("kpi reports: written=%d task_id=%s", len(written), self.request.id)
    return {"written": written}
