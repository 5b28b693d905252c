"""The broker: options per transport, local folders, and a start-up check.

The embedded default is kombu's SQLAlchemy transport on a SQLite file
(``sqla+sqlite:///var/celery-broker.db``): no server to run. It polls, so its
polling interval matters; but kombu hands every transport option to
``create_engine()``, and ``polling_interval`` there is a TypeError. So SQL
brokers go through ``SqlTransport`` below, which keeps transport options out
of the engine. Limits of that transport: no visibility timeout, so a task
whose worker is killed (not stopped) stays unacknowledged until someone
purges it; Redis or RabbitMQ for anything that matters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery import Celery
from kombu.exceptions import KombuError, OperationalError
from kombu.transport import sqlalchemy as kombu_sqla
from sqlalchemy import Engine, create_engine

from ivr.config import Settings
from ivr.db.session import ensure_sqlite_folder

SQL_BROKER_PREFIXES = ("sqla+", "sqlalchemy+")
SQL_RESULT_PREFIX = "db+"
SQLITE_BUSY_SECONDS = 30  # a worker, beat and publishers share one SQLite file
CHECK_RETRIES = 2
# Sending a task: a few quick tries, then kombu's OperationalError, so a sender (a task, beat) never hangs
# on a dead broker; what it sent stays in the database (pending) and is sent again by its next run.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1.0}
PUBLISH_ERRORS = (OperationalError,)


class BrokerUnavailable(Exception):
    """The broker did not answer at start-up; the message says where and why."""


class _SqlChannel(kombu_sqla.Channel):
    def _engine_from_config(self) -> Engine:
        url = self.connection.client.hostname
        connect_args = {"timeout": SQLITE_BUSY_SECONDS} if url.startswith("sqlite") else {}
        return create_engine(url, connect_args=connect_args)


class SqlTransport(kombu_sqla.Transport):
    """kombu's SQLAlchemy transport, taking ``polling_interval`` like every virtual transport."""

    Channel = _SqlChannel


REDIS_SOCKET_TIMEOUT_S = 30


def broker_options(settings: Settings) -> dict[str, Any]:
    """Celery's broker settings for ``settings.broker_url``, whatever its transport."""
    url = settings.broker_url
    for prefix in SQL_BROKER_PREFIXES:
        if url.startswith(prefix):
            return {"broker_url": url.removeprefix(prefix),
                    "broker_transport": f"{SqlTransport.__module__}:{SqlTransport.__name__}",
                    "broker_transport_options": {"polling_interval": settings.broker_poll_seconds}}
    options: dict[str, Any] = {"broker_url": url}
    if url.startswith(("redis://", "rediss://")):
        # Longer than any task runs (task_time_limit), or Redis runs it twice. A socket timeout well
        # above the 1 s BRPOP: a read that never returns (seen with redis-py 8: the consumer stuck in
        # BRPOP, no task taken and the worker unable to stop) fails and the connection is made again.
        options["broker_transport_options"] = {"visibility_timeout": settings.broker_visibility_timeout,
                                               "socket_timeout": REDIS_SOCKET_TIMEOUT_S,
                                               "socket_connect_timeout": REDIS_SOCKET_TIMEOUT_S,
                                               "socket_keepalive": True}
    return options


def result_options(settings: Settings) -> dict[str, Any]:
    """Celery's result backend settings for ``settings.result_backend``."""
    options: dict[str, Any] = {"result_backend": settings.result_backend}
    if settings.result_backend.startswith(f"{SQL_RESULT_PREFIX}sqlite"):
        options["database_engine_options"] = {"connect_args": {"timeout": SQLITE_BUSY_SECONDS}}
    return options


def ensure_local_folders(settings: Settings) -> None:
    """Create the folders of SQLite broker and result files and of beat's schedule file."""
    for url in (settings.broker_url, settings.result_backend):
        for prefix in (*SQL_BROKER_PREFIXES, SQL_RESULT_PREFIX):
            if url.startswith(prefix):
                ensure_sqlite_folder(url.removeprefix(prefix))
    Path(settings.beat_schedule_file).parent.mkdir(parents=True, exist_ok=True)


def check_broker(app: Celery, timeout: float = 10.0) -> None:
    """Connect and declare the default queue (two quick retries); else ``BrokerUnavailable``, saying where and why."""
    with app.connection_for_write() as connection:
        where = connection.as_uri()  # the password masked
        try:
            connection.ensure_connection(max_retries=CHECK_RETRIES, interval_start=1, interval_step=1,
                                         timeout=timeout)
            # Declare the default queue as a worker would: this reaches the SQL
            # transport's database too, which only opens on first use.
            app.amqp.queues[app.conf.task_default_queue](connection.default_channel).declare()
        except (KombuError, OSError, *connection.connection_errors, *connection.channel_errors) as exc:
            raise BrokerUnavailable(f"cannot reach the Celery broker at {where}: {str(exc).rstrip('.') or type(exc).__name__}. "
                                    "Start it, or set broker_url (docs/configuration.md).") from exc
