"""KPIs from a small hand-built history, each answer worked out here from the definitions in docs/kpis.md.

The centre's zone is Asia/Shanghai (UTC+8): 2026-12-01 there runs from
2026-11-30 16:00 to 2026-12-01 16:00 UTC.
"""

from __future__ import annotations

import csv
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from ivr.config import get_settings, set_settings
from ivr.db.models import AgentState, AgentStateChange, Call, Complaint, ComplaintSubject, Disposition, QueueCall, \
    QueueOutcome
from ivr.db.session import session_scope
from ivr.domain import kpis
from ivr.domain.errors import ValidationError
from ivr.domain.kpis import Period
from ivr.reporting import kpi_report
from ivr.domain.users import ConsoleRole, create_user

DAY1 = datetime(2026, 12, 1, 1, 0, tzinfo=timezone.utc)  # 09:00 in Shanghai on 1 December
PERIOD = Period(date(2026, 12, 1), date(2026, 12, 1))


@pytest.fixture
def history(small_book) -> dict[str, int]:
    set_settings(get_settings().replace(timezone="Asia/Shanghai", service_level_seconds=20))
    ann = create_user("ann", "Ann", ConsoleRole.AGENT, "ann-password-12345").id
    bob = create_user("bob", "Bob", ConsoleRole.AGENT, "bob-password-12345").id
    c1, c2 = small_book.customer_id, small_book.other_customer_id
    calls = [
        # unique id, queue, customer, outcome, joined (minutes after DAY1), wait s, talk s, agent
        ("a1", "general", c1, QueueOutcome.ANSWERED, 0, 10, 300, ann),  # c1 calls again within 7 days: not FCR
        ("a2", "general", c2, QueueOutcome.ANSWERED, 30, 30, 200, ann),  # over 20 s; complaint; Ann transferred it
        ("a3", "vip", None, QueueOutcome.ANSWERED, 60, 5, 100, bob),  # unknown caller: not in FCR
        ("a4", "general", None, QueueOutcome.ABANDONED, 90, 3, None, None),  # short abandon: in no rate
        ("a5", "general", None, QueueOutcome.ABANDONED, 120, 40, None, None),
        ("a6", "vip", c1, QueueOutcome.ANSWERED, 60 * 24 * 3, 15, 60, bob),  # 3 days later: another period
        ("a7", "vip", None, QueueOutcome.ANSWERED, 14 * 60 + 50, 20, 1200, bob),  # 23:50 local: day 1, ends day 2
    ]
    with session_scope() as session:
        for unique_id, queue, customer, outcome, minutes, wait, talk, agent in calls:
            joined = DAY1 + timedelta(minutes=minutes)
            answered = joined + timedelta(seconds=wait) if outcome is QueueOutcome.ANSWERED else None
            session.add(QueueCall(unique_id=unique_id, queue=queue, customer_id=customer, outcome=outcome,
                                  joined_at=joined, answered_at=answered, left_at=joined + timedelta(seconds=wait),
                                  ended_at=answered + timedelta(seconds=talk) if answered else None,
                                  wait_seconds=wait, agent_id=agent, transferred=unique_id == "a2"))
        session.add(Complaint(ticket_no="2612000001", customer_id=c2, call_unique_id="a2",
                              subject=ComplaintSubject.SERVICE, due_at=DAY1 + timedelta(days=2)))
        # Ann: logged in at 08:00 local (before the period? no: 00:00 UTC is 08:00 local, in it), paused
        # 30 min, out at 12:00 local. Bob: logged in the evening before and out at 10:00 local.
        for user, minutes, state in ((ann, -60, AgentState.AVAILABLE), (ann, 60, AgentState.PAUSED),
                                     (ann, 90, AgentState.AVAILABLE), (ann, 180, AgentState.LOGGED_OUT),
                                     (bob, -60 * 12, AgentState.AVAILABLE), (bob, 60, AgentState.LOGGED_OUT)):
            session.add(AgentStateChange(user_id=user, at=DAY1 + timedelta(minutes=minutes), state=state))
        for unique_id, minutes, disposition in (("i1", 0, Disposition.SELF_SERVED), ("i2", 5, Disposition.TRANSFERRED),
                                                ("i3", 10, Disposition.SELF_SERVED),
                                                ("i4", 15, Disposition.IN_PROGRESS),
                                                ("i5", 16 * 60, Disposition.SELF_SERVED)):  # 01:00 on day 2 local
            session.add(Call(unique_id=unique_id, started_at=DAY1 + timedelta(minutes=minutes),
                             disposition=disposition))
    return {"ann": ann, "bob": bob}


