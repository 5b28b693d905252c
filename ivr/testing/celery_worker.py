"""A Celery app on the tests' broker, with a queue of its own, and a real worker in a thread (one per
process: see ``worker_in_thread``).

The broker is a SQLite file in the test's folder (the embedded default's
transport), or the one in IVR_TEST_BROKER_URL: CI sets
redis://127.0.0.1:6379/15 when Redis answers; amqp://guest:guest@127.0.0.1:5672//
works too. A configured broker that does not answer fails the test: it never
skips. Each app uses queues of its own (tasks, transcriptions), so runs sharing a broker never take
each other's tasks, and the queue is deleted afterwards.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from celery.exceptions import TimeoutError as ResultTimeout
from celery.result import AsyncResult

from ivr.config import Settings, get_settings
from ivr.tasks import TRANSCRIBE_RECORDING, create_celery
from ivr.tasks.broker import BrokerUnavailable, check_broker
from ivr.testing.missing import missing
from ivr.testing.tcp_proxy import TcpProxy

__all__ = ["BROKER_ENV", "broker_proxy", "test_broker", "celery_on_test_broker", "queues_of", "result_within",
           "worker_in_thread"]

BROKER_ENV = "IVR_TEST_BROKER_URL"


def test_broker(folder: Path) -> tuple[str, str]:
    """(broker_url, result_backend): results in Redis with a Redis broker, else in a SQLite file."""
    broker = os.environ.get(BROKER_ENV) or f"sqla+sqlite:///{folder / 'broker' / 'broker.db'}"
    results = broker if broker.startswith("redis://") else f"db+sqlite:///{folder / 'results' / 'results.db'}"
    return broker, results


test_broker.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


@contextmanager
def broker_proxy() -> Iterator[TcpProxy]:
    """A :class:`TcpProxy` in front of the test broker, to cut it as if it died (never the shared server
    itself). Needs a broker server in IVR_TEST_BROKER_URL (Redis, RabbitMQ): the embedded SQLite file
    has no connection to cut."""
    url = os.environ.get(BROKER_ENV, "")
    if not url.startswith(("redis://", "amqp://")):
        missing("broker server", f"{BROKER_ENV} names no Redis or RabbitMQ to put a proxy in front of ({url!r})")
    with TcpProxy.in_front_of(url) as proxy:
        yield proxy


@contextmanager
def celery_on_test_broker(folder: Path, settings: Settings | None = None,
                          proxy: TcpProxy | None = None) -> Iterator[Celery]:
    """A Celery app (``create_celery``) on the test broker, sending to and consuming a fresh queue;
    through ``proxy`` (:func:`broker_proxy`) when given.

    Start workers on it with :func:`worker_in_thread`.
    """
    broker, results = test_broker(folder)
    if proxy is not None:
        broker, results = proxy.url(broker), proxy.url(results) if results == broker else results
    queue = f"hotline-test-{uuid.uuid4().hex[:12]}"
    app = create_celery((settings or get_settings()).replace(
        broker_url=broker, result_backend=results, beat_schedule_file=str(folder / "beat" / "schedule"),
        task_queue=queue, transcription_queue=f"{queue}-transcription"))
    try:
        check_broker(app, timeout=5)
    except BrokerUnavailable as error:
        pytest.fail(f"{error} ({BROKER_ENV}={os.environ.get(BROKER_ENV)!r})")
    try:
        yield app
    finally:
        with app.connection_for_write() as connection:
            for name in queues_of(app):
                # Declared again first: a virtual transport (Redis) unbinds only what its channel declared.
                test_queue = app.amqp.queues[name](connection.default_channel)
                test_queue.declare()
                test_queue.delete()


def queues_of(app: Celery) -> tuple[str, str]:
    """The app's two queues (``create_celery``): everything but transcriptions, and transcriptions."""
    return app.conf.task_default_queue, app.conf.task_routes[TRANSCRIBE_RECORDING]["queue"]


SHUTDOWN_SECONDS = 120.0  # a dial task may still be waiting out a ring when the tests are done
_one_worker = threading.Lock()  # held while a worker runs in a thread (worker_in_thread)


@contextmanager
def worker_in_thread(app: Celery, hostname: str, concurrency: int = 1, pool: str = "threads",
                     queues: list[str] | None = None) -> Iterator[None]:
    """A real Celery worker on ``app`` in a thread of this process (``start_worker``), taking tasks from
    ``queues`` (default: all of the app's, transcriptions included).

    One at a time in a process: a second worker thread would share the first one's kombu event loop (the
    worker's Hub step takes the process's current loop), so each would poll and close the other's broker
    sockets and tasks would go unanswered. Give one worker every queue and the concurrency it needs;
    separate workers are separate processes (``ivr worker``), as in production.

    A worker that does not stop within ``SHUTDOWN_SECONDS`` fails the test
    with every thread's stack, so the task that held it is named.
    """
    if not _one_worker.acquire(blocking=False):
        raise RuntimeError(f"worker {hostname}: a Celery worker already runs in a thread of this process, and "
                           "two would share one event loop; give that one these queues instead")
    try:
        with start_worker(app, pool=pool, concurrency=concurrency, perform_ping_check=False,
                          shutdown_timeout=SHUTDOWN_SECONDS, hostname=hostname, queues=queues):
            yield
    except RuntimeError as error:
        if "failed to exit" not in str(error):
            raise
        raise RuntimeError(f"worker {hostname} did not stop within {SHUTDOWN_SECONDS:.0f} s; "
                           f"the threads:\n{_thread_stacks()}") from error
    finally:
        _one_worker.release()


def result_within(result: AsyncResult, timeout: float) -> Any:
    """``result.get(timeout=...)``; a task with no result in time fails the test with what would say why:
    its state, the messages still waiting in its queues, and every thread's stack (a worker held by a
    lock, or idle because the task never reached it)."""
    try:
        return result.get(timeout=timeout)
    except ResultTimeout as error:
        raise AssertionError(f"task {result.id} gave no result within {timeout:.0f} s; state {result.state}; "
                             f"{_waiting(result.app)}; the threads:\n{_thread_stacks()}") from error


def _waiting(app: Celery) -> str:
    """How many messages wait in each of the app's queues, as the broker says."""
    counts: dict[str, object] = {}
    with app.connection_for_read() as connection:
        for name in queues_of(app):
            try:
                counts[name] = connection.default_channel.queue_declare(name, passive=True).message_count
            except Exception as error:  # a diagnosis only: what the broker said is the answer then
                counts[name] = repr(error)
        return f"messages waiting {counts} on {connection.as_uri()}"  # its password masked


def _thread_stacks() -> str:
    return "\n".join(f"--- thread {ident}\n" + "".join(traceback.format_stack(frame))
                     for ident, frame in sys._current_frames().items())
