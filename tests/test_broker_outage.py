"""The broker goes away and comes back (issue 8, Faults): campaigns pause and resume with no attempt
lost or repeated, recordings catalogued meanwhile are transcribed once it returns, and sending a
task fails fast instead of hanging its sender. The broker is the real test broker (Redis on CI)
behind a TCP proxy the test cuts (ivr/testing/tcp_proxy.py); the workers are real Celery workers.
Nothing on a call's or the console's path sends a task at all: that is checked here on the source
and by a real call in tests/acceptance/test_infra_faults.py."""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from celery import Celery, Task
from kombu.exceptions import OperationalError
from sqlalchemy import select

import ivr
import ivr.tasks.campaigns as campaign_tasks
import ivr.tasks.recordings as recording_tasks
from ivr.config import get_settings, set_settings
from ivr.db.models import AttemptStatus, CallRecording, CampaignAttempt, TranscriptionStatus, utcnow
from ivr.db.session import session_scope
from ivr.domain import campaigns
from ivr.domain.book_import import write_book
from ivr.domain.call_recordings import transcript_of
from ivr.domain.campaigns import CampaignSpec
from ivr.domain.demo_data import build_demo_book
from ivr.tasks import broker, create_celery
from ivr.telephony.queues import QueueControl
from ivr.testing.celery_worker import broker_proxy, celery_on_test_broker, worker_in_thread
from ivr.testing.fake_ami import FakeAsterisk
from ivr.testing.speech_audio import korean_model, spoken_parts_wav
from ivr.testing.tcp_proxy import TcpProxy
from ivr.testing.waiting import eventually

RESULT_TIMEOUT = 60  # the worker reconnects with Celery's backoff after a cut
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai: inside the calling window
BUSY = 5  # OriginateResponse reason: the line was busy


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    with broker_proxy() as proxy:
        yield proxy


@pytest.fixture
def app(database_url: str, tmp_path: Path, proxy: TcpProxy) -> Iterator[Celery]:
    """The test's Celery app through the proxy, with a real worker (two threads) consuming its queue."""
    with celery_on_test_broker(tmp_path, proxy=proxy) as app, worker_in_thread(app, "outage@test", concurrency=2):
        yield app
        proxy.restore()  # the queue is deleted through it afterwards


class _AllBusy(dict[str, int]):
    """Every number called is busy: each first attempt ends at once (its retry is hours later)."""

    def get(self, key: str, default: int | None = None) -> int:  # type: ignore[override]
        return BUSY


