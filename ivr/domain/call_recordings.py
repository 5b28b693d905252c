"""The catalogue of recorded calls: found on disk, catalogued once closed, hashed, kept, verified, purged.

Asterisk's MixMonitor (``[hotline-record]`` in asterisk-conf/extensions.conf)
writes every call as ``calls/<YYYY-MM-DD>/<unique id>-caller.wav`` (what the
caller said, ``r()``), ``-agent.wav`` (what the IVR and the agent said,
``t()``) and ``<unique id>.wav`` (both), named only from the channel's unique
id, which Asterisk or our dialer made. Nothing tells us when a call ends, so
``collect`` looks: a file is new, then still being written (its WAV header
says 0 bytes of audio until MixMonitor closes it), then closed and of a size
that has not changed for ``recording_stable_seconds``: only then is it
hashed, linked to its call, agent, queue and campaign, given its retention
date, and offered for transcription. A file that is never closed (Asterisk
died mid-call) is kept and marked ``unfinished`` after ``UNFINISHED_AFTER``.
A file still not closed and unchanged ``recording_failed_seconds`` after its
call ended was never written (MixMonitor could not write: a full disk) and
is marked ``failed``; each collect also checks the free space where
MixMonitor writes against ``recording_min_free_mb``. Both are alerts
(``ivr.domain.health``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import struct
import wave
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ivr.config import get_settings
from ivr.db.models import (Call, CallRecording, CampaignAttempt, Policy, QueueCall, RecordingPause, RecordingStatus,
                           TranscriptionStatus, TranscriptTurn, aware_utc)
from ivr.db.session import insert_if_absent, session_scope
from ivr.domain import audit
from ivr.domain.errors import NotFound, ValidationError
from ivr.domain.values import recording_path

__all__ = ["CALLS_FOLDER", "CollectCounts", "FileProblem", "PauseView", "RecordingFiles", "RecordingSpace", "TurnRecord",
           "claim_transcription", "collect", "fail_transcription", "files_of", "get_recording", "latest_recordings",
           "failed_recordings_since", "mark_queued", "recording_space",
           "pause_recording", "pauses_of", "pending_transcriptions", "purge_expired", "resume_recording", "retention_years", "save_transcript", "search_transcripts",
           "set_legal_hold", "transcript_of", "verify_recordings", "wav_closed"]

log = logging.getLogger(__name__)

CALLS_FOLDER = "calls"  # under recordings_dir; the dialplan writes the same path
CALLER_SUFFIX, AGENT_SUFFIX = "-caller.wav", "-agent.wav"
UNFINISHED_AFTER = timedelta(hours=12)  # a file still open and unchanged this long was never closed
DISCOVER_DAYS = 2  # new files are looked for in today's and yesterday's folders (a call spanning midnight)
_UNIQUE_ID = re.compile(r"^[0-9A-Za-z.-]{1,64}$")  # Asterisk's 1733300000.12, or our dialer's UUID
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class RecordingFiles:
    caller: Path
    agent: Path
    mixed: Path
    playback: Path  # the stereo file for the browser, written by transcription


@dataclass(frozen=True)
class CollectCounts:
    found: int  # newly seen on disk
    completed: list[int]  # recording ids catalogued now: ready for transcription
    unfinished: int
    failed: int = 0  # found not written now (their call ended, their files empty or cut short)


@dataclass(frozen=True)
class RecordingSpace:
    """Free space where MixMonitor writes today's calls."""

    folder: Path
    free_bytes: int
    min_free_bytes: int

    @property
    def low(self) -> bool:
        return self.free_bytes < self.min_free_bytes


@dataclass(frozen=True)
class FileProblem:
    recording_id: int
    path: str
    problem: str  # "changed" or "missing"


def files_of(base_path: str) -> RecordingFiles:
    """The files of a recording whose base path (relative, no suffix) is ``base_path``; a path that
    would leave the recordings folder (absolute, ``..``) is refused, whatever the catalogue says."""
    base = Path(get_settings().recordings_dir) / recording_path(base_path)
    return RecordingFiles(base.with_name(base.name + CALLER_SUFFIX), base.with_name(base.name + AGENT_SUFFIX),
                          base.with_name(base.name + ".wav"), base.with_name(base.name + "-stereo.wav"))


