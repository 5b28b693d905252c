"""ivr campaigns (create, list, show, start/pause/stop, plan) and ivr dnc (add, list, import)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import update

from ivr.cli import main
from ivr.config import get_settings
from ivr.db.models import Policy
from ivr.db.session import session_scope
from ivr.testing.small_book import SmallBook


def ivr(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_create_plan_show_and_move_a_campaign(small_book: SmallBook) -> None:
    created = ivr("campaigns", "create", "renewals", "--message", "premium due", "--due-within", "3650",
                  "--line", "motor", "--line", "life", "--branch", "北京分公司")
    assert created.exit_code == 2  # click refuses more than 366 days
    created = ivr("campaigns", "create", "renewals", "--message", "premium due", "--due-within", "366",
                  "--line", "motor", "--line", "life", "--branch", "北京分公司")
    first, second = ivr("campaigns", "plan", "renewals"), ivr("campaigns", "plan", "renewals")
    started = ivr("campaigns", "start", "renewals")
    paused = ivr("campaigns", "pause", "renewals")
    shown = ivr("campaigns", "show", "renewals")

    assert created.exit_code == 0, created.output
    assert "09:00-20:00" in created.output and "at most 3 calls 4 h apart" in created.output
    assert "newly planned" in first.output and "0 newly planned" in second.output
    assert "is running" in started.output and "is paused" in paused.output
    assert "0 newly planned" in started.output  # a start plans at once; here nothing new was due
    assert "lines: motor, life" in shown.output and "branches: 北京分公司" in shown.output
    assert "renewals" in ivr("campaigns", "list").output


def test_a_campaign_created_to_detect_answering_machines_says_so(database_url: str) -> None:
    created = ivr("campaigns", "create", "amd", "--message", "premium due", "--due-within", "30", "--detect-machines")
    plain = ivr("campaigns", "create", "plain", "--message", "premium due", "--due-within", "30")

    assert created.exit_code == 0 and plain.exit_code == 0, created.output + plain.output
    assert "answering machines detected" in ivr("campaigns", "show", "amd").output
    assert "answering machines" not in ivr("campaigns", "show", "plain").output


def test_wrong_moves_and_night_windows_are_refused_with_the_reason(database_url: str) -> None:
    night = ivr("campaigns", "create", "night", "--message", "m", "--grace", "--window", "19:00-22:00")
    ivr("campaigns", "create", "draft", "--message", "m", "--grace")
    pause = ivr("campaigns", "pause", "draft")
    unknown = ivr("campaigns", "start", "nope")

    assert night.exit_code == 1 and "21:00-09:00" in night.output
    assert pause.exit_code == 1 and "it cannot pause" in pause.output
    assert unknown.exit_code == 1 and "no campaign named 'nope'" in unknown.output


def test_dnc_add_list_and_import(database_url: str, tmp_path: Path) -> None:
    added = ivr("dnc", "add", "138 0013 8001", "--reason", "asked")
    short = ivr("dnc", "add", "13800138002", "--until", "2000-01-01")
    good = tmp_path / "good.csv"
    good.write_text("number\n13800138003\n", encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text("number\n13800138004\nabc\n", encoding="utf-8")

    imported, refused = ivr("dnc", "import", str(good)), ivr("dnc", "import", str(bad))
    listed = ivr("dnc", "list").output

    assert added.exit_code == 0 and "+8613800138001 is not called until" in added.output
    assert short.exit_code == 1 and "at least 6 months" in short.output
    assert imported.exit_code == 0 and "1 numbers added" in imported.output
    assert refused.exit_code == 1 and f"{bad}:3: number 'abc'" in refused.output
    assert "+8613800138001" in listed and "+8613800138003" in listed and "+8613800138004" not in listed


def test_starting_a_campaign_plans_its_calls_at_once(small_book: SmallBook) -> None:
    with session_scope() as session:  # the CLI plans on today's clock: every premium falls due in 10 days
        session.execute(update(Policy).values(next_due_date=get_settings().today() + timedelta(days=10)))
    ivr("campaigns", "create", "daily", "--message", "premium due", "--due-within", "30")

    started = ivr("campaigns", "start", "daily")

    assert started.exit_code == 0, started.output
    assert "is running" in started.output and "3 selected, 3 newly planned" in started.output