def test_a_campaign_cut_off_from_its_broker_resumes_where_it_was_with_no_attempt_lost_or_repeated(
        app: Celery, proxy: TcpProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeAsterisk()
    fake.originate_reasons = _AllBusy()
    monkeypatch.setattr(campaign_tasks, "_control", QueueControl(fake))
    monkeypatch.setattr(campaign_tasks, "clock", lambda: NOW)
    with session_scope() as session:
        write_book(session, build_demo_book(6, seed=3, today=date(2026, 11, 20)), "test-salt")
    campaign_id = campaigns.create_campaign(CampaignSpec("outage", "premium due", due_within_days=60,
                                                         include_grace=True, max_channels=3, calls_per_second=20),
                                            "tester", NOW).id
    campaigns.start_campaign(campaign_id, NOW)
    campaigns.plan_attempts(campaign_id, NOW)
    planned = {a.id for a in _attempts(campaign_id) if a.not_before <= NOW}
    assert len(planned) >= 6, "the book should give the campaign several attempts"

    assert campaign_tasks.campaign_tick.delay().get(timeout=RESULT_TIMEOUT) == {str(campaign_id): 3}
    eventually(lambda: len(fake.originates()) == 3 and sum(a.status is AttemptStatus.BUSY
                                                           for a in _attempts(campaign_id)) == 3,
               what="the first tick's three calls, ended")

    proxy.cut()  # the broker dies between ticks: beat cannot send, the worker loses its connection
    with pytest.raises(OperationalError):
        campaign_tasks.campaign_tick.delay()  # fails after a few quick retries (PUBLISH_RETRY_POLICY)
    assert len(fake.originates()) == 3  # paused: nothing dialled while it is gone
    assert sum(a.status is AttemptStatus.PLANNED for a in _attempts(campaign_id) if a.id in planned) \
        == len(planned) - 3

    proxy.restore()
    eventually(lambda: _tick_until_all_dialled(campaign_id, planned), 90, "every planned attempt dialled", 1.0)

    attempts = {a.id: a for a in _attempts(campaign_id)}
    assert {attempts[i].status for i in planned} == {AttemptStatus.BUSY}  # none lost
    dialled = Counter(str(action["ChannelId"]) for action in fake.originates())
    assert set(dialled) == {attempts[i].channel_id for i in planned}
    assert set(dialled.values()) == {1}  # none repeated


def _attempts(campaign_id: int) -> list[CampaignAttempt]:
    with session_scope() as session:
        return list(session.scalars(select(CampaignAttempt).where(CampaignAttempt.campaign_id == campaign_id)))


def _tick_until_all_dialled(campaign_id: int, planned: set[int]) -> bool:
    """What beat does, once a second: a tick. Ticks sent while the worker is still reconnecting run together
    when it is back, offering the same attempts more than once: each is dialled once all the same."""
    if any(a.status in (AttemptStatus.PLANNED, AttemptStatus.DIALING) for a in _attempts(campaign_id)
           if a.id in planned):
        _send(campaign_tasks.campaign_tick)
        return False
    return True


def _send(task: Task) -> None:
    """Send as beat does (no result awaited: the result store's own connection was cut too)."""
    try:
        task.apply_async(ignore_result=True)
    except OperationalError:  # the sender's pooled connection, broken by the cut, is made again next time
        pass


def test_recordings_catalogued_while_the_broker_is_down_are_transcribed_when_it_returns(
        app: Celery, proxy: TcpProxy, tmp_path: Path) -> None:
    korean_model()  # skipped (failed on CI) without the model
    root = tmp_path / "recordings"
    previous = get_settings()
    set_settings(previous.replace(recordings_dir=str(root), recording_stable_seconds=0,
                                  speech_phrases="안녕하세요,보험료,납입,안내"))
    try:
        folder = root / "calls" / f"{utcnow():%Y-%m-%d}"
        folder.mkdir(parents=True)
        spoken_parts_wav([0.5, "보험료 납입 안내", 0.5], folder / "1765000000.7-caller.wav")
        spoken_parts_wav([0.5, "안녕하세요", 0.5], folder / "1765000000.7-agent.wav")

        proxy.cut()
        # The collect runs (here, as a worker already holding it would) while the broker is gone.
        first = recording_tasks.collect_recordings.apply().get()
        second = recording_tasks.collect_recordings.apply().get()
        assert (first["found"], len(second["completed"]), second["queued"]) == (1, 1, [])
        recording_id = second["completed"][0]
        assert _transcription(recording_id) is TranscriptionStatus.PENDING  # kept for the next collect

        proxy.restore()
        eventually(lambda: _transcription(recording_id) is not TranscriptionStatus.PENDING
                   or _send(recording_tasks.collect_recordings), 90, "the next collect sending it", 1.0)
        eventually(lambda: _transcription(recording_id) in (TranscriptionStatus.DONE, TranscriptionStatus.FAILED),
                   120, "the recording transcribed", 0.5)
        assert _transcription(recording_id) is TranscriptionStatus.DONE
        said = {(turn.speaker, word[0]) for turn in transcript_of(recording_id) for word in turn.words}
        assert ("caller", "보험료") in said and ("agent", "안녕하세요") in said, said
        assert recording_tasks.collect_recordings.apply().get()["queued"] == []  # sent once
    finally:
        set_settings(previous)


def _transcription(recording_id: int) -> TranscriptionStatus:
    with session_scope() as session:
        return session.scalars(select(CallRecording.transcription_status)
                               .where(CallRecording.id == recording_id)).one()


def test_a_locked_embedded_broker_file_fails_the_send_quickly_and_leaves_it_for_later(tmp_path: Path) -> None:
    broker_file = tmp_path / "broker.db"
    app = create_celery(get_settings().replace(broker_url=f"sqla+sqlite:///{broker_file}",
                                               result_backend=f"db+sqlite:///{tmp_path / 'results.db'}"))
    sqlite3.connect(broker_file).close()
    holder = sqlite3.connect(broker_file, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the file: nobody else can write
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(broker, "SQLITE_BUSY_SECONDS", 0.2)
            with pytest.raises(OperationalError):
                app.send_task(recording_tasks.TRANSCRIBE_RECORDING, (1,))
    finally:
        holder.close()
    (tmp_path / "gone").mkdir()
    missing_folder = create_celery(get_settings().replace(
        broker_url=f"sqla+sqlite:///{tmp_path / 'gone' / 'broker.db'}",
        result_backend=f"db+sqlite:///{tmp_path / 'results.db'}"))
    (tmp_path / "gone").rmdir()  # the folder removed under a running installation
    with pytest.raises(OperationalError):
        missing_folder.send_task(recording_tasks.TRANSCRIBE_RECORDING, (1,))


CALL_AND_CONSOLE_PACKAGES = ("flows", "telephony", "web", "domain", "switchboard", "speech")
TASK_IMPORT = re.compile(r"^\s*(from|import)\s+(celery|kombu|ivr\.tasks)\b")


def test_nothing_on_a_call_or_in_the_console_sends_a_task() -> None:
    """A call or a console request never waits on the broker: none of their code imports Celery or the
    tasks. Background work is found by the periodic tasks in the database instead (docs/faults.md)."""
    package = Path(ivr.__file__).parent
    offenders = [f"{source.relative_to(package)}: {line.strip()}"
                 for name in CALL_AND_CONSOLE_PACKAGES for source in sorted((package / name).rglob("*.py"))
                 for line in source.read_text(encoding="utf-8").splitlines() if TASK_IMPORT.match(line)]
    assert offenders == []