def wav_closed(path: Path) -> bool:
    """Whether MixMonitor has closed this WAV: its RIFF size is the file's and its data chunk is not empty.

    Asterisk writes the header with sizes of 0 and fills them in when the
    file is closed; until then the file is still being recorded.
    """
    try:
        with path.open("rb") as fh:
            header = fh.read(12)
            size = path.stat().st_size
            if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
                return False
            if struct.unpack("<I", header[4:8])[0] != size - 8:
                return False
            while chunk := fh.read(8):
                if len(chunk) < 8:
                    return False
                name, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if name == b"data":
                    return length > 0
                fh.seek(length + (length & 1), 1)
    except OSError:
        return False
    return False


def retention_years(call_type: str) -> int:
    """Years a call of this type is kept (``recording_retention_years``, ``type=years,...``); 5 when unnamed."""
    rules = dict(part.split("=", 1) for part in get_settings().recording_retention_years.split(",") if "=" in part)
    return int(rules.get(call_type, "5"))


# --- collecting ---------------------------------------------------------------------------------


def collect(now: datetime) -> CollectCounts:
    """Catalogue new recordings on disk and complete those MixMonitor has closed (idempotent)."""
    space = recording_space(now)
    if space.low:
        log.error("recordings folder low on space, calls may not be recorded: folder=%s free_bytes=%d "
                  "min_free_bytes=%d", space.folder, space.free_bytes, space.min_free_bytes)
    found = _discover(now)
    completed, unfinished, failed = [], 0, 0
    with session_scope() as session:  # a failed one is looked at again: written after all, it completes
        open_ids = list(session.scalars(select(CallRecording.id).where(
            CallRecording.status.in_([RecordingStatus.RECORDING, RecordingStatus.FAILED])).order_by(CallRecording.id)))
    for recording_id in open_ids:
        state = _look_at(recording_id, now, space)
        if state == "complete":
            completed.append(recording_id)
        unfinished += state == "unfinished"
        failed += state == "failed"
    return CollectCounts(found, completed, unfinished, failed)


def recording_space(now: datetime) -> RecordingSpace:
    """Free space in today's calls folder (a mount of its own, perhaps), else ``calls/``, else the recordings
    folder; none of them there: nothing can be written, 0 bytes free."""
    root = Path(get_settings().recordings_dir)
    minimum = get_settings().recording_min_free_mb * 1024 * 1024
    for folder in (root / CALLS_FOLDER / f"{now:%Y-%m-%d}", root / CALLS_FOLDER, root):
        if folder.is_dir():
            return RecordingSpace(folder, shutil.disk_usage(folder).free, minimum)
    return RecordingSpace(root, 0, minimum)


def failed_recordings_since(since: datetime) -> int:
    """How many calls since ``since`` were not recorded (their files never written)."""
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(CallRecording).where(
            CallRecording.status == RecordingStatus.FAILED, CallRecording.started_at >= since)) or 0


def _discover(now: datetime) -> int:
    """Catalogue the files of the last ``DISCOVER_DAYS`` dated folders (UTC days, as the dialplan names them)."""
    root = Path(get_settings().recordings_dir) / CALLS_FOLDER
    days = [f"{now - timedelta(days=back):%Y-%m-%d}" for back in range(DISCOVER_DAYS)]
    callers = sorted(path for day in days for path in (root / day).glob(f"*{CALLER_SUFFIX}"))
    found = 0
    with session_scope() as session:
        known = set(session.scalars(select(CallRecording.unique_id).where(  # dated folders sort as text
            CallRecording.base_path >= f"{CALLS_FOLDER}/{days[-1]}/")))
        for caller in callers:
            unique_id = caller.name[:-len(CALLER_SUFFIX)]
            if unique_id in known or not _UNIQUE_ID.match(unique_id):
                continue
            base_path = f"{CALLS_FOLDER}/{caller.parent.name}/{unique_id}"
            insert_if_absent(session, CallRecording, unique_id=unique_id, base_path=base_path, started_at=now,
                             last_seen_at=now, last_seen_bytes=-1)
            found += 1
            log.info("recording found: unique_id=%s path=%s", unique_id, base_path)
    return found


