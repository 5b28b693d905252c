"""The quality console: recordings search, the call page (player, synchronised transcript, analytics,
IVR path), QA scorecards, the recording access log, and the KPI report with filters (docs/quality.md).

The audio is the call's stereo playback file (caller left, agent right),
sent with range requests so the player can seek. A request for the start of
the file (or for all of it) is logged as a listen (``?download=1``: a
download) before any audio leaves; the range requests a player makes while
seeking are not logged again.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from flask import Blueprint, Response, current_app, g, redirect, render_template, request, send_file, url_for

from ivr.config import get_settings
from ivr.domain import call_recordings, kpis, quality
from ivr.domain.customer_view import call_record
from ivr.domain.errors import NotFound, ValidationError
from ivr.domain.quality import RecordingFilter, Viewer
from ivr.reporting import kpi_report
from ivr.speech.audio import stereo_for_playback
from ivr.web.access import ADMINISTER, EVERY_ROLE, REVIEW_CALLS
from ivr.web.auth import login_required

quality_pages = Blueprint("quality", __name__)


def _viewer() -> Viewer:
    return Viewer(g.user.id, g.user.role)


def _now() -> datetime:
    return current_app.config["CLOCK"]()


@quality_pages.get("/quality/recordings")
@login_required(EVERY_ROLE)
def recordings_page() -> str:
    criteria = _criteria()
    found = quality.search_recordings(criteria, _viewer())
    return render_template("quality_search.html", criteria=criteria, found=found, args=request.args,
                           reviews=_viewer().reviews)


def _criteria() -> RecordingFilter:
    args = request.args
    return RecordingFilter(first=_date("from"), last=_date("to"), agent=args.get("agent", "").strip(),
                           customer_id=_number("customer", int), queue=args.get("queue", "").strip(),
                           campaign_id=_number("campaign", int), disposition=args.get("disposition", "").strip(),
                           min_seconds=_number("min_seconds", float), max_seconds=_number("max_seconds", float),
                           words=args.get("words", "").strip()[:200],
                           max_adherence=_percent("max_adherence"), flag=args.get("flag", "").strip())


def _date(name: str) -> date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationError(f"{name} must be a date (YYYY-MM-DD), not {raw!r}", f"invalid_{name}") from None


def _number(name: str, kind: type[int] | type[float]) -> Any:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return kind(raw)
    except ValueError:
        raise ValidationError(f"{name} must be a number, not {raw!r}", f"invalid_{name}") from None


def _percent(name: str) -> float | None:
    value = _number(name, float)
    return None if value is None else value / 100


@quality_pages.get("/quality/recordings/<int:recording_id>")
@login_required(EVERY_ROLE)
def call_page(recording_id: int) -> str:
    viewer = _viewer()
    recording = quality.open_recording(recording_id, viewer)
    analytics = json.loads(recording.analytics) if recording.analytics else {}
    return render_template(
        "quality_call.html", recording=recording, turns=call_recordings.transcript_of(recording_id),
        analytics=analytics, pauses=call_recordings.pauses_of(recording_id),
        call=call_record(recording.unique_id), form=quality.form_for(recording) if viewer.reviews else None,
        evaluations=quality.evaluations(viewer, recording_id), reviews=viewer.reviews,
        saved=request.args.get("saved") == "1")


@quality_pages.get("/quality/recordings/<int:recording_id>/audio")
@login_required(EVERY_ROLE)
def audio(recording_id: int) -> Response:
    viewer = _viewer()
    recording = quality.open_recording(recording_id, viewer)
    files = call_recordings.files_of(recording.base_path)
    if not files.playback.exists():
        if not (files.caller.exists() and files.agent.exists()):
            raise NotFound(f"recording {recording_id}'s files are gone", "recording_files_missing")
        stereo_for_playback(files.caller, files.agent, files.playback)
    download = request.args.get("download") == "1"
    if download or _from_the_start(request.headers.get("Range")):
        quality.record_access(recording_id, viewer, "download" if download else "listen", _now())
    return send_file(files.playback, mimetype="audio/wav", conditional=True, as_attachment=download,
                     download_name=f"recording-{recording_id}.wav")


def _from_the_start(range_header: str | None) -> bool:
    """No Range (the whole file) or one starting at byte 0: a new listen, not the player seeking."""
    if not range_header:
        return True
    return range_header.replace(" ", "").lower().startswith("bytes=0-")


@quality_pages.post("/quality/recordings/<int:recording_id>/evaluations")
@login_required(REVIEW_CALLS)
def evaluate(recording_id: int) -> Response:
    recording = quality.open_recording(recording_id, _viewer())
    points = {}
    for item in quality.form_for(recording).items:
        raw = request.form.get(f"item_{item.name}", "").strip()
        try:
            points[item.name] = float(raw)
        except ValueError:
            raise ValidationError(f"{item.label!r} needs a score, not {raw!r}", "invalid_score") from None
    quality.save_evaluation(recording_id, _viewer(), points, request.form.get("comment", ""), _now())
    return redirect(url_for("quality.call_page", recording_id=recording_id, saved=1), 303)


@quality_pages.get("/quality/evaluations")
@login_required(EVERY_ROLE)
def evaluations_page() -> str:
    return render_template("quality_evaluations.html", evaluations=quality.evaluations(_viewer()),
                           reviews=_viewer().reviews)


@quality_pages.get("/quality/access-log")
@login_required(ADMINISTER)
def access_log_page() -> str:
    return render_template("quality_access.html", entries=quality.access_log())


@quality_pages.get("/reports/kpi")
@login_required(REVIEW_CALLS)
def kpi_page() -> str:
    today = get_settings().today()
    first, last = _date("from") or today.replace(day=1), _date("to") or today
    by = request.args.get("by", "day")
    if by not in kpis.GROUPINGS:
        raise ValidationError(f"by must be one of {', '.join(kpis.GROUPINGS)}", "invalid_grouping")
    report = kpi_report.build(kpis.Period(first, last), by)  # type: ignore[arg-type]
    return render_template("kpi.html", report=report, charts=kpi_report.charts(report),
                           tables=kpi_report.tables_html(report), groupings=kpis.GROUPINGS)
