"""The quality console over HTTP: search, who may open which recording, the audio with range requests and
its access log, scorecards filled in from the analytics, agents seeing their own evaluations, the KPI page."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr.config import get_settings, set_settings
from ivr.db.models import ConsoleUser
from ivr.db.session import session_scope
from ivr.domain import audit, quality
from ivr.domain.errors import ValidationError
from ivr.domain.quality import RecordingFilter, Viewer
from ivr.domain.users import ConsoleRole
from ivr.testing.console import csrf_token, log_in, make_user
from ivr.testing.recorded_calls import Said, recorded_call

ANALYTICS = {"script": [{"item": "greeting", "found": True, "score": 1.0, "at": 0.5},
                        {"item": "identity_verification", "found": False, "score": 0.0, "at": None}],
             "script_adherence": 0.5, "forbidden": [], "keywords": {"complaint": [{"phrase": "投诉", "speaker": "caller", "start": 3.0, "score": 1.0}], "churn": []},
             "talk_seconds": {"caller": 2.0, "agent": 3.0}, "silence_ratio": 0.4, "longest_silence": 2.0,
             "overtalk_seconds": 0.0, "agent_words_per_minute": 120.0, "duration": 8.0}


@pytest.fixture
def calls(database_url: str, tmp_path: Path) -> dict[str, int]:
    set_settings(get_settings().replace(recordings_dir=str(tmp_path / "recordings"), recording_stable_seconds=0))
    ann = make_user(ConsoleRole.AGENT, "ann").id
    bob = make_user(ConsoleRole.AGENT, "bob").id
    reviewer = make_user(ConsoleRole.QUALITY).id
    make_user(ConsoleRole.ADMIN)
    return {
        "ann": ann, "bob": bob, "quality": reviewer,
        "ann_call": recorded_call("1.1", 8.0, [Said("agent", 0.5, "welcome to the hotline"),
                                               Said("caller", 3.0, "I want to complain about my claim")],
                                  agent_id=ann, queue="claims", analytics=ANALYTICS),
        "bob_call": recorded_call("1.2", 6.0, [Said("agent", 0.5, "good morning"), Said("caller", 2.5, "my premium")],
                                  agent_id=bob, queue="general",
                                  analytics={**ANALYTICS, "script_adherence": 1.0, "keywords": {}}),
    }


def _client(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert log_in(client, username).status_code == 302
    return client


def test_search_by_words_agent_queue_adherence_and_flag(calls) -> None:
    reviewer = Viewer(0, ConsoleRole.QUALITY)

    def ids(**criteria: object) -> list[int]:
        return [r.id for r in quality.search_recordings(RecordingFilter(**criteria), reviewer)]  # type: ignore[arg-type]

    assert ids(words="complain claim") == [calls["ann_call"]]
    assert ids(words="complain premium") == []  # every word must be in the one transcript
    assert ids(agent="BOB") == [calls["bob_call"]]
    assert ids(queue="claims") == [calls["ann_call"]]
    assert ids(max_adherence=0.6) == [calls["ann_call"]]
    assert ids(flag="complaint") == [calls["ann_call"]] and ids(flag="churn") == []
    assert ids(min_seconds=7.0) == [calls["ann_call"]]
    assert ids(words="100%_") == []  # LIKE metacharacters are text
    assert set(ids()) == {calls["ann_call"], calls["bob_call"]}


def test_an_agent_finds_and_opens_only_their_own_calls(app: Flask, calls) -> None:
    ann = _client(app, "ann")

    listing = ann.get("/quality/recordings").get_data(as_text=True)
    own = ann.get(f"/quality/recordings/{calls['ann_call']}")
    other = ann.get(f"/quality/recordings/{calls['bob_call']}")
    other_audio = ann.get(f"/quality/recordings/{calls['bob_call']}/audio")

    assert f'data-recording="{calls["ann_call"]}"' in listing and f'data-recording="{calls["bob_call"]}"' not in listing
    assert own.status_code == 200 and ">complain</span>" in own.get_data(as_text=True)
    assert other.status_code == 403 and other_audio.status_code == 403
    assert quality.access_log() == []  # a refused listen is not a listen


def test_the_audio_seeks_with_range_requests_and_each_listen_and_download_is_logged(app: Flask, calls) -> None:
    reviewer = _client(app, "quality1")
    url = f"/quality/recordings/{calls['ann_call']}/audio"

    whole = reviewer.get(url)
    seek = reviewer.get(url, headers={"Range": "bytes=1000-1999"})
    start = reviewer.get(url, headers={"Range": "bytes=0-"})
    download = reviewer.get(url + "?download=1")

    assert whole.status_code == 200 and whole.mimetype == "audio/wav" and whole.data[:4] == b"RIFF"
    assert seek.status_code == 206 and len(seek.data) == 1000 and seek.data == whole.data[1000:2000]
    assert start.status_code == 206
    assert "attachment" in download.headers["Content-Disposition"]
    log = quality.access_log()
    assert [(entry.username, entry.action) for entry in reversed(log)] == [
        ("quality1", "listen"), ("quality1", "listen"), ("quality1", "download")]  # the seek is not a listen
    assert _client(app, "admin1").get("/quality/access-log").get_data(as_text=True).count("<td>quality1</td>") == 3
    assert reviewer.get("/quality/access-log").status_code == 403  # admins only
    with session_scope() as session:
        actor = audit.user_actor(session.scalar(select(ConsoleUser.id).where(ConsoleUser.username == "quality1")))
    assert [(e.actor, e.action) for e in audit.list_entries(audit.RECORDING, str(calls["ann_call"]))] == [
        ("system", "catalogued"), (actor, "listen"), (actor, "listen"), (actor, "download")]


def test_the_call_page_shows_the_transcript_as_timed_words_and_the_analytics(app: Flask, calls) -> None:
    page = _client(app, "quality1").get(f"/quality/recordings/{calls['ann_call']}").get_data(as_text=True)

    assert '<span class="word" data-start="3.0" data-end="3.45">I</span>' in page
    assert 'id="script-adherence">50%' in page and "NOT said" in page
    assert 'id="scorecard"' in page


def test_the_scorecard_is_prefilled_from_the_analytics_and_each_score_checked(calls) -> None:
    reviewer = Viewer(calls["quality"], ConsoleRole.QUALITY)
    recording = quality.open_recording(calls["ann_call"], reviewer)
    form = quality.form_for(recording)
    suggested = {item.name: item.suggested for item in form.items}
    assert (suggested["greeting"], suggested["identity"], suggested["no_forbidden"]) == (10.0, 0.0, 10.0)
    assert suggested["need"] is None  # for the evaluator

    with pytest.raises(ValidationError, match="between 0 and 30"):
        quality.save_evaluation(calls["ann_call"], reviewer, {**_full(form), "need": 31}, "", recording.started_at)
    with pytest.raises(ValidationError, match="no score"):
        quality.save_evaluation(calls["ann_call"], reviewer, {"greeting": 10}, "", recording.started_at)


def _full(form: quality.Form) -> dict[str, float]:
    return {item.name: item.weight for item in form.items}


def test_an_evaluation_posted_from_the_page_is_seen_by_its_agent_only(app: Flask, calls) -> None:
    reviewer = _client(app, "quality1")
    form = {"csrf_token": csrf_token(reviewer), "item_greeting": "10", "item_identity": "0", "item_notice": "5",
            "item_need": "15", "item_courtesy": "20", "item_no_forbidden": "10", "comment": "verify identity first"}

    saved = reviewer.post(f"/quality/recordings/{calls['ann_call']}/evaluations", data=form)

    assert saved.status_code == 303
    ann_sees = _client(app, "ann").get("/quality/evaluations").get_data(as_text=True)
    bob_sees = _client(app, "bob").get("/quality/evaluations").get_data(as_text=True)
    assert "verify identity first" in ann_sees and "<td>60.0</td>" in ann_sees  # 60 of 100 points
    assert "verify identity first" not in bob_sees
    agent = _client(app, "bob")
    refused = agent.post(f"/quality/recordings/{calls['bob_call']}/evaluations",
                         data={**form, "csrf_token": csrf_token(agent)})
    assert refused.status_code == 403


def test_the_kpi_page_is_for_reviewers(app: Flask, calls) -> None:
    page = _client(app, "quality1").get("/reports/kpi?from=2026-12-01&to=2026-12-04&by=queue")

    assert page.status_code == 200 and 'id="inbound"' in page.get_data(as_text=True)
    assert _client(app, "ann").get("/reports/kpi").status_code == 403
    assert _client(app, "quality1").get("/reports/kpi?by=branch").status_code == 400