def _look_at(recording_id: int, now: datetime, space: RecordingSpace) -> str:
    """``complete``, ``unfinished``, ``failed``, or ``recording`` (still written, or not yet stable)."""
    with session_scope() as session:
        row = session.get(CallRecording, recording_id)
        assert row is not None
        files = files_of(row.base_path)
        sizes = sum(path.stat().st_size if path.exists() else 0 for path in (files.caller, files.agent))
        stable_since = row.last_seen_at or now
        if sizes != row.last_seen_bytes:
            row.last_seen_bytes, row.last_seen_at = sizes, now
            return "recording"
        if wav_closed(files.caller) and wav_closed(files.agent):
            if now - stable_since < timedelta(seconds=get_settings().recording_stable_seconds):
                return "recording"
            _complete(session, row, files, now)
            return "complete"
        if row.status is RecordingStatus.FAILED:
            return "recording"  # already alerted; completes if its files are written after all
        if _never_written(session, row.unique_id, now, stable_since):
            row.status = RecordingStatus.FAILED
            _link(session, row)
            log.error("recording not written, its call has ended: recording=%d unique_id=%s bytes=%d folder=%s "
                      "free_bytes=%d", row.id, row.unique_id, sizes, space.folder, space.free_bytes)
            return "failed"
        if now - stable_since >= UNFINISHED_AFTER:
            row.status = RecordingStatus.UNFINISHED
            _link(session, row)
            _audit(session, audit.SYSTEM_ACTOR, row, "unfinished", now, retain_until=row.retain_until)
            log.warning("recording never closed, kept as unfinished: recording=%d unique_id=%s", row.id, row.unique_id)
            return "unfinished"
        return "recording"


def _never_written(session: Session, unique_id: str, now: datetime, stable_since: datetime) -> bool:
    """Its call ended ``recording_failed_seconds`` ago and the files have not changed since: MixMonitor
    could not write them. (A call put through to an agent after its IVR part ended keeps growing.)"""
    ended_at = session.scalar(select(Call.ended_at).where(Call.unique_id == unique_id))
    after = timedelta(seconds=get_settings().recording_failed_seconds)
    return ended_at is not None and now - aware_utc(ended_at) >= after and now - stable_since >= after


def _complete(session: Session, row: CallRecording, files: RecordingFiles, now: datetime) -> None:
    row.caller_bytes, row.agent_bytes = files.caller.stat().st_size, files.agent.stat().st_size
    row.caller_sha256, row.agent_sha256 = _sha256(files.caller), _sha256(files.agent)
    row.duration_seconds = round(_wav_seconds(files.caller), 2)
    row.status, row.completed_at = RecordingStatus.COMPLETE, now
    row.transcription_status = TranscriptionStatus.PENDING
    _link(session, row)
    _audit(session, audit.SYSTEM_ACTOR, row, "catalogued", now, caller_sha256=row.caller_sha256,
           agent_sha256=row.agent_sha256, caller_bytes=row.caller_bytes, agent_bytes=row.agent_bytes,
           retain_until=row.retain_until)
    log.info("recording complete: recording=%d unique_id=%s seconds=%s type=%s retain_until=%s",
             row.id, row.unique_id, row.duration_seconds, row.call_type, row.retain_until)