def test_per_queue_short_abandons_are_left_out_and_each_rate_has_its_own_denominator(history) -> None:
    general, vip = kpis.queue_kpis(PERIOD, "queue")

    assert (general.key, general.waits, general.short_abandons, general.offered) == ("general", 4, 1, 3)
    assert (general.answered, general.abandoned, general.answered_in_target) == (2, 1, 1)
    assert general.abandon_rate == pytest.approx(1 / 3)
    assert general.service_level == pytest.approx(1 / 3)
    assert general.average_speed_of_answer == pytest.approx((10 + 30) / 2)
    assert general.average_handle_time == pytest.approx((300 + 200) / 2)
    assert general.first_call_resolution == pytest.approx(1 / 2)  # a1's customer called again (a6)
    assert general.complaint_rate == pytest.approx(1 / 2)
    # vip: a3 and a7 (23:50 local is still day 1; a6 is days later); 20 s is within the target.
    assert (vip.key, vip.offered, vip.answered, vip.answered_in_target) == ("vip", 2, 2, 2)
    assert vip.average_handle_time == pytest.approx((100 + 1200) / 2)  # a7 ends after midnight: still day 1's
    assert vip.first_call_resolution is None  # no recognised caller: no denominator, not 0
    assert vip.abandon_rate == 0.0


def test_per_agent_and_per_day(history) -> None:
    by_agent = {row.key: row for row in kpis.queue_kpis(PERIOD, "agent")}
    by_day = kpis.queue_kpis(Period(date(2026, 12, 1), date(2026, 12, 4)), "day")

    assert set(by_agent) == {"ann", "bob", "(no agent)"}
    assert (by_agent["ann"].answered, by_agent["bob"].answered, by_agent["(no agent)"].abandoned) == (2, 2, 1)
    assert by_agent["ann"].complaints == 1 and by_agent["bob"].complaints == 0
    assert [(row.key, row.waits) for row in by_day] == [("2026-12-01", 6), ("2026-12-04", 1)]
    # Over four days a1's repeat (a6) is inside the period; a6 itself has none: resolved.
    general, vip = kpis.queue_kpis(Period(date(2026, 12, 1), date(2026, 12, 4)), "queue")
    assert general.first_call_resolution == pytest.approx(1 / 2) and vip.first_call_resolution == 1.0
    november_to_december = Period(date(2026, 11, 30), date(2026, 12, 6))  # Monday to Sunday
    assert [(row.key, row.waits) for row in kpis.queue_kpis(november_to_december, "week")] == [("2026-11-30", 7)]
    assert [(row.key, row.waits) for row in kpis.queue_kpis(november_to_december, "month")] == [("2026-12", 7)]


