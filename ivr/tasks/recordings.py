"""Recording tasks: beat runs ``collect_recordings`` (find and complete recordings, then enqueue one
``transcribe_recording`` for each recording still pending) and ``purge_recordings`` (daily).

A recording completed while the broker was down (or by ``ivr recordings
collect``) stays ``pending``: each collect sends every pending one and marks it
``queued`` once the broker has it, so nothing catalogued waits forever and
nothing is sent twice while its task is queued.

``transcribe_recording`` claims its recording (pending -> running, one
conditional UPDATE), so a redelivered task or a second worker does nothing.
The Vosk model is loaded once per worker process, on its first transcription;
Celery's prefork pool runs one process per core by default, so a worker uses
every core. Transcriptions go to a queue of their own (``transcription_queue``),
so a backlog of them never delays the next collect, a campaign's dialling or a
report. A bad file is recorded as failed with its reason; it never fails
the task, so nothing is retried in a loop.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task

from ivr.db.models import utcnow
from ivr.domain import call_recordings
from ivr.tasks import COLLECT_RECORDINGS, PURGE_RECORDINGS, TRANSCRIBE_RECORDING
from ivr.tasks.broker import PUBLISH_ERRORS

log = logging.getLogger(__name__)

TRANSCRIBE_TIME_LIMIT_S = 3600  # a four-hour call at several times real time; the default limit is 10 minutes


@shared_task(name=COLLECT_RECORDINGS, bind=True)
def collect_recordings(self: Task) -> dict[str, Any]:
    """Catalogue new and finished recordings; one transcription task for each pending one."""
    counts = call_recordings.collect(utcnow())
    queued = queue_pending_transcriptions()
    log.info("recordings collected: found=%d completed=%d unfinished=%d queued=%d task_id=%s", counts.found,
             len(counts.completed), counts.unfinished, len(queued), self.request.id)
    return {"found": counts.found, "completed": counts.completed, "unfinished": counts.unfinished, "queued": queued}


def queue_pending_transcriptions() -> list[int]:
    """Send a transcription task for each pending recording; those the broker does not take stay pending,
    for the next collect."""
    queued = []
    for recording_id in call_recordings.pending_transcriptions(queued=False):
        try:
            # No result wanted (the outcome is in the catalogue), so nothing waits on the result store either.
            transcribe_recording.apply_async((recording_id,), ignore_result=True)
        except PUBLISH_ERRORS as error:
            log.warning("broker unavailable, transcriptions left pending for the next collect: "
                        "recording=%d error=%s", recording_id, error)
            break
        call_recordings.mark_queued(recording_id)
        queued.append(recording_id)
    return queued


@shared_task(name=TRANSCRIBE_RECORDING, bind=True, time_limit=TRANSCRIBE_TIME_LIMIT_S,
             soft_time_limit=TRANSCRIBE_TIME_LIMIT_S - 30)
def transcribe_recording(self: Task, recording_id: int) -> dict[str, Any]:
    """Transcribe and analyse one recording, once (see ``ivr.speech.call_transcripts``)."""
    from ivr.speech.call_transcripts import transcribe_recording as transcribe

    outcome = transcribe(recording_id)
    log.info("recording transcription: recording=%d outcome=%s task_id=%s", recording_id, outcome, self.request.id)
    return {"recording_id": recording_id, "outcome": outcome}


@shared_task(name=PURGE_RECORDINGS, bind=True)
def purge_recordings(self: Task) -> dict[str, Any]:
    """Delete the files of recordings past their retention date (never those on legal hold)."""
    purged = call_recordings.purge_expired(utcnow())
    log.info("recordings purged: count=%d task_id=%s", len(purged), self.request.id)
    return {"purged": purged}
