"""Background work through a real broker and a real worker (in a thread).

The broker is the test's own SQLite file, or IVR_TEST_BROKER_URL (Redis on CI),
with a queue of the test's own: see ivr/testing/celery_worker.py. A configured
broker that does not answer fails the test: it never skips.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from celery import Celery
from click.testing import CliRunner
from sqlalchemy import select

import ivr.tasks
import ivr.tasks.campaigns as campaign_tasks
from ivr.cli import main
from ivr.config import get_settings, set_settings
from ivr.db.models import CampaignAttempt, ComplaintSubject, utcnow
from ivr.db.session import session_scope
from ivr.domain import campaigns, complaints
from ivr.domain.campaigns import CampaignSpec
from ivr.tasks import (CAMPAIGN_TICK, FLAG_OVERDUE_COMPLAINTS, PLAN_CAMPAIGNS, RECONCILE_ATTEMPTS,
                       TRANSCRIBE_RECORDING, create_celery)
from ivr.tasks.broker import check_broker
from ivr.tasks.complaints import flag_overdue_complaints
from ivr.telephony.queues import QueueControl
from ivr.testing.celery_worker import celery_on_test_broker, queues_of, result_within, worker_in_thread
from ivr.testing.fake_ami import FakeAsterisk
from ivr.testing.small_book import SmallBook

RESULT_TIMEOUT = 30


@pytest.fixture
def celery_app(database_url: str, tmp_path: Path) -> Iterator[Celery]:
    """A Celery app on the test's broker and database, with a worker consuming its own queue."""
    with celery_on_test_broker(tmp_path) as app, worker_in_thread(app, "tasks@test", pool="solo"):
        yield app


def test_overdue_complaint_is_flagged_by_the_task_through_the_broker(celery_app: Celery) -> None:
    late = complaints.open_complaint(ComplaintSubject.SERVICE, None, None, "1700000009.1",
                                     now=utcnow() - timedelta(hours=49)).ticket_no
    on_time = complaints.open_complaint(ComplaintSubject.SERVICE, None, None, "1700000009.2").ticket_no

    assert flag_overdue_complaints.delay().get(timeout=RESULT_TIMEOUT) == 1

    assert complaints.get_complaint(late).overdue
    assert not complaints.get_complaint(on_time).overdue
    assert flag_overdue_complaints.delay().get(timeout=RESULT_TIMEOUT) == 0  # flagged once, stays flagged


def test_beat_sends_the_overdue_check_at_the_configured_interval(tmp_path: Path) -> None:
    settings = get_settings().replace(overdue_check_minutes=7, broker_url=f"sqla+sqlite:///{tmp_path / 'b.db'}")
    app = create_celery(settings)

    entries = [entry for entry in app.conf.beat_schedule.values() if entry["task"] == FLAG_OVERDUE_COMPLAINTS]
    assert len(entries) == 1
    assert entries[0]["schedule"] == timedelta(minutes=7)
    assert FLAG_OVERDUE_COMPLAINTS in app.tasks


def test_tasks_are_json_only_acknowledged_late_and_one_at_a_time(tmp_path: Path) -> None:
    app = create_celery(get_settings().replace(broker_url=f"sqla+sqlite:///{tmp_path / 'b.db'}",
                                               task_time_limit=120))

    assert (app.conf.task_serializer, app.conf.result_serializer, app.conf.accept_content) == (
        "json", "json", ["json"])
    assert app.conf.task_acks_late and app.conf.worker_prefetch_multiplier == 1
    assert (app.conf.task_time_limit, app.conf.task_soft_time_limit) == (120, 90)


def test_embedded_broker_creates_its_folders_on_a_fresh_machine(tmp_path: Path) -> None:
    fresh = tmp_path / "var"
    app = create_celery(get_settings().replace(
        broker_url=f"sqla+sqlite:///{fresh / 'celery-broker.db'}",
        result_backend=f"db+sqlite:///{fresh / 'celery-results.db'}",
        beat_schedule_file=str(fresh / "celerybeat-schedule")))

    check_broker(app)

    assert (fresh / "celery-broker.db").exists()