def test_online_paused_and_talk_time_are_clipped_to_the_period(history) -> None:
    from ivr.db.models import CallRecording, RecordingStatus

    with session_scope() as session:  # Ann's two scored calls; one on 2 December is outside the period
        for unique_id, share, minutes in (("r1", 0.5, 10), ("r2", 1.0, 20), ("r3", 0.0, 60 * 24)):
            session.add(CallRecording(unique_id=unique_id, base_path=unique_id, status=RecordingStatus.COMPLETE,
                                      agent_id=history["ann"], script_adherence=share,
                                      started_at=DAY1 + timedelta(minutes=minutes)))
    times = {row.key: row for row in kpis.agent_time(PERIOD)}
    assert (times["ann"].scored_calls, times["ann"].script_adherence) == (2, pytest.approx(0.75))
    assert (times["bob"].scored_calls, times["bob"].script_adherence) == (0, None)

    # Ann: available 00:00-02:00 UTC, paused 02:00-02:30, available to 04:00: 4 h online, 30 min paused.
    assert times["ann"].online_seconds == pytest.approx(4 * 3600)
    assert times["ann"].paused_seconds == pytest.approx(1800)
    assert times["ann"].talk_seconds == pytest.approx(500)
    assert times["ann"].occupancy == pytest.approx(500 / (3.5 * 3600))
    # Bob logged in the evening before: only from the period's start (16:00 UTC) to 02:00 UTC counts.
    assert times["bob"].online_seconds == pytest.approx(10 * 3600)
    assert times["bob"].talk_seconds == pytest.approx(100 + 1200)


def test_ivr_containment_counts_ended_calls_by_the_centres_day(history) -> None:
    days = kpis.ivr_containment(Period(date(2026, 12, 1), date(2026, 12, 2)))

    assert [(d.key, d.calls, d.self_served) for d in days] == [("2026-12-01", 3, 2), ("2026-12-02", 1, 1)]
    assert days[0].rate == pytest.approx(2 / 3)


def test_a_period_that_ends_before_it_starts_or_an_unknown_grouping_is_refused(database_url: str) -> None:
    with pytest.raises(ValidationError, match="before it starts"):
        Period(date(2026, 12, 2), date(2026, 12, 1))
    with pytest.raises(ValidationError, match="group by one of"):
        kpis.queue_kpis(PERIOD, "branch")  # type: ignore[arg-type]


def test_the_report_shows_the_same_numbers_in_html_csv_and_the_spreadsheet(history, tmp_path) -> None:
    from click.testing import CliRunner
    from openpyxl import load_workbook

    from ivr.cli import main

    paths = {}
    for fmt in ("html", "csv", "xlsx"):
        result = CliRunner().invoke(main, ["report", "kpi", "--from", "2026-12-01", "--to", "2026-12-01",
                                           "--by", "queue", "--format", fmt, "--out", str(tmp_path)])
        assert result.exit_code == 0, result.output
        paths[fmt] = Path(result.output.strip())

    rows = list(csv.reader(paths["csv"].read_text(encoding="utf-8").splitlines()))
    title, header, general, vip, centre, blank, spread_title, spread_header, *waits = rows[:5 + 3 + 7]
    assert title == ["inbound by queue"]
    assert (blank, spread_title, spread_header) == ([], ["wait distribution"], ["seconds", "answered calls"])
    assert waits == [["0 s-10 s", "1"], ["10 s-20 s", "1"], ["20 s-30 s", "1"], ["30 s-60 s", "1"],
                     ["60 s-2 min", "0"], ["2 min-5 min", "0"], ["5 min+", "0"]]
    level = header.index("service level")
    assert (general[0], general[level], vip[level]) == ("general", "0.3333", "1.0000")
    assert (centre[0], centre[header.index("offered")], centre[level]) == ("centre", "5", "0.6000")  # 3 of 5
    sheet = load_workbook(paths["xlsx"])["inbound by queue"]
    cells = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert cells[1][0] == "general" and cells[1][level] == pytest.approx(1 / 3)
    assert cells[3][level] == pytest.approx(0.6)
    html = paths["html"].read_text(encoding="utf-8")
    assert "<td>general</td>" in html and "33.3%" in html and "60.0%" in html
    assert html.count('class="bar"') == 2 * 4  # two queues in each of the four charts
    assert html.count('class="bucket"') == 7 + 7  # the wait and handle-time histograms
    assert 'data-bucket="30 s-60 s" data-count="1"' in html
    assert 'class="centre-line"' in html


