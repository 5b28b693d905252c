"""Quality review of recorded calls: finding them, who may open which, the listen log, QA scorecards.

Quality staff, supervisors and admins may open any recording; an agent only
the calls they took. Every listen and download is logged (``record_access``)
before a byte is sent, so the log shows each time a customer's voice was heard.

Scorecard forms come from a TOML file (setting ``scorecard_file``, else the
packaged ``scorecards.toml``): items with weights, some filled in from the
call's speech analytics ("greeting said"), which the evaluator may overrule.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Select, select

from ivr.config import get_settings
from ivr.db.models import (Call, CallRecording, Disposition, ConsoleUser, QaEvaluation, RecordingAccess, RecordingStatus,
                           TranscriptTurn)
from ivr.db.session import session_scope
from ivr.domain import audit
from ivr.domain.errors import DomainError, NotFound, ValidationError
from ivr.domain.values import agent_note
from ivr.domain.users import ConsoleRole

__all__ = ["ACCESS_ACTIONS", "AccessView", "EvaluationView", "Form", "FormItem", "NotYourRecording",
           "RecordingFilter", "RecordingSummary", "Viewer", "access_log", "evaluations", "form_for",
           "load_forms", "open_recording", "record_access", "save_evaluation", "search_recordings"]

REVIEWERS = frozenset({ConsoleRole.QUALITY, ConsoleRole.SUPERVISOR, ConsoleRole.ADMIN})
ACCESS_ACTIONS = ("listen", "download")
DEFAULT_FORMS = Path(__file__).with_name("scorecards.toml")
SEARCH_LIMIT = 200
COMMENT_MAX_CHARS = 4000  # a reviewer's comment on an evaluation; a longer one is refused, never cut


class NotYourRecording(DomainError):
    error_id = "not_your_recording"
    http_status = 403


@dataclass(frozen=True)
class Viewer:
    user_id: int
    role: ConsoleRole

    @property
    def reviews(self) -> bool:
        return self.role in REVIEWERS


@dataclass(frozen=True)
class RecordingFilter:
    """What quality staff search by; empty fields do not filter."""

    first: date | None = None
    last: date | None = None
    agent: str = ""  # console username
    customer_id: int | None = None
    queue: str = ""
    campaign_id: int | None = None
    disposition: str = ""  # of the IVR call
    min_seconds: float | None = None
    max_seconds: float | None = None
    words: str = ""  # every word must be in the transcript
    max_adherence: float | None = None  # script adherence at most this (0..1)
    flag: str = ""  # a keyword list that fired: complaint, churn


@dataclass(frozen=True)
class RecordingSummary:
    id: int
    started_at: datetime
    duration_seconds: float | None
    agent: str
    queue: str
    campaign_id: int | None
    customer_id: int | None
    disposition: str
    script_adherence: float | None
    flags: str
    transcription: str


def search_recordings(criteria: RecordingFilter, viewer: Viewer, limit: int = SEARCH_LIMIT) -> list[RecordingSummary]:
    """Complete recordings matching ``criteria``, newest first; an agent finds only their own calls."""
    query = (select(CallRecording, ConsoleUser.username, Call.disposition)
             .outerjoin(ConsoleUser, ConsoleUser.id == CallRecording.agent_id)
             .outerjoin(Call, Call.id == CallRecording.call_id)
             .where(CallRecording.status == RecordingStatus.COMPLETE)
             .order_by(CallRecording.started_at.desc(), CallRecording.id.desc()).limit(limit))
    query = _filtered(query, criteria)
    if not viewer.reviews:
        query = query.where(CallRecording.agent_id == viewer.user_id)
    with session_scope() as session:
        return [RecordingSummary(row.id, row.started_at, row.duration_seconds, username or "", row.queue,
                                 row.campaign_id, row.customer_id, disposition.value if disposition else "",
                                 row.script_adherence, row.flags, row.transcription_status.value)
                for row, username, disposition in session.execute(query)]


def _disposition(name: str) -> Disposition:
    try:
        return Disposition(name)
    except ValueError:
        allowed = ", ".join(member.value for member in Disposition)
        raise ValidationError(f"disposition must be one of: {allowed}", "invalid_disposition") from None


def _filtered(query: Select[Any], f: RecordingFilter) -> Select[Any]:
    zone = get_settings().zone()
    if f.first:
        query = query.where(CallRecording.started_at >= _midnight(f.first, zone))
    if f.last:
        query = query.where(CallRecording.started_at < _midnight(f.last + timedelta(days=1), zone))
    if f.agent:
        query = query.where(ConsoleUser.username == f.agent.lower())
    if f.customer_id is not None:
        query = query.where(CallRecording.customer_id == f.customer_id)
    if f.queue:
        query = query.where(CallRecording.queue == f.queue)
    if f.campaign_id is not None:
        query = query.where(CallRecording.campaign_id == f.campaign_id)
    if f.disposition:
        query = query.where(Call.disposition == _disposition(f.disposition))
    if f.min_seconds is not None:
        query = query.where(CallRecording.duration_seconds >= f.min_seconds)
    if f.max_seconds is not None:
        query = query.where(CallRecording.duration_seconds <= f.max_seconds)
    if f.max_adherence is not None:
        query = query.where(CallRecording.script_adherence <= f.max_adherence)
    if f.flag:
        query = query.where((" " + CallRecording.flags + " ").contains(f" {f.flag} ", autoescape=True))
    for term in f.words.split():
        query = query.where(CallRecording.id.in_(select(TranscriptTurn.recording_id).where(
            TranscriptTurn.text.contains(term, autoescape=True))))
    return query


def _midnight(day: date, zone: Any) -> datetime:
    return datetime.combine(day, time(), zone).astimezone(timezone.utc)


def open_recording(recording_id: int, viewer: Viewer) -> CallRecording:
    """The recording, if ``viewer`` may open it (NotYourRecording: an agent and another agent's call)."""
    with session_scope() as session:
        row = session.get(CallRecording, recording_id)
        if row is None or row.status is not RecordingStatus.COMPLETE:
            raise NotFound(f"no recording {recording_id}", "recording_not_found")
        if not viewer.reviews and row.agent_id != viewer.user_id:
            raise NotYourRecording(f"recording {recording_id} is another agent's call")
        session.expunge(row)
        return row


def record_access(recording_id: int, viewer: Viewer, action: str, now: datetime) -> None:
    """Log that ``viewer`` is listening to or downloading the recording (checked first)."""
    if action not in ACCESS_ACTIONS:
        raise ValidationError(f"action must be one of {', '.join(ACCESS_ACTIONS)}", "invalid_action")
    open_recording(recording_id, viewer)
    with session_scope() as session:
        session.add(RecordingAccess(recording_id=recording_id, user_id=viewer.user_id, action=action, at=now))
        audit.record(session, audit.user_actor(viewer.user_id), audit.RECORDING, recording_id, action, now=now)


@dataclass(frozen=True)
class AccessView:
    at: datetime
    username: str
    recording_id: int
    action: str


def access_log(limit: int = 500, recording_id: int | None = None) -> list[AccessView]:
    query = (select(RecordingAccess, ConsoleUser.username).join(ConsoleUser, ConsoleUser.id == RecordingAccess.user_id)
             .order_by(RecordingAccess.at.desc(), RecordingAccess.id.desc()).limit(limit))
    if recording_id is not None:
        query = query.where(RecordingAccess.recording_id == recording_id)
    with session_scope() as session:
        return [AccessView(row.at, username, row.recording_id, row.action) for row, username in session.execute(query)]


# --- scorecards ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormItem:
    name: str
    label: str
    weight: float  # the points for the item done in full
    auto: str = ""  # "script:<item>" (said), "no_forbidden": filled in from the analytics
    suggested: float | None = None  # the points the analytics suggest for this call


@dataclass(frozen=True)
class Form:
    name: str
    title: str
    items: tuple[FormItem, ...]


@cache
def load_forms(path: str = "") -> dict[str, Form]:
    """The scorecard forms (``scorecard_file``, else the packaged ``scorecards.toml``), by name."""
    with Path(path or DEFAULT_FORMS).open("rb") as fh:
        raw = tomllib.load(fh)
    return {name: Form(name, spec.get("title", name),
                       tuple(FormItem(item["name"], item["label"], float(item["weight"]), item.get("auto", ""))
                             for item in spec["items"]))
            for name, spec in raw.get("forms", {}).items()}


def form_for(recording: CallRecording) -> Form:
    """The call type's form with the analytics' suggestions filled in."""
    forms = load_forms(get_settings().scorecard_file)
    form = forms.get(recording.call_type) or forms["service"]
    analytics = json.loads(recording.analytics) if recording.analytics else {}
    said = {item["item"]: item["found"] for item in analytics.get("script", [])}
    items = []
    for item in form.items:
        suggested = None
        if item.auto.startswith("script:") and item.auto[7:] in said:
            suggested = item.weight if said[item.auto[7:]] else 0.0
        elif item.auto == "no_forbidden" and analytics:
            suggested = 0.0 if analytics.get("forbidden") else item.weight
        items.append(FormItem(item.name, item.label, item.weight, item.auto, suggested))
    return Form(form.name, form.title, tuple(items))


def save_evaluation(recording_id: int, viewer: Viewer, points: dict[str, float], comment: str,
                    now: datetime) -> int:
    """Score the call on its form: every item 0..its weight; the total is the share of the points, 0..100."""
    if not viewer.reviews:
        raise NotYourRecording("only quality staff, supervisors and admins evaluate calls")
    recording = open_recording(recording_id, viewer)
    form = form_for(recording)
    scores: dict[str, float] = {}
    for item in form.items:
        given = points.get(item.name)
        if given is None:
            raise ValidationError(f"no score for {item.label!r}", "missing_score")
        if not 0 <= given <= item.weight:
            raise ValidationError(f"{item.label!r}: {given:g} is not between 0 and {item.weight:g}", "invalid_score")
        scores[item.name] = given
    unknown = set(points) - set(scores)
    if unknown:
        raise ValidationError(f"not on the {form.name} form: {', '.join(sorted(unknown))}", "unknown_item")
    comment = agent_note(comment, "evaluation", COMMENT_MAX_CHARS)
    total = 100 * sum(scores.values()) / sum(item.weight for item in form.items)
    with session_scope() as session:
        evaluation = QaEvaluation(recording_id=recording_id, agent_id=recording.agent_id, evaluator_id=viewer.user_id,
                                  form=form.name, scores=json.dumps(scores), total=round(total, 1),
                                  comment=comment, created_at=now)
        session.add(evaluation)
        session.flush()
        return evaluation.id


@dataclass(frozen=True)
class EvaluationView:
    id: int
    recording_id: int
    agent: str
    evaluator: str
    form: str
    scores: dict[str, float]
    total: float
    comment: str
    created_at: datetime


def evaluations(viewer: Viewer, recording_id: int | None = None, limit: int = 200) -> list[EvaluationView]:
    """Evaluations, newest first: an agent sees only their own; reviewers see all (or one recording's)."""
    agent, evaluator = ConsoleUser.__table__.alias("agent"), ConsoleUser.__table__.alias("evaluator")
    query = (select(QaEvaluation, agent.c.username, evaluator.c.username)
             .outerjoin(agent, agent.c.id == QaEvaluation.agent_id)
             .join(evaluator, evaluator.c.id == QaEvaluation.evaluator_id)
             .order_by(QaEvaluation.created_at.desc(), QaEvaluation.id.desc()).limit(limit))
    if recording_id is not None:
        query = query.where(QaEvaluation.recording_id == recording_id)
    if not viewer.reviews:
        query = query.where(QaEvaluation.agent_id == viewer.user_id)
    with session_scope() as session:
        return [EvaluationView(row.id, row.recording_id, agent_name or "", evaluator_name, row.form,
                               json.loads(row.scores), row.total, row.comment, row.created_at)
                for row, agent_name, evaluator_name in session.execute(query)]
