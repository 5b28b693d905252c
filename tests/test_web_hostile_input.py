"""Hostile values in every field of the console and its API: SQL and HTML metacharacters, NUL, very
long text. Never a 500; a clear 4xx where the value is invalid; stored verbatim where accepted;
shown escaped wherever a page shows it. Oversized bodies get 413; logins from one address that try
many usernames get 429 without locking anyone else out; file names never leave their folder.

The walk covers every route of the app's ``url_map``: a new route fails
``test_every_route_is_walked_or_exempt`` until it is added to ``WALKS`` (or to
``EXEMPT`` with the reason).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import select

from ivr.config import get_settings, set_settings
from ivr.db.models import Campaign, CallRecording
from ivr.db.session import session_scope
from ivr.domain import campaigns, quality
from ivr.domain.callbacks import request_callback
from ivr.domain.calls import CallJournal, NewCall
from ivr.domain.campaigns import CampaignSpec
from ivr.domain.users import ConsoleRole
from ivr.testing.console import PASSWORD, csrf_token, log_in, make_user
from ivr.testing.customer_book import CustomerBook
from ivr.testing.recorded_calls import Said, recorded_call
from ivr.web import create_app

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
SQL = "'; DROP TABLE customers;--"
SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(1)>'
PAYLOADS = {"sql": SQL, "script": SCRIPT, "attribute": ATTRIBUTE, "nul": "a\x00b", "long": "x" * 20_000,
            "chinese_and_controls": "王小明\r\n\t\x1b[31m"}
# A value a field may refuse is refused this way, with the app's error shape; a 503 only where the
# view needs Asterisk and this console has no AMI link.
TEXT_ACCEPTED = (SQL, SCRIPT, ATTRIBUTE)

CAMPAIGN_FIELDS = ("name", "message", "include_grace", "product_lines", "branches", "window", "calls_per_second",
                   "due_within_days", "lapsing_within_days", "max_attempts", "min_gap_hours", "max_channels")
LIST_ARGS = ("status", "from", "to", "page", "per_page")
RECORDING_ARGS = ("from", "to", "agent", "customer", "queue", "campaign", "disposition", "min_seconds",
                  "max_seconds", "words", "max_adherence", "flag")


@dataclass(frozen=True)
class Walk:
    """One route, as the hostile value reaches it: into each query argument, form field or JSON
    field in turn, or into the path where the path holds text (``{value}``)."""

    endpoint: str
    method: str
    path: str
    role: ConsoleRole = ConsoleRole.SUPERVISOR
    args: tuple[str, ...] = ()
    form: tuple[str, ...] = ()
    json: tuple[str, ...] = ()


SUPERVISOR, AGENT, ADMIN = ConsoleRole.SUPERVISOR, ConsoleRole.AGENT, ConsoleRole.ADMIN
WALKS = (
    Walk("console.home", "GET", "/"),
    Walk("auth.login", "GET", "/login", args=("next",)),
    Walk("auth.login", "POST", "/login", form=("username", "password", "next")),
    Walk("api.list_claims", "GET", "/api/claims", args=LIST_ARGS),
    Walk("api.get_claim", "GET", "/api/claims/{value}"),
    Walk("api.list_complaints", "GET", "/api/complaints", args=LIST_ARGS + ("overdue",)),
    Walk("api.get_complaint", "GET", "/api/complaints/{value}"),
    Walk("api.list_agent_checks", "GET", "/api/agent-checks", args=LIST_ARGS),
    Walk("api.list_fraud_alerts", "GET", "/api/fraud-alerts", args=LIST_ARGS),
    Walk("api.search_customers", "GET", "/api/customers", args=("q", "kind", "birth_date")),
    Walk("api.get_customer", "GET", "/api/customers/{customer}", args=("page", "per_page")),
    Walk("console.find_customers", "GET", "/customers", args=("q", "kind", "birth_date")),
    Walk("console.customer_page", "GET", "/customers/{customer}", args=("page", "per_page")),
    Walk("api.list_callbacks", "GET", "/api/callbacks", args=("status", "page", "per_page")),
    Walk("work.callbacks_page", "GET", "/callbacks", args=("status", "page")),
    Walk("api.claim_callback", "POST", "/api/callbacks/{callback}/claim", json=("note",)),
    Walk("api.finish_callback", "POST", "/api/callbacks/{callback}/finish", json=("outcome", "note")),
    Walk("work.claim_page", "POST", "/callbacks/{callback}/claim", form=("note",)),
    Walk("work.finish_page", "POST", "/callbacks/{callback}/finish", form=("outcome", "note")),
    Walk("desk.call_back_now", "POST", "/api/callbacks/{callback}/call", json=("note",)),
    Walk("desk.call_back_now_form", "POST", "/callbacks/{callback}/call", form=("note",)),
    Walk("api.wrap_up_call", "POST", "/api/calls/{call}/wrapup", json=("code", "note")),
    Walk("api.wrap_up_call", "POST", "/api/calls/{value}/wrapup", json=("note",)),
    Walk("work.wrapup_page", "GET", "/calls/{call}/wrapup", args=("saved",)),
    Walk("work.wrapup_page", "GET", "/calls/{value}/wrapup"),
    Walk("work.wrapup_form", "POST", "/calls/{call}/wrapup", form=("code", "note")),
    Walk("desk.desk_page", "GET", "/desk", role=AGENT),
    Walk("desk.get_agent_state", "GET", "/api/agent/state", role=AGENT),
    Walk("desk.set_agent_state", "POST", "/api/agent/state", role=AGENT, json=("action", "queues", "reason")),
    Walk("desk.desk_state_form", "POST", "/desk/state", role=AGENT, form=("action", "queues", "reason")),
    Walk("desk.latest_pop", "GET", "/api/screen-pops/latest", role=AGENT),
    Walk("desk.pause_recording", "POST", "/api/calls/{value}/recording", role=AGENT, json=("paused",)),
    Walk("desk.wallboard_page", "GET", "/wallboard"),
    Walk("desk.wallboard_json", "GET", "/api/wallboard"),
    Walk("campaigns.campaigns_page", "GET", "/campaigns"),
    Walk("campaigns.create_form", "POST", "/campaigns", form=CAMPAIGN_FIELDS),
    Walk("campaigns.campaign_page", "GET", "/campaigns/{campaign}", args=("selected", "planned", "already")),
    Walk("campaigns.update_form", "POST", "/campaigns/{campaign}", form=CAMPAIGN_FIELDS),
    Walk("campaigns.move_form", "POST", "/campaigns/{campaign}/pause", form=("note",)),
    Walk("campaigns.list_campaigns_json", "GET", "/api/campaigns"),
    Walk("campaigns.create_campaign_json", "POST", "/api/campaigns", json=CAMPAIGN_FIELDS),
    Walk("campaigns.campaign_json", "GET", "/api/campaigns/{campaign}", args=("hours",)),
    Walk("campaigns.update_campaign_json", "PUT", "/api/campaigns/{campaign}", json=CAMPAIGN_FIELDS),
    Walk("campaigns.move_json", "POST", "/api/campaigns/{campaign}/pause", json=("note",)),
    Walk("quality.recordings_page", "GET", "/quality/recordings", args=RECORDING_ARGS),
    Walk("quality.call_page", "GET", "/quality/recordings/{recording}", args=("saved",)),
    Walk("quality.audio", "GET", "/quality/recordings/{recording}/audio", args=("download",)),
    Walk("quality.evaluate", "POST", "/quality/recordings/{recording}/evaluations", form=("comment", "item_greeting")),
    Walk("quality.evaluations_page", "GET", "/quality/evaluations"),
    Walk("quality.access_log_page", "GET", "/quality/access-log", role=ADMIN),
    Walk("quality.kpi_page", "GET", "/reports/kpi", args=("from", "to", "by")),
)
EXEMPT = {
    "static": "Flask's send_from_directory (safe_join); traversal: test_static_files_never_leave_their_folder",
    "desk.desk_events": "a stream of up to 5 minutes; its only input, Last-Event-ID or ?after=, is used only "
                        "when all digits",
    "auth.logout": "takes nothing but the CSRF token (tests/test_console_auth.py)",
    "api.health_check": "takes no input at all: no query, no body, no login (tests/test_recording_health.py)",
}


def test_every_route_is_walked_or_exempt(app: Flask) -> None:
    routes = {rule.endpoint for rule in app.url_map.iter_rules()}
    walked = {walk.endpoint for walk in WALKS}
    assert routes - walked - set(EXEMPT) == set(), "add the new route to WALKS (or EXEMPT, saying why)"
    assert (walked | set(EXEMPT)) - routes == set(), "a walked route no longer exists"


# --- the world the walk runs in -----------------------------------------------------------------------


@dataclass
class World:
    ids: dict[str, str]
    clients: dict[ConsoleRole, FlaskClient]


@pytest.fixture
def world(app: Flask, tmp_path: Path) -> Iterator[World]:
    previous = get_settings()
    set_settings(previous.replace(recordings_dir=str(tmp_path / "recordings"), recording_stable_seconds=0))
    try:
        book = CustomerBook().write()
        call = CallJournal.open(NewCall("1700000100.1", "PJSIP/x", "hotline", "13800138000", "", "95519")).unique_id
        callback = request_callback("+8613800138001", None, "caller_pressed_0", None, NOW).request_id
        campaign = campaigns.create_campaign(CampaignSpec(name="due", message="premium due", due_within_days=30),
                                             "tester", NOW).id
        clients = {role: _logged_in(app, role) for role in (SUPERVISOR, AGENT, ADMIN)}
        recording = recorded_call("1700000200.1", 4.0, [Said("agent", 0.5, "welcome")], started_at=NOW)
        yield World({"customer": str(book.wang_fang), "call": call, "callback": str(callback),
                     "campaign": str(campaign), "recording": str(recording)}, clients)
    finally:
        set_settings(previous)


def _logged_in(app: Flask, role: ConsoleRole) -> FlaskClient:
    client = app.test_client()
    make_user(role, f"{role.value}1")
    assert log_in(client, f"{role.value}1").status_code == 302
    return client


def _requests(walk: Walk, value: str, ids: dict[str, str]) -> Iterator[tuple[str, dict[str, object]]]:
    """(label, test-client keyword arguments) for each place ``value`` goes in this walk."""
    path = walk.path.format(value=quote(value, safe=""), **ids)
    if "{value}" in walk.path:
        yield "path", {"path": path}
    if not (walk.args or walk.form or walk.json) and "{value}" not in walk.path:
        yield "plain", {"path": path}
    for name in walk.args:
        yield f"?{name}", {"path": path, "query_string": {name: value}}
    for name in walk.form:
        yield f"form {name}", {"path": path, "data": {name: value}}
    for name in walk.json:
        yield f"json {name}", {"path": path, "json": {name: value}}


def _send(client: FlaskClient, walk: Walk, request: dict[str, object]):  # type: ignore[no-untyped-def]
    request = dict(request)
    if walk.method != "GET":
        token = csrf_token(client)
        if "data" in request:
            request["data"] = {**request["data"], "csrf_token": token}  # type: ignore[dict-item]
        else:
            request["headers"] = {"X-CSRF-Token": token}
    return client.open(method=walk.method, **request)


@pytest.mark.parametrize("payload", list(PAYLOADS), ids=list(PAYLOADS))
def test_hostile_values_in_every_field_get_an_answer_never_a_server_error(world: World, payload: str) -> None:
    value = PAYLOADS[payload]
    failures = []
    for walk in WALKS:
        client = world.clients[walk.role]
        if walk.endpoint == "auth.login":
            client = client.application.test_client()  # logged out: the login form itself
        for label, request in _requests(walk, value, world.ids):
            try:
                response = _send(client, walk, request)
            except Exception as error:  # TESTING: a view's exception reaches the test instead of a 500
                failures.append(f"{walk.method} {walk.path} {label}: {error!r}"[:300])
                continue
            body = response.get_data(as_text=True) if response.mimetype != "audio/wav" else ""
            problem = _problem(response.status_code, response.mimetype, body)
            if problem:
                failures.append(f"{walk.method} {walk.path} {label}: {response.status_code} {problem}")
            if response.mimetype == "text/html" and value in TEXT_ACCEPTED:
                assert value not in body, f"{walk.method} {walk.path} {label} shows {value!r} unescaped"
    assert failures == []


def _problem(status: int, mimetype: str, body: str) -> str:
    """What is wrong with an answer to a hostile value, or ''."""
    if status == 503:
        return "" if "asterisk_unavailable" in body else "503 without the reason"
    if status >= 500:
        return "server error"
    said_why = 'data-error-id="' in body or '"error"' in body or 'id="login-error"' in body  # page, JSON, login form
    if status >= 400 and not said_why:
        return "an error without an id"
    return ""


# --- accepted text is stored as sent and shown escaped -----------------------------------------------


@pytest.mark.parametrize("text", TEXT_ACCEPTED, ids=["sql", "script", "attribute"])
def test_accepted_text_is_stored_verbatim_and_every_page_shows_it_escaped(world: World, text: str) -> None:
    supervisor = world.clients[SUPERVISOR]
    ids = world.ids
    token = csrf_token(supervisor)

    wrapup = supervisor.post(f"/api/calls/{ids['call']}/wrapup", json={"code": "resolved", "note": text},
                             headers={"X-CSRF-Token": token})
    assert wrapup.status_code == 200 and wrapup.get_json()["wrapup_note"] == text
    assert supervisor.post(f"/api/callbacks/{ids['callback']}/claim", headers={"X-CSRF-Token": token}).status_code == 200
    finished = supervisor.post(f"/api/callbacks/{ids['callback']}/finish", json={"outcome": "failed", "note": text},
                               headers={"X-CSRF-Token": token})
    assert finished.status_code == 200, finished.get_json()
    created = supervisor.post("/api/campaigns", headers={"X-CSRF-Token": token},
                              json={"name": text, "message": text, "due_within_days": 30, "branches": [text]})
    assert created.status_code == 201, created.get_json()
    campaign = created.get_json()["campaign"]
    assert (campaign["name"], campaign["message"], campaign["branches"]) == (text, text, [text])
    evaluated = supervisor.post(f"/quality/recordings/{ids['recording']}/evaluations",
                                data={**_full_scores(ids["recording"]), "comment": text, "csrf_token": token})
    assert evaluated.status_code == 303

    with session_scope() as session:
        assert session.scalar(select(Campaign.name).where(Campaign.id == campaign["id"])) == text
    pages = [f"/calls/{ids['call']}/wrapup", "/callbacks?status=open", "/callbacks", "/campaigns",
             f"/campaigns/{campaign['id']}", f"/quality/recordings/{ids['recording']}", "/quality/evaluations"]
    shown = set()
    for page in pages:
        body = supervisor.get(page).get_data(as_text=True)
        assert text not in body, f"{page} shows {text!r} unescaped"
        if str(escape(text)) in body:
            shown.add(page)
    assert {f"/calls/{ids['call']}/wrapup", "/callbacks", "/campaigns", f"/campaigns/{campaign['id']}",
            f"/quality/recordings/{ids['recording']}"} <= shown


def _full_scores(recording_id: str) -> dict[str, str]:
    with session_scope() as session:
        recording = session.get(CallRecording, int(recording_id))
        items = quality.form_for(recording).items
    return {f"item_{item.name}": "0" for item in items}


@pytest.mark.parametrize("text", ["a\x00b", "x" * 20_000], ids=["nul", "long"])
def test_text_no_column_can_hold_is_refused_with_a_clear_400(world: World, text: str) -> None:
    supervisor = world.clients[SUPERVISOR]
    token = csrf_token(supervisor)
    ids = world.ids
    answers = [
        supervisor.post(f"/api/calls/{ids['call']}/wrapup", json={"code": "resolved", "note": text},
                        headers={"X-CSRF-Token": token}),
        supervisor.post("/api/campaigns", json={"name": text, "message": "m", "due_within_days": 30},
                        headers={"X-CSRF-Token": token}),
        supervisor.post("/api/campaigns", json={"name": "n", "message": text, "due_within_days": 30},
                        headers={"X-CSRF-Token": token}),
        supervisor.post(f"/quality/recordings/{ids['recording']}/evaluations",
                        data={**_full_scores(ids["recording"]), "comment": text, "csrf_token": token},
                        headers={"Accept": "application/json"}),
    ]
    assert [answer.status_code for answer in answers] == [400] * len(answers)
    assert all(answer.get_json()["error"]["id"].startswith("invalid_")
               or answer.get_json()["error"]["id"].endswith("_too_long") for answer in answers)
    with session_scope() as session:
        assert session.scalars(select(Campaign.name)).all() == ["due"]
    assert quality.evaluations(quality.Viewer(make_user(ConsoleRole.QUALITY, "q2").id, ConsoleRole.QUALITY)) == []


# --- oversized bodies ---------------------------------------------------------------------------------


def test_a_body_over_the_configured_limit_is_refused_with_413_and_nothing_is_stored(world: World) -> None:
    supervisor = world.clients[SUPERVISOR]
    token = csrf_token(supervisor)
    limit = get_settings().web_max_body_kilobytes * 1024
    huge = "x" * (limit + 1)

    api = supervisor.post("/api/campaigns", json={"name": huge, "message": "m", "due_within_days": 30},
                          headers={"X-CSRF-Token": token})
    form = supervisor.post("/campaigns", data={"name": huge, "message": "m", "csrf_token": token})
    raw = supervisor.post("/api/campaigns", data=b"{" + b" " * limit + b"}",
                          headers={"X-CSRF-Token": token, "Content-Type": "application/json"})

    assert (api.status_code, form.status_code, raw.status_code) == (413, 413, 413)
    error = api.get_json()["error"]
    assert error["id"] == "request_entity_too_large" and f"{limit // 1024} KB" in error["message"]
    assert 'data-error-id="request_entity_too_large"' in form.get_data(as_text=True)
    with session_scope() as session:
        assert session.scalars(select(Campaign.name)).all() == ["due"]


# --- login throttling per client address --------------------------------------------------------------


def _login_from(client: FlaskClient, address: str, username: str, password: str,
                forwarded_for: str | None = None):  # type: ignore[no-untyped-def]
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post("/login", data={"username": username, "password": password, "csrf_token": csrf_token(client)},
                       environ_base={"REMOTE_ADDR": address}, headers=headers)


def test_many_usernames_tried_from_one_address_refuse_that_address_only(app: Flask) -> None:
    make_user(ConsoleRole.AGENT, "li.na")
    threshold = get_settings().web_login_address_threshold
    attacker, colleague = app.test_client(), app.test_client()

    answers = [_login_from(attacker, "203.0.113.9", f"guess{n}", "wrong password").status_code
               for n in range(threshold)]
    refused = _login_from(attacker, "203.0.113.9", "li.na", PASSWORD)

    assert answers == [401] * threshold  # each wrong login: the plain answer, until the address is refused
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "from your address" in refused.get_data(as_text=True)
    assert _login_from(colleague, "198.51.100.7", "li.na", PASSWORD).status_code == 302  # li.na is not locked


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_one_throttled(database_url: str) -> None:
    previous = get_settings()
    set_settings(previous.replace(web_proxy_count=1, web_login_address_threshold=3))
    try:
        app = create_app({"TESTING": True, "SECRET_KEY": "test-secret-key", "SESSION_COOKIE_SECURE": False})
        make_user(ConsoleRole.AGENT, "li.na")
        attacker, colleague = app.test_client(), app.test_client()
        for n in range(3):
            _login_from(attacker, "127.0.0.1", f"guess{n}", "wrong password", forwarded_for="203.0.113.9")
        assert _login_from(attacker, "127.0.0.1", "li.na", PASSWORD, forwarded_for="203.0.113.9").status_code == 429
        assert _login_from(colleague, "127.0.0.1", "li.na", PASSWORD, forwarded_for="198.51.100.7").status_code == 302
    finally:
        set_settings(previous)


# --- file names never leave their folder --------------------------------------------------------------

TRAVERSALS = ("../__init__.py", "..%2f__init__.py", "%2e%2e%2f__init__.py", "%2e%2e/%2e%2e/config.py",
              "/etc/passwd", "%2fetc%2fpasswd", "..%5c__init__.py", "desk.js%00.png", "....//__init__.py")


@pytest.mark.parametrize("name", TRAVERSALS)
def test_static_files_never_leave_their_folder(client: FlaskClient, name: str) -> None:
    response = client.get(f"/static/{name}", follow_redirects=True)  # "//" is merged: a redirect within /static/
    assert response.status_code in (400, 404) and response.request.path.startswith("/static/")
    assert b"import" not in response.get_data() and b"root:" not in response.get_data()


@pytest.mark.parametrize("base_path", ["../outside", "calls/../../outside", "/etc/passwd"])
def test_a_recording_whose_path_leaves_the_recordings_folder_is_never_served(world: World, tmp_path: Path,
                                                                           base_path: str) -> None:
    # The catalogue is written only from file names we check; a tampered row must still not reach outside.
    (tmp_path / "outside-stereo.wav").write_bytes(b"RIFF secret")  # next to recordings/, what "../outside" names
    with session_scope() as session:
        session.get(CallRecording, int(world.ids["recording"])).base_path = base_path

    for path in (f"/quality/recordings/{world.ids['recording']}/audio",
                 f"/quality/recordings/{quote('../../etc/passwd', safe='')}/audio"):
        response = world.clients[SUPERVISOR].get(path)
        assert response.status_code in (400, 404), path
        assert b"secret" not in response.get_data() and b"root:" not in response.get_data()