def test_a_report_for_a_backwards_period_is_a_clear_error(database_url: str, tmp_path) -> None:
    from click.testing import CliRunner

    from ivr.cli import main

    out = tmp_path / "reports"
    result = CliRunner().invoke(main, ["report", "kpi", "--from", "2026-12-02", "--to", "2026-12-01",
                                       "--out", str(out)])

    assert result.exit_code == 1 and "before it starts" in result.output
    assert not out.exists()


def test_the_demo_history_gives_the_same_figures_in_the_csv_the_html_report_and_the_console(
        database_url: str, app, tmp_path) -> None:
    from click.testing import CliRunner

    from ivr.cli import main
    from ivr.reporting.kpi_report import shown
    from ivr.testing.console import log_in

    demo = ["--database-url", database_url, "demo-data", "--customers", "20", "--today", "2026-12-04",
            "--history-days", "7", "--calls-per-day", "60"]
    first = CliRunner().invoke(main, demo)
    again = CliRunner().invoke(main, demo)
    assert first.exit_code == 0 and "call history: 420 calls over 7 days from 2026-11-27" in first.output, first.output
    assert "calls exist already, none added" in again.output
    period = ["report", "kpi", "--from", "2026-11-27", "--to", "2026-12-03", "--by", "queue", "--out", str(tmp_path)]
    csv_file = Path(CliRunner().invoke(main, [*period, "--format", "csv"]).output.strip())
    html = Path(CliRunner().invoke(main, [*period, "--format", "html"]).output.strip()).read_text(encoding="utf-8")
    client = app.test_client()
    assert log_in(client, "quality1", "quality1-demo").status_code == 302
    console = client.get("/reports/kpi?from=2026-11-27&to=2026-12-03&by=queue").get_data(as_text=True)

    expected = {row.key: row for row in kpis.queue_kpis(Period(date(2026, 11, 27), date(2026, 12, 3)), "queue")}
    assert set(expected) == {"general", "vip", "claims", "complaints"}
    assert sum(row.waits for row in expected.values()) > 200  # about 65 % of the calls reach a queue
    rows = list(csv.reader(csv_file.read_text(encoding="utf-8").splitlines()))
    header = rows[1]
    for line in rows[2:rows.index([]) - 1]:  # the groups, then the centre, then a blank line
        row = expected[line[0]]
        assert float(line[header.index("service level")]) == pytest.approx(row.service_level, abs=1e-4)
        assert int(line[header.index("answered")]) == row.answered
        cells = "".join(f"<td>{shown(c.value(row), c.kind)}</td>" for c in kpi_report.COLUMNS)
        assert f"<td>{row.key}</td>{cells}" in html.replace("\n", "")  # the same row in the file ...
        assert f"<td>{row.key}</td>{cells}" in console.replace("\n", "")  # ... and in the console
    assert html.count("<svg") == 4 + 2 and console.count("<svg") == 4 + 2  # four figures, two distributions


