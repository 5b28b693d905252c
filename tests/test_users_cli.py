"""ivr users: add, set a password, switch off, list; ivr web refuses the development secret key."""

from __future__ import annotations

from click.testing import CliRunner

from ivr.cli import main
from ivr.config import get_settings, load_settings, set_settings
from ivr.domain import users
from ivr.domain.users import LoginOutcome


def test_add_a_user_with_the_password_typed_twice(database_url: str) -> None:
    result = CliRunner().invoke(main, ["users", "add", "Agent7", "--role", "agent", "--name", "Li Na",
                                       "--sip-endpoint", "agent7"], input="long enough pw\nlong enough pw\n")

    assert result.exit_code == 0, result.output
    assert users.authenticate("agent7", "long enough pw").outcome is LoginOutcome.OK
    listed = CliRunner().invoke(main, ["users", "list"]).output
    assert "agent7" in listed and "Li Na" in listed and "never" not in listed


def test_a_short_password_or_taken_name_is_refused_with_the_reason(database_url: str) -> None:
    short = CliRunner().invoke(main, ["users", "add", "agent7", "--role", "agent"], input="short\nshort\n")
    CliRunner().invoke(main, ["users", "add", "agent7", "--role", "agent"], input="long enough pw\nlong enough pw\n")
    taken = CliRunner().invoke(main, ["users", "add", "agent7", "--role", "admin"],
                               input="long enough pw\nlong enough pw\n")

    assert short.exit_code == 1 and "at least 10 characters" in short.output
    assert taken.exit_code == 1 and "already a console user agent7" in taken.output


def test_set_password_and_deactivate(database_url: str) -> None:
    users.create_user("quality1", "", users.ConsoleRole.QUALITY, "first password")

    changed = CliRunner().invoke(main, ["users", "set-password", "quality1"], input="second password\n" * 2)
    off = CliRunner().invoke(main, ["users", "deactivate", "quality1"])

    assert changed.exit_code == 0 and off.exit_code == 0
    assert users.authenticate("quality1", "second password").outcome is LoginOutcome.INACTIVE
    assert CliRunner().invoke(main, ["users", "set-password", "nobody"], input="second password\n" * 2).exit_code == 1


def test_a_team_is_set_at_creation_or_later_and_a_bad_one_is_refused(database_url: str) -> None:
    added = CliRunner().invoke(main, ["users", "add", "agent7", "--role", "agent", "--team", " North "],
                               input="long enough pw\nlong enough pw\n")
    assert added.exit_code == 0, added.output
    assert [user.team for user in users.list_users()] == ["North"]

    moved = CliRunner().invoke(main, ["users", "set-team", "agent7", "South"])
    bad = CliRunner().invoke(main, ["users", "set-team", "agent7", "x" * 65])
    unknown = CliRunner().invoke(main, ["users", "set-team", "nobody", "South"])

    assert moved.exit_code == 0 and "South" in CliRunner().invoke(main, ["users", "list"]).output
    assert bad.exit_code == 1 and "at most 64" in bad.output
    assert unknown.exit_code == 1 and "no console user nobody" in unknown.output
    assert [user.team for user in users.list_users()] == ["South"]


def test_web_refuses_to_start_with_the_development_secret_key() -> None:
    previous = get_settings()
    set_settings(previous.replace(web_secret_key=load_settings({}).web_secret_key))
    try:
        result = CliRunner().invoke(main, ["web"])
    finally:
        set_settings(previous)

    assert result.exit_code == 1 and "IVR_WEB_SECRET_KEY" in result.output


def test_secure_cookie_setting_reads_yes_and_no() -> None:
    assert load_settings({}).web_cookie_secure is True
    assert load_settings({"IVR_WEB_COOKIE_SECURE": "false"}).web_cookie_secure is False
    assert load_settings({"IVR_WEB_COOKIE_SECURE": "1"}).web_cookie_secure is True
