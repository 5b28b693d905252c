"""The campaign pages and their JSON API: supervisors and admins define, start, pause and stop campaigns
and read their figures; refused input is explained next to the form; campaign text stays text."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from flask import Flask
from flask.testing import FlaskClient
from ivr.db.models import AttemptStatus
from ivr.domain import campaigns
from ivr.domain.campaigns import CampaignSpec, CampaignState
from ivr.domain.users import ConsoleRole
from ivr.testing.campaign_attempts import attempt_ids, call
from ivr.testing.console import csrf_token, logged_in
from ivr.testing.small_book import SmallBook
from ivr.web import create_app

NOW = datetime(2026, 11, 20, 2, 30, tzinfo=timezone.utc)  # 10:30 in Shanghai; the small book falls due 2026-12-01
FORM = {"name": "December reminders", "message": "premium due", "due_within_days": "30", "product_lines": ["motor",
        "life"], "branches": "北京分公司, 上海分公司", "window": "09:30-19:00", "max_attempts": "2", "min_gap_hours": "6",
        "max_channels": "5", "calls_per_second": "0.5"}
HOSTILE = "<script>alert(\"x\")</script> 'quoted' & <b>bold</b>"


@pytest.fixture
def app(database_url: str) -> Flask:
    """The console on the test's database, its clock stopped at NOW."""
    return create_app({"TESTING": True, "SECRET_KEY": "test-secret-key", "SESSION_COOKIE_SECURE": False,
                       "CLOCK": lambda: NOW})


@pytest.fixture
def supervisor(client: FlaskClient) -> FlaskClient:
    return logged_in(client, ConsoleRole.SUPERVISOR)


def _form(client: FlaskClient, path: str, fields: dict[str, object] | None = None):  # type: ignore[no-untyped-def]
    return client.post(path, data={**(fields or {}), "csrf_token": csrf_token(client)})


def _send(client: FlaskClient, method: str, path: str, body: object = None):  # type: ignore[no-untyped-def]
    return client.open(path, method=method, json=body if body is not None else {},
                       headers={"X-CSRF-Token": csrf_token(client)})


def _draft(name: str = "due", **changes: object) -> int:
    spec = {"name": name, "message": "premium due", "due_within_days": 30, **changes}
    return campaigns.create_campaign(CampaignSpec(**spec), "tester", NOW).id  # type: ignore[arg-type]