def test_outbound_figures_per_campaign_and_day_from_the_attempts_dialled(history, small_book, tmp_path) -> None:
    from sqlalchemy import select as select_

    from ivr.db.models import AttemptStatus, CampaignAttempt, PaymentReconciliation, Policy
    from ivr.domain import campaigns
    from ivr.domain.campaigns import CampaignSpec

    campaign_id = campaigns.create_campaign(CampaignSpec("renewals", "your premium is due", due_within_days=10), "tester", DAY1).id
    ok = {"message_started_at": DAY1, "message_delay_ms": 500}
    attempts = [  # status, key, abandon facts
        (AttemptStatus.ANSWERED, "1", ok), (AttemptStatus.ANSWERED, "2", ok), (AttemptStatus.ANSWERED, "9", ok),
        (AttemptStatus.CUSTOMER_HUNG_UP, None, {}),  # hung up before the message began: abandoned
        (AttemptStatus.BUSY, None, {}), (AttemptStatus.NO_ANSWER, None, {}),
        (AttemptStatus.SKIPPED, None, {}),  # never dialled: not an outbound call
        (AttemptStatus.ANSWERED, "3", ok),  # already paid
    ]
    with session_scope() as session:
        policy = session.scalar(select_(Policy).where(Policy.policy_no == small_book.motor_policy))
        rows = [CampaignAttempt(campaign_id=campaign_id, policy_id=policy.id, customer_id=policy.holder_id,
                                cycle=date(2026, 12, 10), attempt_no=n, number="+8613700000001", status=status,
                                key_pressed=key, not_before=DAY1, started_at=DAY1 + timedelta(minutes=n), **facts)
                for n, (status, key, facts) in enumerate(attempts, start=1)]
        session.add_all(rows)
        session.flush()
        session.add(PaymentReconciliation(policy_id=policy.id, cycle=date(2026, 12, 10), attempt_id=rows[-1].id))

    (renewals,) = kpis.outbound_kpis(PERIOD, "campaign")
    (day,) = kpis.outbound_kpis(PERIOD, "day")

    assert (renewals.key, renewals.dialled, renewals.answered) == ("renewals", 7, 5)
    assert (renewals.agent_requests, renewals.remind_later, renewals.opt_outs, renewals.already_paid) == (1, 1, 1, 1)
    assert renewals.contact_rate == pytest.approx(5 / 7)
    assert renewals.appointment_rate == pytest.approx(1 / 5) and renewals.refusal_rate == pytest.approx(1 / 5)
    assert renewals.abandoned_rate == pytest.approx(1 / 5)
    assert (day.key, day.dialled) == ("2026-12-01", 7)
    assert kpis.outbound_kpis(Period(date(2026, 12, 2), date(2026, 12, 2)), "campaign") == []
    from click.testing import CliRunner

    from ivr.cli import main
    result = CliRunner().invoke(main, ["report", "kpi", "--from", "2026-12-01", "--to", "2026-12-01", "--by",
                                       "campaign", "--format", "csv", "--out", str(tmp_path)])
    title, header, row, centre = csv.reader(Path(result.output.strip()).read_text(encoding="utf-8").splitlines())
    assert title == ["outbound by campaign"] and row[0] == "renewals" and centre[0] == "centre"
    assert (row[header.index("outbound calls")], row[header.index("contact rate")]) == ("7", "0.7143")
    with pytest.raises(ValidationError, match="outbound figures group by"):
        kpis.outbound_kpis(PERIOD, "agent")


def test_a_week_runs_from_monday_to_sunday_in_the_centres_time_zone(database_url: str) -> None:
    set_settings(get_settings().replace(timezone="Asia/Shanghai"))
    with session_scope() as session:  # 23:30 on Sunday 6 December and 00:30 on Monday 7 December, local
        for unique_id, at in (("w1", datetime(2026, 12, 6, 15, 30, tzinfo=timezone.utc)),
                              ("w2", datetime(2026, 12, 6, 16, 30, tzinfo=timezone.utc))):
            session.add(QueueCall(unique_id=unique_id, queue="general", outcome=QueueOutcome.ABANDONED,
                                  joined_at=at, wait_seconds=30))

    weeks = kpis.queue_kpis(Period(date(2026, 11, 30), date(2026, 12, 13)), "week")

    assert [(row.key, row.waits) for row in weeks] == [("2026-11-30", 1), ("2026-12-07", 1)]


def test_by_agent_each_agent_has_a_scorecard_with_the_centre_beside_each_figure(history) -> None:
    html = kpi_report.as_html(kpi_report.build(PERIOD, "agent"))

    ann = html[html.index('data-agent="ann"'):]
    ann = ann[:ann.index("</table>")]
    # Ann answered a1 (10 s wait) and a2 (30 s); the centre answered 4 of 5 offered, 3 within 20 s.
    assert "<tr><th>answered</th><td>2</td><td>4</td></tr>" in ann
    assert "<tr><th>service level</th><td>50.0%</td><td>60.0%</td></tr>" in ann  # a1 within 20 s, a2 not
    assert "<tr><th>ASA s</th><td>20</td><td>16</td></tr>" in ann  # (10+30)/2 and (10+30+5+20)/4
    assert 'data-agent="(no agent)"' not in html