def _link(session: Session, row: CallRecording) -> None:
    """Call, customer, agent, queue, campaign and policy by the unique id; the retention date from them."""
    call = session.scalar(select(Call).where(Call.unique_id == row.unique_id))
    if call is not None:
        row.call_id, row.customer_id, row.started_at = call.id, call.customer_id, aware_utc(call.started_at)
    wait = session.scalar(select(QueueCall).where(QueueCall.unique_id == row.unique_id))
    if wait is not None:
        row.agent_id, row.queue = wait.agent_id, wait.queue
    attempt = session.scalar(select(CampaignAttempt).where(CampaignAttempt.channel_id == row.unique_id))
    policy_end: date | None = None
    if attempt is not None:
        row.direction, row.call_type = "outbound", "renewal"
        row.campaign_id, row.policy_id, row.customer_id = attempt.campaign_id, attempt.policy_id, attempt.customer_id
        policy = session.get(Policy, attempt.policy_id)
        policy_end = policy.end_date if policy is not None else None
    kept = _years_after(row.started_at.date(), retention_years(row.call_type))
    row.retain_until = max(kept, policy_end) if policy_end else kept
    session.execute(update(RecordingPause).where(RecordingPause.unique_id == row.unique_id,
                                                 RecordingPause.recording_id.is_(None))
                    .values(recording_id=row.id).execution_options(synchronize_session=False))


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return date(day.year + years, 3, 1)


def _wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / float(wav.getframerate())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --- reading, holding, verifying, purging -------------------------------------------------------


def get_recording(recording_id: int) -> CallRecording:
    with session_scope() as session:
        row = session.get(CallRecording, recording_id)
        if row is None:
            raise NotFound(f"no recording {recording_id}", "recording_not_found")
        return row


def set_legal_hold(recording_id: int, on: bool, *, actor: str) -> None:
    """A recording under legal hold is never purged, whatever its retention date."""
    with session_scope() as session:
        row = session.get(CallRecording, recording_id)
        if row is None:
            raise NotFound(f"no recording {recording_id}", "recording_not_found")
        row.legal_hold = on
        _audit(session, actor, row, "legal_hold", on=on)
    log.info("recording legal hold: recording=%d on=%s", recording_id, on)


def verify_recordings(actor: str = audit.SYSTEM_ACTOR) -> tuple[int, list[FileProblem]]:
    """Hash every catalogued file again: how many were checked, and each that changed or vanished
    (each also an audit row: the evidence that a file was found changed, and when)."""
    checked, problems = 0, []
    with session_scope() as session:
        rows = session.execute(select(CallRecording.id, CallRecording.base_path, CallRecording.caller_sha256,
                                      CallRecording.agent_sha256).where(
            CallRecording.status == RecordingStatus.COMPLETE).order_by(CallRecording.id)).all()
    for row in rows:
        files = files_of(row.base_path)
        for path, expected in ((files.caller, row.caller_sha256), (files.agent, row.agent_sha256)):
            checked += 1
            if not path.exists():
                problems.append(FileProblem(row.id, str(path), "missing"))
            elif _sha256(path) != expected:
                problems.append(FileProblem(row.id, str(path), "changed"))
    for problem in problems:
        log.error("recording file %s: recording=%d path=%s", problem.problem, problem.recording_id, problem.path)
    if problems:
        with session_scope() as session:
            audit.record_many(session, [audit.Change(actor, audit.RECORDING, str(p.recording_id), "verify_failed",
                                                     {"path": p.path, "problem": p.problem}) for p in problems])
    return checked, problems


def purge_expired(now: datetime, actor: str = audit.SYSTEM_ACTOR) -> list[int]:
    """Delete the files of recordings past their retention date and not on legal hold; the rows stay."""
    today = now.astimezone(get_settings().zone()).date()
    with session_scope() as session:
        rows = list(session.scalars(select(CallRecording).where(
            CallRecording.status.in_([RecordingStatus.COMPLETE, RecordingStatus.UNFINISHED]),
            CallRecording.retain_until < today, CallRecording.legal_hold.is_(False))))
        for row in rows:
            files = files_of(row.base_path)
            for path in (files.caller, files.agent, files.mixed, files.playback):
                path.unlink(missing_ok=True)
            row.status, row.purged_at = RecordingStatus.PURGED, now
            log.warning("recording purged: recording=%d unique_id=%s retain_until=%s", row.id, row.unique_id,
                        row.retain_until)
        audit.record_many(session, [audit.Change(actor, audit.RECORDING, str(row.id), "purged",
                                                 {"unique_id": row.unique_id, "retain_until": row.retain_until})
                                    for row in rows], now)
        return [row.id for row in rows]