def _page(client: FlaskClient, campaign_id: int) -> str:
    response = client.get(f"/campaigns/{campaign_id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _buttons(html: str) -> list[str]:
    return re.findall(r'<button type="submit" name="move" value="(\w+)">', html)


# --- the list and the create form ----------------------------------------------------------------


def test_the_list_shows_each_campaign_with_state_window_and_key_figures(supervisor: FlaskClient,
                                                                          small_book: SmallBook) -> None:
    campaign_id = _draft("due", window="10:00-18:00")
    campaigns.start_campaign(campaign_id, NOW)
    campaigns.plan_attempts(campaign_id, NOW)
    first, second, _ = attempt_ids(campaign_id)
    call(first, NOW, AttemptStatus.ANSWERED, "1")
    call(second, NOW, AttemptStatus.CUSTOMER_HUNG_UP)

    html = supervisor.get("/campaigns").get_data(as_text=True)

    row = re.search(rf'<tr data-campaign="{campaign_id}" data-state="running">(.*?)</tr>', html, re.S)
    assert row is not None
    assert f'href="/campaigns/{campaign_id}"' in row[1] and "10:00-18:00" in row[1]
    assert '<td class="targets">3</td>' in row[1] and '<td class="dialled">2</td>' in row[1]
    abandoned_rate = campaigns.campaign_figures(campaign_id).abandoned_rate  # its definition: docs/campaigns.md
    assert '<td class="contact-rate">67%</td>' in row[1]
    assert f'<td class="abandoned-rate">{abandoned_rate * 100:.1f}%</td>' in row[1]


def test_a_supervisor_creates_a_campaign_with_the_form_and_lands_on_its_page(supervisor: FlaskClient) -> None:
    response = _form(supervisor, "/campaigns", FORM)

    assert response.status_code == 303
    view = campaigns.campaign_by_name("December reminders")
    assert response.headers["Location"] == f"/campaigns/{view.id}"
    assert (view.state, view.created_by, view.due_within_days, view.include_grace) == (CampaignState.DRAFT,
                                                                                       "supervisor1", 30, False)
    assert [line.value for line in view.product_lines] == ["motor", "life"]
    assert view.branches == ("北京分公司", "上海分公司")
    assert (f"{view.window_start:%H:%M}-{view.window_end:%H:%M}", view.max_attempts, view.min_gap_hours,
            view.max_channels, view.calls_per_second) == ("09:30-19:00", 2, 6, 5, 0.5)


def test_empty_numbers_and_window_take_the_settings_defaults(supervisor: FlaskClient) -> None:
    _form(supervisor, "/campaigns", {"name": "grace", "message": "m", "include_grace": "on", "window": "",
                                     "max_attempts": "", "calls_per_second": ""})

    view = campaigns.campaign_by_name("grace")
    assert view.include_grace and view.due_within_days is None
    assert (f"{view.window_start:%H:%M}-{view.window_end:%H:%M}", view.max_attempts, view.calls_per_second) == (
        "09:00-20:00", 3, 1.0)


@pytest.mark.parametrize(("changes", "error_id"), [
    ({"due_within_days": ""}, "no_selection"),
    ({"window": "20:00-22:00"}, "window_outside_hours"),
    ({"window": "morning"}, "invalid_window"),
    ({"max_attempts": "three"}, "invalid_max_attempts"),
    ({"max_attempts": "11"}, "invalid_max_attempts"),
    ({"calls_per_second": "fast"}, "invalid_calls_per_second"),
    ({"product_lines": ["boats"]}, "invalid_product_lines"),
    ({"name": "   "}, "invalid_name"),
])
def test_a_refused_form_says_why_next_to_the_form_and_keeps_what_was_typed(
        supervisor: FlaskClient, changes: dict[str, object], error_id: str) -> None:
    response = _form(supervisor, "/campaigns", {**FORM, **changes})

    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert re.search(rf'<form id="new-campaign"[^>]*>.*<p class="form-error" role="alert" data-error-id="{error_id}">',
                     html, re.S)
    assert 'value="premium due"' in html  # what was typed is still there
    assert campaigns.list_campaigns() == []


def test_a_name_already_taken_is_refused_on_the_form(supervisor: FlaskClient) -> None:
    _draft("December reminders")

    response = _form(supervisor, "/campaigns", FORM)

    assert response.status_code == 400
    assert 'data-error-id="campaign_name_taken"' in response.get_data(as_text=True)


# --- the campaign page ---------------------------------------------------------------------------


def test_the_page_shows_the_definition_the_figures_and_the_moves_of_a_draft(supervisor: FlaskClient) -> None:
    campaign_id = _draft("due", product_lines=(campaigns.ProductLine.MOTOR,), branches=("北京分公司",))

    html = _page(supervisor, campaign_id)

    assert '<strong id="campaign-state" data-state="draft">draft</strong>' in html
    assert "premiums due within 30 days" in html and "motor" in html and "北京分公司" in html
    assert '<td data-field="targets">0</td>' in html and '<td data-field="abandoned_rate" data-format="percent1">0.0%'\
        in html
    assert _buttons(html) == ["start", "stop"]
    assert '<svg id="outcomes-chart"' in html and '<svg id="timeline-chart"' in html
    assert 'src="/static/campaign.js"' in html
    assert f'data-source="/api/campaigns/{campaign_id}"' in html
    assert '<form id="edit-campaign"' in html


def test_starting_from_the_page_plans_the_targets_at_once(supervisor: FlaskClient, small_book: SmallBook) -> None:
    campaign_id = _draft()

    response = _form(supervisor, f"/campaigns/{campaign_id}/start")

    assert response.status_code == 303
    html = supervisor.get(response.headers["Location"]).get_data(as_text=True)
    assert "3 policies selected now, 3 newly planned" in html
    assert '<td data-field="targets">3</td>' in html and '<tr data-status="planned"><td>planned</td><td>3</td>' in html
    assert _buttons(html) == ["pause", "stop"]
    assert len(attempt_ids(campaign_id)) == 3


def test_pause_resume_and_stop_from_the_page(supervisor: FlaskClient, small_book: SmallBook) -> None:
    campaign_id = _draft()
    _form(supervisor, f"/campaigns/{campaign_id}/start")

    assert _form(supervisor, f"/campaigns/{campaign_id}/pause").status_code == 303
    assert campaigns.get_campaign(campaign_id).state is CampaignState.PAUSED
    assert _buttons(_page(supervisor, campaign_id)) == ["start", "stop"]
    assert _form(supervisor, f"/campaigns/{campaign_id}/start").status_code == 303
    assert campaigns.get_campaign(campaign_id).state is CampaignState.RUNNING
    assert _form(supervisor, f"/campaigns/{campaign_id}/stop").status_code == 303

    html = _page(supervisor, campaign_id)
    assert campaigns.get_campaign(campaign_id).state is CampaignState.STOPPED
    assert _buttons(html) == [] and "stopped for good" in html
    assert '<form id="edit-campaign"' not in html  # a stopped campaign cannot change


def test_a_move_the_state_no_longer_allows_is_a_clear_409(supervisor: FlaskClient) -> None:
    campaign_id = _draft()
    campaigns.stop_campaign(campaign_id, NOW)  # someone else stopped it while the page was open

    response = _form(supervisor, f"/campaigns/{campaign_id}/start")

    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert '<p id="move-error" role="alert" data-error-id="invalid_transition">' in html
    assert "is stopped; it cannot start" in html


def test_the_edit_form_changes_the_definition(supervisor: FlaskClient) -> None:
    campaign_id = _draft()
    html = _page(supervisor, campaign_id)
    assert 'name="due_within_days" min="0" max="366" value="30"' in html  # the form shows the definition

    response = _form(supervisor, f"/campaigns/{campaign_id}", {**FORM, "name": "renamed", "include_grace": "on"})

    assert response.status_code == 303 and response.headers["Location"] == f"/campaigns/{campaign_id}"
    view = campaigns.get_campaign(campaign_id)
    assert (view.name, view.include_grace, view.max_attempts) == ("renamed", True, 2)


def test_answering_machine_detection_is_chosen_on_the_form_and_shown_on_the_page(supervisor: FlaskClient) -> None:
    response = _form(supervisor, "/campaigns", {**FORM, "detect_machines": "on"})

    view = campaigns.campaign_by_name("December reminders")
    assert response.status_code == 303 and view.detect_machines
    html = _page(supervisor, view.id)
    assert "detected: hung up on, called again later" in html
    assert '<input type="checkbox" name="detect_machines" checked>' in html  # the edit form keeps it
    _form(supervisor, f"/campaigns/{view.id}", FORM)  # unticked
    assert not campaigns.get_campaign(view.id).detect_machines


def test_the_api_takes_and_gives_answering_machine_detection(supervisor: FlaskClient) -> None:
    body = {"name": "api-amd", "message": "premium due", "due_within_days": 14, "detect_machines": True}

    created = _send(supervisor, "POST", "/api/campaigns", body).get_json()["campaign"]
    refused = _send(supervisor, "POST", "/api/campaigns", {**body, "name": "api-amd-2", "detect_machines": "maybe"})

    assert created["detect_machines"] is True
    assert refused.status_code == 400 and refused.get_json()["error"]["id"] == "invalid_detect_machines"


def test_a_refused_edit_says_why_and_changes_nothing(supervisor: FlaskClient) -> None:
    campaign_id = _draft()

    response = _form(supervisor, f"/campaigns/{campaign_id}", {**FORM, "min_gap_hours": "0"})

    assert response.status_code == 400
    assert 'data-error-id="invalid_min_gap_hours"' in response.get_data(as_text=True)
    assert campaigns.get_campaign(campaign_id).name == "due"


def test_a_stopped_campaign_cannot_be_edited(supervisor: FlaskClient) -> None:
    campaign_id = _draft()
    campaigns.stop_campaign(campaign_id, NOW)

    response = _form(supervisor, f"/campaigns/{campaign_id}", FORM)

    assert response.status_code == 409
    assert 'data-error-id="invalid_transition"' in response.get_data(as_text=True)


def test_an_unknown_campaign_is_404(supervisor: FlaskClient) -> None:
    assert supervisor.get("/campaigns/999").status_code == 404
    assert supervisor.get("/api/campaigns/999").get_json()["error"]["id"] == "campaign_not_found"


# --- who may -------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [ConsoleRole.AGENT, ConsoleRole.QUALITY])
def test_agents_and_quality_are_refused_the_campaigns(client: FlaskClient, role: ConsoleRole) -> None:
    logged_in(client, role)
    campaign_id = _draft()

    for path in ("/campaigns", f"/campaigns/{campaign_id}", "/api/campaigns", f"/api/campaigns/{campaign_id}"):
        assert client.get(path).status_code == 403, path
    assert _form(client, "/campaigns", FORM).status_code == 403
    assert _form(client, f"/campaigns/{campaign_id}/start").status_code == 403
    api = _send(client, "POST", f"/api/campaigns/{campaign_id}/start")
    assert api.status_code == 403 and api.get_json()["error"]["id"] == "forbidden"
    assert _send(client, "PUT", f"/api/campaigns/{campaign_id}", {"name": "x"}).status_code == 403
    assert campaigns.get_campaign(campaign_id).state is CampaignState.DRAFT
    assert 'id="nav-campaigns"' not in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize("role", [ConsoleRole.SUPERVISOR, ConsoleRole.ADMIN])
def test_supervisors_and_admins_find_the_campaigns_in_the_navigation(client: FlaskClient, role: ConsoleRole) -> None:
    logged_in(client, role)

    home = client.get("/").get_data(as_text=True)

    assert '<a id="nav-campaigns" href="/campaigns">Campaigns</a>' in home
    assert '<a href="/campaigns">Outbound campaigns</a>' in home
    assert client.get("/campaigns").status_code == 200


def test_without_a_login_the_api_says_401_and_the_page_goes_to_the_login(client: FlaskClient) -> None:
    assert client.get("/api/campaigns").status_code == 401
    response = client.get("/campaigns")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=/campaigns")


def test_every_change_needs_the_csrf_token(supervisor: FlaskClient) -> None:
    campaign_id = _draft()

    assert supervisor.post("/api/campaigns", json={}).get_json()["error"]["id"] == "csrf_token_missing"
    assert supervisor.post(f"/campaigns/{campaign_id}/start", data={"csrf_token": "forged"}).status_code == 403
    wrong = supervisor.put(f"/api/campaigns/{campaign_id}", json={}, headers={"X-CSRF-Token": "forged"})
    assert wrong.status_code == 403 and wrong.get_json()["error"]["id"] == "csrf_token_invalid"
    assert campaigns.get_campaign(campaign_id).state is CampaignState.DRAFT


# --- the JSON API --------------------------------------------------------------------------------


def test_the_api_creates_a_campaign_from_json(supervisor: FlaskClient) -> None:
    body = {"name": "api", "message": "premium due", "due_within_days": 14, "include_grace": True,
            "product_lines": ["health"], "branches": ["北京分公司"], "max_channels": 3, "calls_per_second": 2}

    response = _send(supervisor, "POST", "/api/campaigns", body)

    assert response.status_code == 201
    detail = response.get_json()
    assert detail["campaign"]["name"] == "api" and detail["campaign"]["state"] == "draft"
    assert detail["campaign"]["product_lines"] == ["health"] and detail["campaign"]["branches"] == ["北京分公司"]
    assert (detail["campaign"]["max_channels"], detail["campaign"]["calls_per_second"]) == (3, 2.0)
    assert detail["moves"] == ["start", "stop"]
    assert detail["figures"]["targets"] == 0 and len(detail["timeline"]["slots"]) == 24


@pytest.mark.parametrize(("body", "error_id"), [
    ({"name": "x", "message": "m"}, "no_selection"),
    ({"name": "x", "message": "m", "due_within_days": "soon"}, "invalid_due_within_days"),
    ({"name": "x", "message": "m", "due_within_days": True}, "invalid_due_within_days"),
    ({"name": "x", "message": "m", "include_grace": "maybe"}, "invalid_include_grace"),
    ({"name": "x", "message": "m", "include_grace": True, "branches": "north"}, "invalid_branches"),
    ({"name": 5, "message": "m", "include_grace": True}, "invalid_name"),
    ([1, 2], "invalid_body"),
])
def test_the_api_refuses_a_bad_definition_with_the_error_id(supervisor: FlaskClient, body: object,
                                                             error_id: str) -> None:
    response = _send(supervisor, "POST", "/api/campaigns", body)

    assert response.status_code == 400
    assert response.get_json()["error"]["id"] == error_id


def test_the_api_lists_campaigns_with_their_figures(supervisor: FlaskClient) -> None:
    first, second = _draft("one"), _draft("two")

    items = supervisor.get("/api/campaigns").get_json()["items"]

    assert [(item["campaign"]["id"], item["campaign"]["name"]) for item in items] == [(first, "one"), (second, "two")]
    assert items[0]["figures"]["contact_rate"] == 0.0


def test_the_api_moves_a_campaign_and_plans_it_when_it_starts(supervisor: FlaskClient, small_book: SmallBook) -> None:
    campaign_id = _draft()

    started = _send(supervisor, "POST", f"/api/campaigns/{campaign_id}/start")

    assert started.status_code == 200
    assert started.get_json()["planned"] == {"selected": 3, "planned": 3, "already_planned": 0}
    assert started.get_json()["figures"]["targets"] == 3 and started.get_json()["moves"] == ["pause", "stop"]
    paused = _send(supervisor, "POST", f"/api/campaigns/{campaign_id}/pause").get_json()
    assert paused["campaign"]["state"] == "paused" and paused["planned"] is None
    again = _send(supervisor, "POST", f"/api/campaigns/{campaign_id}/pause")
    assert again.status_code == 409 and again.get_json()["error"]["id"] == "invalid_transition"
    assert _send(supervisor, "POST", f"/api/campaigns/{campaign_id}/start").get_json()["planned"]["planned"] == 0
    assert _send(supervisor, "POST", "/api/campaigns/999/start").status_code == 404


def test_the_api_replaces_a_definition(supervisor: FlaskClient) -> None:
    campaign_id = _draft()

    response = _send(supervisor, "PUT", f"/api/campaigns/{campaign_id}",
                     {"name": "due", "message": "changed", "lapsing_within_days": 5})

    assert response.status_code == 200
    view = campaigns.get_campaign(campaign_id)
    assert (view.message, view.due_within_days, view.lapsing_within_days) == ("changed", None, 5)
    refused = _send(supervisor, "PUT", f"/api/campaigns/{campaign_id}", {"name": "due", "message": "m",
                                                                         "include_grace": True, "window": "7-9"})
    assert refused.status_code == 400 and refused.get_json()["error"]["id"] == "invalid_window"
    campaigns.stop_campaign(campaign_id, NOW)
    stopped = _send(supervisor, "PUT", f"/api/campaigns/{campaign_id}", {"name": "due", "message": "m",
                                                                         "include_grace": True})
    assert stopped.status_code == 409


def test_the_api_gives_the_figures_and_calls_per_hour_by_result(supervisor: FlaskClient,
                                                                 small_book: SmallBook) -> None:
    campaign_id = _draft()
    _send(supervisor, "POST", f"/api/campaigns/{campaign_id}/start")
    first, second, third = attempt_ids(campaign_id)
    call(first, NOW - timedelta(hours=1), AttemptStatus.ANSWERED, "2")
    call(second, NOW, AttemptStatus.ANSWERED, "9")
    call(third, NOW, AttemptStatus.BUSY)
    facts = campaigns.attempt_call_facts(first)
    campaigns.report_paid(facts.policy_id, facts.cycle, first, NOW)  # "already paid", said during the call

    detail = supervisor.get(f"/api/campaigns/{campaign_id}?hours=3").get_json()

    figures = detail["figures"]
    assert figures["by_status"] == {"answered": 2, "busy": 1, "planned": 1}  # the busy call's retry is planned
    assert (figures["targets"], figures["dialled"], figures["reached"]) == (3, 3, 2)
    assert (figures["remind_later"], figures["opt_outs"], figures["already_paid"]) == (1, 1, 1)
    slots = detail["timeline"]["slots"]
    assert [slot["label"] for slot in slots] == ["11-20 08:00", "11-20 09:00", "11-20 10:00"]  # Shanghai time
    assert [slot["by_status"] for slot in slots] == [{}, {"answered": 1}, {"answered": 1, "busy": 1}]
    assert detail["timeline"]["statuses"][:2] == ["dialing", "answered"]
    assert supervisor.get(f"/api/campaigns/{campaign_id}?hours=0").get_json()["error"]["id"] == "invalid_hours"


# --- text stays text -----------------------------------------------------------------------------


def test_hostile_campaign_names_and_messages_stay_text(supervisor: FlaskClient) -> None:
    response = _form(supervisor, "/campaigns", {**FORM, "name": HOSTILE, "message": HOSTILE,
                                                "branches": "<i>north</i>"})
    campaign_id = campaigns.campaign_by_name(HOSTILE).id
    assert response.status_code == 303

    for html in (supervisor.get("/campaigns").get_data(as_text=True), _page(supervisor, campaign_id)):
        assert "<script>alert" not in html and "<b>bold</b>" not in html and "<i>north" not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &#39;quoted&#39; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    detail = supervisor.get(f"/api/campaigns/{campaign_id}")
    assert detail.mimetype == "application/json" and detail.get_json()["campaign"]["name"] == HOSTILE


def test_a_hostile_name_typed_into_a_refused_form_stays_text(supervisor: FlaskClient) -> None:
    response = _form(supervisor, "/campaigns", {**FORM, "name": HOSTILE, "due_within_days": ""})

    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "<script>alert" not in html
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &#39;quoted&#39; &amp; &lt;b&gt;bold&lt;/b&gt;"
    assert f'value="{escaped}"' in html