def test_by_team_calls_count_for_the_answering_agents_team_and_transfers_are_over_answered(history) -> None:
    from ivr.domain.users import set_team

    set_team("ann", "north")  # Bob is in no team

    by_team = {row.key: row for row in kpis.queue_kpis(PERIOD, "team")}

    assert set(by_team) == {"north", "(no team)", "(no agent)"}
    assert (by_team["north"].answered, by_team["north"].transferred) == (2, 1)  # a1, a2 (a2 transferred)
    assert by_team["north"].transfer_rate == pytest.approx(1 / 2)
    assert (by_team["(no team)"].answered, by_team["(no team)"].transfer_rate) == (2, 0.0)  # a3, a7
    assert (by_team["(no agent)"].answered, by_team["(no agent)"].abandoned) == (0, 1)  # a4 short, a5
    assert by_team["(no agent)"].transfer_rate is None  # nothing answered: no denominator


def test_wait_and_handle_time_distributions_put_each_answered_call_in_one_bucket(history) -> None:
    waits = kpis.wait_distribution(PERIOD)
    handles = kpis.handle_time_distribution(PERIOD)

    # Answered in the period: a1 10 s wait / 300 s talk, a2 30/200, a3 5/100, a7 20/1200 (lower bounds are in).
    assert waits.counts == (1, 1, 1, 1, 0, 0, 0)
    assert handles.counts == (0, 1, 1, 1, 0, 1, 0)
    assert handles.labels == ("0 s-60 s", "60 s-2 min", "2 min-5 min", "5 min-10 min", "10 min-20 min",
                              "20 min-30 min", "30 min+")


def test_waits_at_the_same_instant_are_not_each_others_repeat_but_a_later_one_is(small_book) -> None:
    set_settings(get_settings().replace(timezone="Asia/Shanghai"))
    at = DAY1 + timedelta(hours=1)
    with session_scope() as session:
        for unique_id, joined in (("t1", at), ("t2", at), ("t3", at + timedelta(hours=1)), ("t4", at + timedelta(days=9))):
            session.add(QueueCall(unique_id=unique_id, queue="general", customer_id=small_book.customer_id,
                                  outcome=QueueOutcome.ANSWERED, joined_at=joined, answered_at=joined,
                                  ended_at=joined + timedelta(minutes=1), wait_seconds=0))

    (general,) = kpis.queue_kpis(Period(date(2026, 12, 1), date(2026, 12, 10)), "queue")

    # t1 and t2 have t3 an hour later; t3's next (t4) is 9 days on, t4 has none: 2 of 4 resolved.
    assert (general.known_answered, general.resolved_first_time) == (4, 2)


def test_a_repeat_contact_is_about_the_same_policy_or_one_the_ivr_did_not_know(small_book) -> None:
    set_settings(get_settings().replace(timezone="Asia/Shanghai"))
    c1, c2 = small_book.customer_id, small_book.other_customer_id
    with session_scope() as session:
        for unique_id, customer, policy, hours in (
                ("y1", c1, "P1", 0),  # y2 is about another policy; y4 (after the period) about P1: a repeat
                ("y2", c1, "P2", 1),  # y3 knows no policy: it may be about P2, a repeat
                ("y3", c1, "", 2),  # about no known policy: any later wait is a repeat (y4)
                ("z1", c2, "P3", 0),  # z2 is about another policy: resolved
                ("y4", c1, "P1", 48), ("z2", c2, "P4", 30)):  # after the period
            joined = DAY1 + timedelta(hours=hours)
            session.add(QueueCall(unique_id=unique_id, queue="general", customer_id=customer, policy_no=policy,
                                  outcome=QueueOutcome.ANSWERED, joined_at=joined, answered_at=joined,
                                  ended_at=joined + timedelta(minutes=1), wait_seconds=0))

    (general,) = kpis.queue_kpis(PERIOD, "queue")

    assert (general.known_answered, general.resolved_first_time) == (4, 1)  # z1 only