# --- pauses -------------------------------------------------------------------------------------


def pause_recording(unique_id: str, user_id: int | None, now: datetime) -> int:
    """Mark that the call's recording was muted now (the console sent MixMonitorMute); the pause's id."""
    if not _UNIQUE_ID.match(unique_id):
        raise ValidationError(f"unique id {unique_id!r} is not a channel's unique id", "invalid_unique_id")
    with session_scope() as session:
        open_pause = session.scalar(select(RecordingPause.id).where(RecordingPause.unique_id == unique_id,
                                                                    RecordingPause.resumed_at.is_(None)))
        if open_pause is not None:
            return open_pause
        recording_id = session.scalar(select(CallRecording.id).where(CallRecording.unique_id == unique_id))
        pause = RecordingPause(unique_id=unique_id, recording_id=recording_id, paused_at=now, by_user_id=user_id)
        session.add(pause)
        session.flush()
        _audit_pause(session, user_id, unique_id, recording_id, "paused", now)
        return pause.id


def resume_recording(unique_id: str, user_id: int | None, now: datetime) -> bool:
    """Close the call's open pause; False when none was open."""
    with session_scope() as session:
        recording_ids = session.execute(update(RecordingPause).where(
            RecordingPause.unique_id == unique_id, RecordingPause.resumed_at.is_(None))
            .values(resumed_at=now).returning(RecordingPause.recording_id)
            .execution_options(synchronize_session=False)).scalars().all()
        if recording_ids:
            _audit_pause(session, user_id, unique_id, recording_ids[0], "resumed", now)
        return bool(recording_ids)


def _audit(session: Session, actor: str, row: CallRecording, action: str, now: datetime | None = None,
           **details: object) -> None:
    audit.record(session, actor, audit.RECORDING, row.id, action, {"unique_id": row.unique_id, **details}, now)


def _audit_pause(session: Session, user_id: int | None, unique_id: str, recording_id: int | None, action: str,
                 now: datetime) -> None:
    """A pause is audited under the recording's id, or its call's unique id before it is catalogued."""
    actor = audit.SYSTEM_ACTOR if user_id is None else audit.user_actor(user_id)
    audit.record(session, actor, audit.RECORDING, recording_id if recording_id is not None else unique_id, action,
                 {"unique_id": unique_id}, now)


@dataclass(frozen=True)
class PauseView:
    """A stretch of a call its agent kept out of the recording (written as silence)."""

    paused_at: datetime
    resumed_at: datetime | None  # None: the call ended paused
    by_user_id: int | None


def pauses_of(recording_id: int) -> list[PauseView]:
    """The recording's pauses, in time order."""
    with session_scope() as session:
        rows = session.scalars(select(RecordingPause).where(RecordingPause.recording_id == recording_id)
                               .order_by(RecordingPause.paused_at, RecordingPause.id))
        return [PauseView(row.paused_at, row.resumed_at, row.by_user_id) for row in rows]


# --- transcripts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TurnRecord:
    """One speaker's turn as stored: text already redacted, words as (word, start, end, confidence)."""

    speaker: str
    start: float
    end: float
    text: str
    words: list[tuple[str, float, float, float]]


_NOT_TRANSCRIBED = (TranscriptionStatus.PENDING, TranscriptionStatus.QUEUED)


def pending_transcriptions(limit: int = 1000, queued: bool = True) -> list[int]:
    """Complete recordings waiting for their transcript, oldest first; ``queued=False``: only those whose
    task has not reached the broker yet."""
    waiting = _NOT_TRANSCRIBED if queued else (TranscriptionStatus.PENDING,)
    with session_scope() as session:
        return list(session.scalars(select(CallRecording.id).where(
            CallRecording.transcription_status.in_(waiting)).order_by(CallRecording.id).limit(limit)))


