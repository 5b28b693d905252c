"""Background work on Celery: the app, its configuration and the beat schedule, in one place.

Layout: this module builds the Celery app from ``ivr.config`` settings and
nothing else (the way Flask's pattern configures Celery from the app's config);
``broker.py`` adapts and checks the broker; ``worker.py`` runs a worker or beat
for ``ivr worker`` / ``ivr beat``; each feature's tasks live in a module of
their own (``complaints.py``), listed in ``TASK_MODULES``. Tasks call domain
services; the domain never imports Celery.

Tasks read the process-wide settings (``get_settings()``) like every other
entry point, and the worker builds its app from those same settings, so the
task, its broker and its database always agree. No Flask app context is
needed: tasks never touch Flask.

Rules for tasks (issues 5 and 6 add campaigns and transcriptions): named
``hotline.<what>``; arguments are ids, JSON only; idempotent, since with
``task_acks_late`` a task whose worker dies is delivered again; a long job
keeps its own status row in the domain (pending, running, done, failed) rather
than relying on the result backend, whose results expire after a day.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Celery
from kombu import Exchange, Queue

from ivr.config import Settings, get_settings
from ivr.tasks.broker import PUBLISH_RETRY_POLICY, broker_options, ensure_local_folders, result_options

__all__ = ["TASK_MODULES", "beat_schedule", "create_celery", "get_celery", "task_queues"]

TASK_MODULES = ["ivr.tasks.complaints", "ivr.tasks.campaigns", "ivr.tasks.recordings", "ivr.tasks.reports"]
FLAG_OVERDUE_COMPLAINTS = "hotline.flag_overdue_complaints"
CAMPAIGN_TICK, RECONCILE_ATTEMPTS = "hotline.campaign_tick", "hotline.reconcile_attempts"
PLAN_CAMPAIGNS = "hotline.plan_campaigns"
COLLECT_RECORDINGS, PURGE_RECORDINGS = "hotline.collect_recordings", "hotline.purge_recordings"
TRANSCRIBE_RECORDING = "hotline.transcribe_recording"
KPI_REPORTS = "hotline.kpi_reports"
REPORTS_EVERY = timedelta(hours=1)  # writes only what is missing: yesterday's and last week's
SOFT_LIMIT_MARGIN_SECONDS = 30


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every periodic task, with its interval from settings. A run that waits longer
    than one interval (no worker up) expires rather than piling up behind the next."""
    overdue_every = timedelta(minutes=settings.overdue_check_minutes)
    tick_every = timedelta(seconds=settings.campaign_tick_seconds)
    reconcile_every = timedelta(seconds=settings.campaign_reconcile_seconds)
    plan_every = timedelta(minutes=settings.campaign_plan_minutes)
    collect_every, purge_every = timedelta(seconds=settings.recording_collect_seconds), timedelta(days=1)
    return {
        "flag-overdue-complaints": {"task": FLAG_OVERDUE_COMPLAINTS, "schedule": overdue_every,
                                    "options": {"expires": overdue_every.total_seconds()}},
        "campaign-tick": {"task": CAMPAIGN_TICK, "schedule": tick_every,
                          "options": {"expires": tick_every.total_seconds()}},
        "reconcile-attempts": {"task": RECONCILE_ATTEMPTS, "schedule": reconcile_every,
                               "options": {"expires": reconcile_every.total_seconds()}},
        "plan-campaigns": {"task": PLAN_CAMPAIGNS, "schedule": plan_every,
                           "options": {"expires": plan_every.total_seconds()}},
        "collect-recordings": {"task": COLLECT_RECORDINGS, "schedule": collect_every,
                               "options": {"expires": collect_every.total_seconds()}},
        "purge-recordings": {"task": PURGE_RECORDINGS, "schedule": purge_every,
                             "options": {"expires": purge_every.total_seconds()}},
        "kpi-reports": {"task": KPI_REPORTS, "schedule": REPORTS_EVERY,
                        "options": {"expires": REPORTS_EVERY.total_seconds()}},
    }


def task_queues(settings: Settings) -> list[str]:
    """The broker queues of this installation: everything but transcriptions, then transcriptions."""
    return [settings.task_queue, settings.transcription_queue]


def create_celery(settings: Settings | None = None) -> Celery:
    """A Celery app configured only from ``settings`` (default: the process-wide ones)."""
    settings = settings or get_settings()
    ensure_local_folders(settings)
    app = Celery("hotline", include=TASK_MODULES, set_as_current=False)
    app.conf.update(
        **broker_options(settings),
        **result_options(settings),
        task_serializer="json", result_serializer="json",
        accept_content=["json"], result_accept_content=["json"],
        task_default_queue=settings.task_queue,
        # A worker takes every queue listed here unless told which (ivr worker --queues).
        task_queues=[Queue(name, Exchange(name), routing_key=name) for name in task_queues(settings)],
        task_routes={TRANSCRIBE_RECORDING: {"queue": settings.transcription_queue}},
        # No remote control (celery inspect/control): its broadcast channel is a Redis pub/sub socket whose
        # read blocked the consumer's event loop (kombu 5.7, redis-py 8.2), so a worker stopped taking
        # tasks and could not be stopped; nothing here uses remote control.
        worker_enable_remote_control=False,
        # A task is acknowledged when it has finished, so a worker that dies
        # mid-task leaves it to another; each worker process takes one at a time.
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        task_time_limit=settings.task_time_limit,
        task_soft_time_limit=max(1, settings.task_time_limit - SOFT_LIMIT_MARGIN_SECONDS),
        broker_connection_retry_on_startup=True,
        task_publish_retry_policy=PUBLISH_RETRY_POLICY,
        # Our logging (ivr.logs, configured by the ivr command) stays in charge.
        worker_hijack_root_logger=False,
        timezone="UTC", enable_utc=True,
        beat_schedule=beat_schedule(settings),
        beat_schedule_filename=settings.beat_schedule_file,
    )
    return app


_app: Celery | None = None


def get_celery() -> Celery:
    """The process's Celery app, built on first use from the process-wide settings.

    It becomes Celery's default app, so ``some_task.delay()`` from any thread
    (the web, the CLI) sends to the configured broker.
    """
    global _app
    if _app is None:
        _app = create_celery()
        _app.set_default()
    return _app


def __getattr__(name: str) -> Celery:
    """``ivr.tasks.app`` for Celery's own tools: ``celery -A ivr.tasks inspect ping``."""
    if name == "app":
        return get_celery()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