def test_worker_with_a_dead_broker_says_so_in_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(ivr.tasks, "_app", None)
    monkeypatch.setenv("IVR_BROKER_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("IVR_BEAT_SCHEDULE_FILE", str(tmp_path / "beat"))
    monkeypatch.setattr("ivr.config._settings", None)

    result = CliRunner().invoke(main, ["worker", "--no-beat"])

    assert result.exit_code == 1
    assert "cannot reach the Celery broker at redis://" in result.output
    assert "Traceback" not in result.output


def test_a_second_worker_thread_in_one_process_is_refused_and_the_first_works_on(
        database_url: str, tmp_path: Path) -> None:
    """Two worker threads would share kombu's event loop and read each other's broker sockets."""
    with celery_on_test_broker(tmp_path) as app:
        with worker_in_thread(app, "first@test"):
            with pytest.raises(RuntimeError, match="already runs in a thread of this process"):
                with worker_in_thread(app, "second@test"):
                    pass
            assert app.send_task(FLAG_OVERDUE_COMPLAINTS).get(timeout=RESULT_TIMEOUT) == 0
        with worker_in_thread(app, "next@test"):  # once the first has stopped
            assert app.send_task(FLAG_OVERDUE_COMPLAINTS).get(timeout=RESULT_TIMEOUT) == 0


def test_a_task_no_worker_takes_fails_naming_its_state_and_the_message_still_queued(
        database_url: str, tmp_path: Path) -> None:
    with celery_on_test_broker(tmp_path) as app:
        tasks, _ = queues_of(app)
        with pytest.raises(AssertionError, match=re.escape(f"state PENDING; messages waiting {{'{tasks}': 1,")):
            result_within(app.send_task(FLAG_OVERDUE_COMPLAINTS), 1)


def test_a_backlog_of_transcriptions_waits_in_its_own_queue_while_other_work_goes_on(
        database_url: str, tmp_path: Path) -> None:
    with celery_on_test_broker(tmp_path) as app:
        tasks, transcriptions = queues_of(app)
        backlog = [app.send_task(TRANSCRIBE_RECORDING, (recording_id,)) for recording_id in range(900, 905)]

        with worker_in_thread(app, "other-work@test", queues=[tasks]):
            assert app.send_task(FLAG_OVERDUE_COMPLAINTS).get(timeout=RESULT_TIMEOUT) == 0
        assert [result.state for result in backlog] == ["PENDING"] * 5  # not taken by that worker

        with worker_in_thread(app, "transcriber@test", queues=[transcriptions]):
            outcomes = [result.get(timeout=RESULT_TIMEOUT)["outcome"] for result in backlog]
        assert outcomes == ["skipped"] * 5  # no such recordings: each claimed nothing


def test_worker_refuses_a_queue_the_installation_does_not_have(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    monkeypatch.setattr(ivr.tasks, "_app", None)
    monkeypatch.setenv("IVR_BEAT_SCHEDULE_FILE", str(tmp_path / "beat"))
    monkeypatch.setattr("ivr.config._settings", None)

    result = CliRunner().invoke(main, ["worker", "--no-beat", "--queues", "hotline-transcription,hotline-typo"])

    assert result.exit_code == 2
    assert "hotline-typo: not a queue of this installation (hotline, hotline-transcription)" in result.output


def test_beat_sends_the_campaign_planning_tick_and_reconciliation_at_their_intervals(tmp_path: Path) -> None:
    settings = get_settings().replace(campaign_tick_seconds=7, campaign_reconcile_seconds=90, campaign_plan_minutes=20,
                                      broker_url=f"sqla+sqlite:///{tmp_path / 'b.db'}")
    app = create_celery(settings)

    entries = {entry["task"]: entry for entry in app.conf.beat_schedule.values()}
    assert entries[CAMPAIGN_TICK]["schedule"] == timedelta(seconds=7)
    assert entries[RECONCILE_ATTEMPTS]["schedule"] == timedelta(seconds=90)
    assert entries[PLAN_CAMPAIGNS]["schedule"] == timedelta(minutes=20)
    assert entries[PLAN_CAMPAIGNS]["options"] == {"expires": 1200.0}  # a late run is dropped, not piled up
    assert {CAMPAIGN_TICK, PLAN_CAMPAIGNS, RECONCILE_ATTEMPTS, "hotline.dial_attempt"} <= set(app.tasks)


def test_a_dial_task_delivered_twice_through_the_broker_dials_once(celery_app: Celery, small_book: SmallBook,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeAsterisk()
    monkeypatch.setattr(campaign_tasks, "_control", QueueControl(fake))
    now = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai
    monkeypatch.setattr(campaign_tasks, "clock", lambda: now)
    campaign_id = campaigns.create_campaign(CampaignSpec("due", "premium due", due_within_days=30), "tester", now).id
    campaigns.start_campaign(campaign_id, now)
    campaigns.plan_attempts(campaign_id, now)
    first = min(a.id for a in _attempts(campaign_id))

    results = [campaign_tasks.dial_attempt.delay(first).get(timeout=RESULT_TIMEOUT) for _ in range(2)]

    assert [r["action"] for r in results] == ["originated", "skipped"]
    assert len(fake.originates()) == 1


def _attempts(campaign_id: int) -> list[CampaignAttempt]:
    with session_scope() as session:
        return list(session.scalars(select(CampaignAttempt).where(CampaignAttempt.campaign_id == campaign_id)))


def test_the_kpi_reports_task_writes_yesterdays_and_last_weeks_reports_once(celery_app: Celery,
                                                                             tmp_path: Path) -> None:
    from ivr.tasks.reports import due_periods, kpi_reports

    set_settings(get_settings().replace(reports_dir=str(tmp_path / "reports")))
    periods = due_periods(date(2026, 12, 4))  # a Friday
    assert (periods["daily"].first, periods["daily"].last) == (date(2026, 12, 3), date(2026, 12, 3))
    assert (periods["weekly"].first, periods["weekly"].last) == (date(2026, 11, 23), date(2026, 11, 29))

    first = kpi_reports.delay().get(timeout=RESULT_TIMEOUT)["written"]
    again = kpi_reports.delay().get(timeout=RESULT_TIMEOUT)["written"]

    names = sorted(Path(path).relative_to(tmp_path / "reports").as_posix() for path in first)
    assert len(names) == 2 * 4 * 3  # daily and weekly; by agent, team, queue and campaign; html, csv and xlsx
    assert all(name.startswith(("daily/kpi-", "weekly/kpi-")) for name in names)
    assert again == []  # written once
    settings = get_settings().replace(broker_url=f"sqla+sqlite:///{tmp_path / 'b.db'}")
    entries = {entry["task"]: entry for entry in create_celery(settings).conf.beat_schedule.values()}
    assert entries["hotline.kpi_reports"]["schedule"] == timedelta(hours=1)
