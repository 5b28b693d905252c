"""Run a Celery worker (optionally with beat inside it) or beat alone, for ``ivr worker`` / ``ivr beat``.

Both check the broker first, so a dead one is one clear line, not a traceback
wall and not a worker that retries silently for minutes.
"""

from __future__ import annotations

from celery import Celery

from ivr.tasks.broker import check_broker


def run_worker(app: Celery, beat: bool, concurrency: int | None, loglevel: str, name: str | None = None,
               queues: list[str] | None = None) -> None:
    """Consume tasks until stopped (SIGTERM or Ctrl-C: a warm shutdown that finishes running tasks);
    from ``queues`` only when given, else from every queue of the installation."""
    check_broker(app)
    argv = ["worker", f"--loglevel={loglevel}"]
    if queues:
        argv.append(f"--queues={','.join(queues)}")
    if name:
        argv.append(f"--hostname={name}")
    if beat:
        argv.append("--beat")
    if concurrency:
        argv.append(f"--concurrency={concurrency}")
    app.worker_main(argv)


def run_beat(app: Celery, loglevel: str) -> None:
    """Send the periodic tasks when due. Run exactly one beat per installation."""
    check_broker(app)
    app.Beat(loglevel=loglevel).run()