def mark_queued(recording_id: int) -> None:
    """pending -> queued once its task is with the broker (a worker may have claimed it already: left as is)."""
    with session_scope() as session:
        session.execute(update(CallRecording).where(
            CallRecording.id == recording_id, CallRecording.transcription_status == TranscriptionStatus.PENDING)
            .values(transcription_status=TranscriptionStatus.QUEUED).execution_options(synchronize_session=False))


def claim_transcription(recording_id: int) -> bool:
    """pending or queued (or failed, to try again) -> running, for one worker only: one conditional UPDATE."""
    with session_scope() as session:
        return session.execute(update(CallRecording).where(
            CallRecording.id == recording_id, CallRecording.status == RecordingStatus.COMPLETE,
            CallRecording.transcription_status.in_([*_NOT_TRANSCRIBED, TranscriptionStatus.FAILED]))
            .values(transcription_status=TranscriptionStatus.RUNNING, transcription_error="")
            .execution_options(synchronize_session=False)).rowcount == 1


def save_transcript(recording_id: int, turns: list[TurnRecord], analytics: dict[str, object], now: datetime) -> None:
    """Store the call's turns (replacing any earlier ones) and its analytics; transcription done."""
    with session_scope() as session:
        row = session.get(CallRecording, recording_id)
        if row is None:
            raise NotFound(f"no recording {recording_id}", "recording_not_found")
        row.turns.clear()
        session.flush()
        row.turns.extend(TranscriptTurn(seq=n, speaker=t.speaker, start_seconds=round(t.start, 2),
                                        end_seconds=round(t.end, 2), text=t.text, words=json.dumps(t.words))
                         for n, t in enumerate(turns))
        row.analytics = json.dumps(analytics, ensure_ascii=False, sort_keys=True)
        adherence = analytics.get("script_adherence")
        row.script_adherence = float(adherence) if isinstance(adherence, int | float) else None
        keywords = analytics.get("keywords")
        row.flags = " ".join(sorted(name for name, hits in keywords.items() if hits)) \
            if isinstance(keywords, dict) else ""
        row.transcription_status, row.transcribed_at = TranscriptionStatus.DONE, now
    log.info("recording transcribed: recording=%d turns=%d", recording_id, len(turns))


def fail_transcription(recording_id: int, code: str, message: str) -> None:
    """The recording stays; quality staff see why it has no transcript."""
    with session_scope() as session:
        session.execute(update(CallRecording).where(CallRecording.id == recording_id).values(
            transcription_status=TranscriptionStatus.FAILED, transcription_error=f"{code}: {message}"[:2000])
            .execution_options(synchronize_session=False))
    log.warning("recording transcription failed: recording=%d code=%s message=%s", recording_id, code, message)


def transcript_of(recording_id: int) -> list[TurnRecord]:
    with session_scope() as session:
        turns = session.scalars(select(TranscriptTurn).where(TranscriptTurn.recording_id == recording_id)
                                .order_by(TranscriptTurn.seq)).all()
        return [TurnRecord(t.speaker, float(t.start_seconds), float(t.end_seconds), t.text,
                           [tuple(w) for w in json.loads(t.words)]) for t in turns]  # type: ignore[misc]


def search_transcripts(words: str, limit: int = 100) -> list[int]:
    """Recordings whose transcript has every one of ``words`` (space-separated), newest first."""
    terms = [term for term in words.split() if term]
    if not terms:
        return []
    query = select(CallRecording.id).order_by(CallRecording.started_at.desc()).limit(limit)
    for term in terms:
        like = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(CallRecording.id.in_(select(TranscriptTurn.recording_id).where(
            TranscriptTurn.text.like(like, escape="\\"))))
    with session_scope() as session:
        return list(session.scalars(query))


def latest_recordings(limit: int) -> list[CallRecording]:
    with session_scope() as session:
        return list(session.scalars(select(CallRecording).order_by(CallRecording.started_at.desc(),
                                                                    CallRecording.id.desc()).limit(limit)))
