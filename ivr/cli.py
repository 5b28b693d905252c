"""The ``ivr`` command: one entry point for operators, with a subcommand per job."""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from ivr.config import Settings, get_settings, set_settings
from ivr.logs import configure_logging

if TYPE_CHECKING:
    from ivr.domain.book_import import UpsertCounts
    from ivr.domain.campaigns import CampaignView

T = TypeVar("T")
R = TypeVar("R")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--database-url", envvar="IVR_DATABASE_URL", default=None,
              help="SQLAlchemy URL of the database (default: SQLite under var/).")
@click.option("--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR.")
def main(database_url: str | None, log_level: str | None) -> None:
    """hotline: insurance IVR and contact-centre backend on Asterisk.

    Settings come from defaults, an optional hotline.toml (or IVR_CONFIG_FILE)
    and IVR_* environment variables; see docs/configuration.md.
    """
    settings = get_settings()
    changes = {k: v for k, v in {"database_url": database_url, "log_level": log_level}.items() if v}
    if changes:
        settings = settings.replace(**changes)
        set_settings(settings)
    configure_logging(settings.log_level, settings.log_format)


@main.group()
def db() -> None:
    """Database schema management (Alembic migrations)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def db_upgrade(revision: str) -> None:
    """Create or migrate the database schema to the latest revision."""
    from ivr.db.migrate import upgrade
    from ivr.db.session import ensure_sqlite_folder

    settings = get_settings()
    ensure_sqlite_folder(settings.database_url)
    upgrade(settings.database_url, revision)
    click.echo(f"database at {_redact(settings.database_url)} is at revision {revision}")


def _server_settings() -> Settings:
    """The settings a server starts with: refused (exit 1) in production while a secret is a development default."""
    from ivr.config import check_production_secrets

    settings = get_settings()
    try:
        check_production_secrets(settings)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    return settings


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@main.command("agi")
@click.option("--host", default=None, help="Interface to listen on (default IVR_AGI_HOST).")
@click.option("--port", type=int, default=None, help="TCP port (default IVR_AGI_PORT, 4573).")
def agi(host: str | None, port: int | None) -> None:
    """Run the FastAGI server that Asterisk sends hotline calls to.

    Asterisk reaches it with AGI(agi://HOST:PORT/<flow>); the flow name picks
    the IVR flow (see ivr/flows/registry.py). On start-up it closes the call
    records its previous process left open as interrupted (docs/faults.md).
    """
    import functools
    import socket
    import threading

    from ivr.flows.runner import handle_call, watch_call_records
    from ivr.telephony.fastagi import FastAgiServer, serve_forever

    settings = _server_settings()
    address = (host or settings.agi_host, settings.agi_port if port is None else port)
    server_id = settings.agi_server_id or f"{socket.gethostname()}:{address[1]}"
    try:
        server = FastAgiServer(
            address, functools.partial(handle_call, agi_server=server_id), allowed_peers=settings.agi_allowed_peers,
            env_timeout=settings.agi_env_timeout, reply_timeout=settings.agi_reply_timeout, max_connections=settings.agi_max_connections)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(f"cannot listen on {address[0]}:{address[1]} (agi_host, agi_port): "
                                   f"{error.strerror or error}") from None
    stop = threading.Event()
    watch_call_records(server_id, settings.agi_reconcile_seconds, stop)
    serve_forever(server, settings.agi_stop_grace)
    stop.set()


@main.command("import")
@click.option("--agents", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Sales agents CSV (agent_code, name, licence_no, branch, status).")
@click.option("--customers", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Customers CSV (customer_no, name, birth_date, national_id, phones ...).")
@click.option("--policies", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Policies CSV (policy_no, customer_no, product_line, status, premium ...).")
@click.option("--skip-invalid", is_flag=True,
              help="Import the good rows and report the bad ones (default: any bad row imports nothing).")
@click.option("--dry-run", is_flag=True, help="Check and count everything, write nothing.")
def import_book_command(agents: Path | None, customers: Path | None, policies: Path | None,
                        skip_invalid: bool, dry_run: bool) -> None:
    """Import the policy book from the core system's CSV exports (UTF-8).

    Files are upserted on their business keys (agent_code, customer_no,
    policy_no) in one transaction, agents first, so importing an export twice
    changes nothing. Bad rows are listed as FILE:LINE: REASON and make the
    command exit with status 1. Columns and examples: docs/import.md.
    """
    from ivr.db.session import session_scope
    from ivr.domain.book_import import BookFileError, BookFiles, import_book

    if not (agents or customers or policies):
        raise click.UsageError("name at least one file: --agents, --customers or --policies")
    settings = get_settings()
    try:
        with session_scope() as session:
            report = import_book(session, BookFiles(agents, customers, policies),
                                 salt=settings.national_id_salt, country_code=settings.country_code,
                                 skip_invalid=skip_invalid, track=_progress)
            if dry_run:
                session.rollback()
    except BookFileError as error:
        raise click.ClickException(str(error)) from None
    for problem in report.problems:
        click.echo(str(problem), err=True)
    _echo_counts([(file.file, file.counts, len(file.problems)) for file in report.files])
    if not report.written:
        click.echo("nothing imported: correct the rows above, or use --skip-invalid", err=True)
        raise SystemExit(1)
    if dry_run:
        click.echo("dry run: nothing was written")


@main.command("demo-data")
@click.option("--customers", "customer_count", type=click.IntRange(min=1), default=1000, show_default=True,
              help="How many customers (DEMO0001 included).")
@click.option("--seed", type=int, default=None, help="Random seed (default: a fixed one, so the book is stable).")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Date the book's due dates are relative to (default: today).")
@click.option("--history-days", type=click.IntRange(min=0), default=30, show_default=True,
              help="Days of call history before today for the KPI reports (written once: not when calls exist).")
@click.option("--calls-per-day", type=click.IntRange(min=1), default=200, show_default=True)
def demo_data(customer_count: int, seed: int | None, today: datetime | None, history_days: int,
              calls_per_day: int) -> None:
    """Load a realistic, deterministic demo book: customers, policies, sales agents, and a call history.

    Idempotent: the same seed and day write the same book, upserted like an
    import; the history is written only into a database without calls. Prints
    the fixed customer DEMO0001 for manual test calls.
    """
    from ivr.db.session import session_scope
    from ivr.domain.book_import import write_book
    from ivr.domain.advisors import assign_advisor
    from ivr.domain.demo_data import (DEFAULT_SEED, DEMO_ADVISOR, DEMO_CONSOLE_USERS, DEMO_CUSTOMER_NO,
                                      build_demo_book)
    from ivr.domain.users import put_user

    book = build_demo_book(customer_count, DEFAULT_SEED if seed is None else seed,
                           today.date() if today else None)
    with session_scope() as session:
        counts = write_book(session, book, get_settings().national_id_salt, track=_progress)
    _echo_counts([("sales agents", counts.agents, 0), ("customers", counts.customers, 0),
                  ("policies", counts.policies, 0)])
    demo = next(row for row in book.customers if row.customer_no == DEMO_CUSTOMER_NO)
    click.echo(f"\ndemo customer {demo.customer_no}: {demo.name}, language {demo.language}, "
               f"calls from {', '.join(str(phone) for _, phone in demo.phones)}, "
               f"date of birth {demo.birth_date:%Y%m%d} (key it to verify)")
    for policy in (row for row in book.policies if row.customer_no == DEMO_CUSTOMER_NO):
        click.echo(f"  policy {policy.policy_no} {policy.product_name}: {policy.status.value}, "
                   f"premium {policy.premium} due {policy.next_due_date}")
    agent = book.agents[0]
    click.echo(f"demo sales agent {agent.agent_code}: {agent.name}, internal-line PIN {agent.pin} "
               f"(every demo agent AGnnnn has PIN nnnn)")
    click.echo("demo console users (ivr web --dev, then http://127.0.0.1:8080/login; demo passwords, "
               "never for production):")
    for user in DEMO_CONSOLE_USERS:
        put_user(user.username, user.display_name, user.role, user.password, user.sip_endpoint, user.team)
        click.echo(f"  {user.username:<12} {user.role.value:<11} password {user.password}")
    assign_advisor([DEMO_CUSTOMER_NO], DEMO_ADVISOR)
    click.echo(f"{DEMO_CUSTOMER_NO}'s advisor of record is {DEMO_ADVISOR}: rung first when logged in and free")
    if history_days:
        _demo_history((today.date() if today else get_settings().today()) - timedelta(days=history_days),
                      history_days, calls_per_day)


def _demo_history(first: date, days: int, calls_per_day: int) -> None:
    from sqlalchemy import select

    from ivr.db.models import Call, ConsoleRole as Role, ConsoleUser
    from ivr.db.session import session_scope
    from ivr.domain.demo_history import write_history

    with session_scope() as session:
        if session.scalar(select(Call.id).limit(1)) is not None:
            click.echo("call history: calls exist already, none added")
            return
        agents = list(session.scalars(select(ConsoleUser.id).where(ConsoleUser.role == Role.AGENT)
                                      .order_by(ConsoleUser.id)))
        written = write_history(session, first, days, calls_per_day, agents, get_settings().zone())
    click.echo(f"call history: {written} calls over {days} days from {first} (ivr report kpi, docs/kpis.md)")


def _progress(label: str, items: Sequence[T]) -> Iterator[T]:
    """A progress bar on stderr for the long steps of an import (hidden when stderr is not a terminal)."""
    with click.progressbar(items, label=label, file=sys.stderr) as bar:
        yield from bar


def _echo_counts(rows: list[tuple[str, UpsertCounts, int]]) -> None:
    width = max(len(name) for name, _, _ in rows) + 2
    click.echo(f"{'':<{width}}{'inserted':>10}{'updated':>10}{'unchanged':>10}{'rejected':>10}")
    for name, counts, rejected in rows:
        click.echo(f"{name:<{width}}{counts.inserted:>10}{counts.updated:>10}{counts.unchanged:>10}{rejected:>10}")


@main.group()
def agents() -> None:
    """Sales agents: internal-line PINs."""


@agents.command("set-pin")
@click.argument("code")
@click.option("--pin", prompt="New PIN (4 to 8 digits)", hide_input=True, confirmation_prompt=True,
              help="Read from a prompt (or stdin) when not given; avoid passing it here, it shows in ps.")
def agents_set_pin(code: str, pin: str) -> None:
    """Set the internal-line PIN of sales agent CODE (stored salted and hashed) and lift any lock."""
    from ivr.domain.sales_agents import set_agent_pin

    with _domain_errors():
        set_agent_pin(code, pin.strip())
    click.echo(f"PIN of {code} set")


@main.group()
def advisors() -> None:
    """Advisors of record: the console agent a customer is offered first (docs/routing.md)."""


@advisors.command("assign")
@click.argument("username")
@click.argument("customer_nos", nargs=-1, required=True)
def advisors_assign(username: str, customer_nos: tuple[str, ...]) -> None:
    """Make console agent USERNAME the advisor of the customers CUSTOMER_NOS."""
    from ivr.domain.advisors import assign_advisor

    with _domain_errors():
        changed = assign_advisor(list(customer_nos), username)
    click.echo(f"{username} is the advisor of {changed} customer(s)")


@advisors.command("clear")
@click.argument("customer_nos", nargs=-1, required=True)
def advisors_clear(customer_nos: tuple[str, ...]) -> None:
    """Take the advisor away from the customers CUSTOMER_NOS."""
    from ivr.domain.advisors import assign_advisor

    with _domain_errors():
        changed = assign_advisor(list(customer_nos), None)
    click.echo(f"{changed} customer(s) without an advisor")


@main.group()
def users() -> None:
    """Console users: who logs in to the agent console, and with which role (docs/console.md)."""


@users.command("add")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(["agent", "quality", "supervisor", "admin"]),
              help="agent: serves callers; quality, supervisor, admin: also see checks and fraud alerts.")
@click.option("--name", "display_name", default="", help="The name the console shows (default: USERNAME).")
@click.option("--sip-endpoint", default=None, help="The user's PJSIP endpoint, e.g. agent1 (for screen pops).")
@click.option("--team", default="", help="The agent's team, for the KPIs by team (default: none).")
@click.option("--password", prompt="Password (at least 10 characters)", hide_input=True, confirmation_prompt=True,
              help="Read from a prompt (or stdin) when not given; avoid passing it here, it shows in ps.")
def users_add(username: str, role: str, display_name: str, sip_endpoint: str | None, team: str,
              password: str) -> None:
    """Create console user USERNAME with ROLE and a password (stored salted and hashed)."""
    from ivr.domain.users import ConsoleRole, create_user

    with _domain_errors():
        user = create_user(username, display_name, ConsoleRole(role), password, sip_endpoint, team)
    click.echo(f"console user {user.username} ({user.role.value}) created")


@users.command("set-password")
@click.argument("username")
@click.option("--password", prompt="New password (at least 10 characters)", hide_input=True,
              confirmation_prompt=True,
              help="Read from a prompt (or stdin) when not given; avoid passing it here, it shows in ps.")
def users_set_password(username: str, password: str) -> None:
    """Set USERNAME's password and lift any lock; their open sessions end."""
    from ivr.domain.users import set_password

    with _domain_errors():
        set_password(username, password)
    click.echo(f"password of {username} set")


@users.command("set-team")
@click.argument("username")
@click.argument("team")
def users_set_team(username: str, team: str) -> None:
    """Put USERNAME in TEAM ('' for none); the KPIs by team read it when a report is made."""
    from ivr.domain.users import set_team

    with _domain_errors():
        set_team(username, team)
    click.echo(f"{username} is in team {team.strip() or '(none)'}")


@users.command("deactivate")
@click.argument("username")
def users_deactivate(username: str) -> None:
    """Switch USERNAME off: no more logins, and their open sessions end at once."""
    from ivr.domain.users import set_active

    with _domain_errors():
        set_active(username, False)
    click.echo(f"{username} can no longer log in")


@users.command("activate")
@click.argument("username")
def users_activate(username: str) -> None:
    """Let USERNAME log in again."""
    from ivr.domain.users import set_active

    with _domain_errors():
        set_active(username, True)
    click.echo(f"{username} can log in again")


@users.command("list")
def users_list() -> None:
    """Every console user: role, softphone, active, last login, lock."""
    from ivr.domain.users import list_users

    for user in list_users():
        last = f"{user.last_login_at:%Y-%m-%d %H:%M}Z" if user.last_login_at else "never"
        click.echo(f"{user.username:<20} {user.role.value:<11} {user.sip_endpoint or '-':<12} "
                   f"{user.team or '-':<14} {'active' if user.active else 'inactive':<9} last login {last}  "
                   f"{user.display_name}")


@contextmanager
def _domain_errors() -> Iterator[None]:
    from ivr.domain.errors import DomainError

    try:
        yield
    except DomainError as error:
        raise click.ClickException(error.message) from None


@main.group()
def complaints() -> None:
    """Complaint tickets: move them along the loop, flag the overdue ones."""


@complaints.command("transition")
@click.argument("ticket")
@click.argument("status", type=click.Choice(["assigned", "resolved", "informed", "closed"]))
@click.option("--actor", required=True, help="Who makes the change (kept in the ticket's history).")
@click.option("--department", default=None, help="The department a ticket is assigned to (needed for assigned).")
@click.option("--note", default="", help="A note for the history.")
def complaints_transition(ticket: str, status: str, actor: str, department: str | None, note: str) -> None:
    """Move TICKET to STATUS: received -> assigned -> resolved -> informed -> closed."""
    from ivr.domain.complaints import ComplaintStatus, transition

    with _domain_errors():
        view = transition(ticket, ComplaintStatus(status), actor, note=note, department=department)
    click.echo(f"ticket {view.ticket_no} is {view.status.value}" +
               (f" ({view.department})" if view.department else ""))


@complaints.command("flag-overdue")
def complaints_flag_overdue() -> None:
    """Flag the tickets not resolved by their deadline now (beat does it every overdue_check_minutes)."""
    from ivr.domain.complaints import flag_overdue

    click.echo(f"{flag_overdue()} tickets newly flagged overdue")


@main.group()
def campaigns() -> None:
    """Outbound premium-reminder campaigns: define, plan, start, pause, stop (docs/campaigns.md)."""


@campaigns.command("create")
@click.argument("name")
@click.option("--message", required=True, help="What the call is about, e.g. 'premium due reminder'.")
@click.option("--due-within", "due_within_days", type=click.IntRange(0, 366), default=None,
              help="Select in-force policies whose premium falls due within this many days.")
@click.option("--grace", "include_grace", is_flag=True, help="Select policies in their grace period.")
@click.option("--lapsing-within", "lapsing_within_days", type=click.IntRange(0, 366), default=None,
              help="Select grace-period policies that lapse within this many days.")
@click.option("--line", "product_lines", multiple=True, type=click.Choice(["life", "health", "motor"]),
              help="Only these product lines (repeat for several; default: all).")
@click.option("--branch", "branches", multiple=True, help="Only policies sold by this branch (repeatable).")
@click.option("--window", default=None, help="Local calling window HH:MM-HH:MM (default: setting campaign_window); "
                                             "never within 21:00-09:00.")
@click.option("--max-attempts", type=int, default=None, help="Calls per policy per due date (default 3).")
@click.option("--min-gap-hours", type=int, default=None, help="Hours between two calls about one due date (4).")
@click.option("--max-channels", type=int, default=None, help="Concurrent calls (default: campaign_max_channels).")
@click.option("--calls-per-second", type=float, default=None,
              help="Call starts per second (default: campaign_calls_per_second).")
@click.option("--detect-machines", is_flag=True,
              help="Listen for an answering machine before speaking: a machine is hung up on and called again "
                   "later; a person hears the message after their 'hello' (docs/campaigns.md).")
@click.option("--by", "created_by", default="cli", show_default=True, help="Who creates it (kept on the campaign).")
def campaigns_create(name: str, created_by: str, **criteria: object) -> None:
    """Create campaign NAME as a draft; choose whom it calls with --due-within, --grace or --lapsing-within."""
    from ivr.domain.campaigns import CampaignSpec, ProductLine, create_campaign

    lines = tuple(ProductLine(line) for line in criteria.pop("product_lines"))  # type: ignore[union-attr]
    with _domain_errors():
        view = create_campaign(CampaignSpec(name=name, product_lines=lines, **criteria),  # type: ignore[arg-type]
                               created_by, _now())
    click.echo(f"campaign {view.name} created ({view.state.value}), calling {view.window_start:%H:%M}-"
               f"{view.window_end:%H:%M}, at most {view.max_attempts} calls {view.min_gap_hours} h apart")


@campaigns.command("list")
def campaigns_list() -> None:
    """Every campaign: state, window, who created it."""
    from ivr.domain.campaigns import list_campaigns

    for view in list_campaigns():
        click.echo(f"{view.id:>4}  {view.name:<30} {view.state.value:<8} {view.window_start:%H:%M}-"
                   f"{view.window_end:%H:%M}  by {view.created_by}")


@campaigns.command("show")
@click.argument("name")
def campaigns_show(name: str) -> None:
    """Campaign NAME: its selection and its figures so far."""
    from ivr.domain.campaigns import campaign_by_name, campaign_figures

    with _domain_errors():
        view = campaign_by_name(name)
        figures = campaign_figures(view.id)
    selection = [f"due within {view.due_within_days} days" if view.due_within_days is not None else "",
                 "in grace" if view.include_grace else "",
                 f"lapsing within {view.lapsing_within_days} days" if view.lapsing_within_days is not None else ""]
    click.echo(f"{view.name} ({view.state.value}): {view.message}")
    if view.detect_machines:
        click.echo("  answering machines detected (hung up on, called again later)")
    click.echo(f"  selects: {', '.join(filter(None, selection))}; lines: "
               f"{', '.join(line.value for line in view.product_lines) or 'all'}; branches: "
               f"{', '.join(view.branches) or 'all'}")
    click.echo(f"  targets {figures.targets}, attempts {figures.attempts}, dialled {figures.dialled}, "
               f"reached {figures.reached} (contact rate {figures.contact_rate:.0%})")
    click.echo(f"  agent requests {figures.agent_requests}, remind later {figures.remind_later}, "
               f"already paid {figures.already_paid}, opt-outs {figures.opt_outs}, "
               f"abandoned {figures.abandoned} ({figures.abandoned_rate:.1%} of {figures.answered_calls} answered: "
               f"{figures.late_messages} message late or never, {figures.no_agent_free} no agent free)")
    for reason, count in sorted(figures.skipped_by_reason.items()):
        click.echo(f"  skipped ({reason}): {count}")


@campaigns.command("start")
@click.argument("name")
def campaigns_start(name: str) -> None:
    """Start (or resume) campaign NAME and select its policies at once (beat re-selects every
    campaign_plan_minutes)."""
    from ivr.domain.campaigns import campaign_by_name, plan_attempts, start_campaign

    _campaign_move(name, start_campaign)
    with _domain_errors():
        counts = plan_attempts(campaign_by_name(name).id, _now())
    click.echo(f"{counts.selected} selected, {counts.planned} newly planned, {counts.already_planned} already planned")


@campaigns.command("pause")
@click.argument("name")
def campaigns_pause(name: str) -> None:
    """Pause campaign NAME: its planned calls wait until it starts again."""
    from ivr.domain.campaigns import pause_campaign

    _campaign_move(name, pause_campaign)


@campaigns.command("stop")
@click.argument("name")
def campaigns_stop(name: str) -> None:
    """Stop campaign NAME for good: its planned calls are never made."""
    from ivr.domain.campaigns import stop_campaign

    _campaign_move(name, stop_campaign)


def _campaign_move(name: str, move: Callable[[int, datetime], CampaignView]) -> None:
    from ivr.domain.campaigns import campaign_by_name

    with _domain_errors():
        view = move(campaign_by_name(name).id, _now())
    click.echo(f"campaign {view.name} is {view.state.value}")


@campaigns.command("plan")
@click.argument("name")
def campaigns_plan(name: str) -> None:
    """Select campaign NAME's policies now and plan a first call for each new one (safe to repeat)."""
    from ivr.domain.campaigns import campaign_by_name, plan_attempts

    with _domain_errors():
        counts = plan_attempts(campaign_by_name(name).id, _now())
    click.echo(f"{counts.selected} selected, {counts.planned} newly planned, {counts.already_planned} already planned")


@main.group()
def dnc() -> None:
    """Do-not-call: numbers no campaign may call, each for at least dnc_min_months (docs/campaigns.md)."""


@dnc.command("add")
@click.argument("number")
@click.option("--reason", default="", help="Why (kept with the entry).")
@click.option("--until", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Last day (default and minimum: dnc_min_months from now).")
def dnc_add(number: str, reason: str, until: datetime | None) -> None:
    """Put NUMBER (any written form) on the do-not-call list, effective at once."""
    from ivr.domain.audit import cli_actor
    from ivr.domain.dnc import DncSource, end_of_day, opt_out

    with _domain_errors():
        entry = opt_out(number, None, DncSource.AGENT, _now(), reason, end_of_day(until.date()) if until else None,
                        actor=cli_actor())
    click.echo(f"{entry.number} is not called until {entry.until:%Y-%m-%d}")


@dnc.command("list")
@click.option("--all", "include_ended", is_flag=True, help="Also the entries that have ended.")
def dnc_list(include_ended: bool) -> None:
    """The do-not-call entries in force (newest first)."""
    from ivr.domain.dnc import list_dnc

    for entry in list_dnc(_now(), include_ended):
        click.echo(f"{entry.number:<16} until {entry.until:%Y-%m-%d}  {entry.source.value:<9} "
                   f"from {entry.created_at:%Y-%m-%d}  {entry.reason}")


@dnc.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-invalid", is_flag=True,
              help="Add the good rows and report the bad ones (default: any bad row adds nothing).")
def dnc_import(file: Path, skip_invalid: bool) -> None:
    """Add the numbers of a UTF-8 CSV FILE: columns number, and optionally reason and until (YYYY-MM-DD).

    Bad rows are listed as FILE:LINE: REASON and make the command exit with status 1.
    """
    from ivr.domain.audit import cli_actor
    from ivr.domain.book_import import BookFileError
    from ivr.domain.dnc import import_dnc

    try:
        report = import_dnc(file, _now(), skip_invalid, actor=cli_actor())
    except BookFileError as error:
        raise click.ClickException(str(error)) from None
    for problem in report.problems:
        click.echo(str(problem), err=True)
    click.echo(f"{report.added} numbers added to do-not-call")
    if not report.written:
        click.echo("nothing imported: correct the rows above, or use --skip-invalid", err=True)
    if report.problems:
        raise SystemExit(1)


@main.group()
def recordings() -> None:
    """Call recordings: catalogue, verify (tamper evidence), legal hold, purge (docs/recordings.md)."""


@recordings.command("collect")
def recordings_collect() -> None:
    """Catalogue new recordings and complete those Asterisk has closed (beat does this every
    recording_collect_seconds)."""
    from ivr.domain.call_recordings import collect

    counts = collect(_now())
    click.echo(f"{counts.found} found, {len(counts.completed)} completed, {counts.unfinished} unfinished, "
               f"{counts.failed} failed")


@recordings.command("list")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
def recordings_list(limit: int) -> None:
    """The latest recordings: id, start, seconds, status, transcription, queue, retention, pauses."""
    from ivr.domain.call_recordings import latest_recordings, pauses_of

    for row in latest_recordings(limit):
        hold = " legal-hold" if row.legal_hold else ""
        pauses = len(pauses_of(row.id))
        paused = f" paused {pauses}x" if pauses else ""
        click.echo(f"{row.id:>6} {row.started_at:%Y-%m-%d %H:%M} {row.duration_seconds or 0:>7.1f}s "
                   f"{row.status.value:<10} {row.transcription_status.value:<8} {row.queue or '-':<10} "
                   f"until {row.retain_until or '-'}{hold}{paused}  {row.transcription_error}")


@recordings.command("verify")
def recordings_verify() -> None:
    """Hash every catalogued file again; list each that changed or vanished and exit 1 if any did."""
    from ivr.domain.audit import cli_actor
    from ivr.domain.call_recordings import verify_recordings

    checked, problems = verify_recordings(cli_actor())
    for problem in problems:
        click.echo(f"recording {problem.recording_id}: {problem.path} {problem.problem}")
    click.echo(f"{checked} files checked, {len(problems)} changed or missing")
    if problems:
        raise SystemExit(1)


@recordings.command("purge")
def recordings_purge() -> None:
    """Delete the files of recordings past their retention date (never those on legal hold)."""
    from ivr.domain.audit import cli_actor
    from ivr.domain.call_recordings import purge_expired

    purged = purge_expired(_now(), cli_actor())
    click.echo(f"{len(purged)} recordings purged" + (f": {', '.join(map(str, purged))}" if purged else ""))


@recordings.command("hold")
@click.argument("recording_id", type=int)
@click.option("--off", is_flag=True, help="Lift the hold (the retention date applies again).")
def recordings_hold(recording_id: int, off: bool) -> None:
    """Put recording RECORDING_ID under legal hold: it is never purged until the hold is lifted."""
    from ivr.domain.audit import cli_actor
    from ivr.domain.call_recordings import set_legal_hold

    with _domain_errors():
        set_legal_hold(recording_id, not off, actor=cli_actor())
    click.echo(f"recording {recording_id}: legal hold {'off' if off else 'on'}")


@main.group()
def audit() -> None:
    """The audit trail of changes to claims, complaints, do-not-call entries and recordings (docs/security.md)."""


@audit.command("verify")
def audit_verify() -> None:
    """Check the hash chain from its first row; exit 1 naming the first row altered, deleted or reordered.

    Prints the head (last sequence number and hash): keep it elsewhere, and a
    later rewrite of the chain from an earlier row shows as a different hash.
    """
    from ivr.domain.audit import verify_chain

    report = verify_chain()
    if report.problem is not None:
        click.echo(f"audit log broken at row {report.problem.seq} ({report.problem.reason}): "
                   f"{report.problem.message}", err=True)
        click.echo(f"{report.checked} rows intact before it, up to {report.head_seq} {report.head_hash}")
        raise SystemExit(1)
    click.echo(f"audit log intact: {report.checked} rows, head {report.head_seq} {report.head_hash}")


@audit.command("list")
@click.option("--entity", type=click.Choice(["claim", "complaint", "dnc", "recording"]), default=None,
              help="Only changes to this kind of thing.")
@click.option("--id", "entity_id", default=None,
              help="Only this one: a claim or ticket number, a do-not-call or recording id.")
@click.option("--actor", default=None, help="Only changes by this actor (ivr, system, cli:NAME, user:ID).")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True, help="The latest this many.")
def audit_list(entity: str | None, entity_id: str | None, actor: str | None, limit: int) -> None:
    """The latest audited changes, oldest first: sequence, time (UTC), actor, what, action, details."""
    from ivr.domain.audit import list_entries

    for row in list_entries(entity, entity_id, actor, limit):
        click.echo(f"{row.seq:>8} {row.at:%Y-%m-%d %H:%M:%S} {row.actor:<16} {row.entity_kind}:{row.entity_id:<14} "
                   f"{row.action:<16} {row.details}")


@main.command("transcribe")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--pending", is_flag=True, help="Transcribe the catalogue's recordings waiting for it.")
@click.option("--jobs", type=click.IntRange(min=1), default=os.cpu_count() or 1, show_default="one per CPU core",
              help="Files transcribed at once, sharing one loaded model.")
def transcribe(paths: tuple[Path, ...], pending: bool, jobs: int) -> None:
    """Transcribe audio files PATHS (each printed as timed words), or the catalogue's --pending recordings.

    A bad file (empty, truncated, not audio, too long) is reported with its reason and the rest go on;
    the command then exits with status 1. The model is vosk_model_path (docs/speech.md).
    """
    from ivr.speech.audio import SpeechSetupError, require_ffmpeg
    from ivr.speech.engine import load_model, model_folder

    if bool(paths) == pending:
        raise click.UsageError("give audio PATHS or --pending, not both and not neither")
    try:
        require_ffmpeg()
        load_model(model_folder(get_settings().vosk_model_path))  # once, shared by the jobs
    except SpeechSetupError as error:
        raise click.ClickException(str(error)) from None
    if pending:
        _transcribe_pending(jobs)
        return
    results = _in_parallel(_transcribe_path, list(paths), jobs, "transcribing")
    failed = sum(result.startswith(f"{path}: failed: ") for path, result in zip(paths, results))
    click.echo("\n".join(results))
    click.echo(f"{len(paths) - failed} transcribed, {failed} failed")
    if failed:
        raise SystemExit(1)


def _transcribe_path(path: Path) -> str:
    """``PATH: word@start ...``, or ``PATH: failed: reason: why``."""
    from ivr.speech.audio import BadAudio
    from ivr.speech.engine import load_model, model_folder, transcribe_file

    settings = get_settings()
    phrases = [p.strip() for p in settings.speech_phrases.split(",") if p.strip()] or None
    try:
        words = transcribe_file(load_model(model_folder(settings.vosk_model_path)), path, "speaker",
                                phrases=phrases, max_seconds=settings.recording_max_seconds)
    except BadAudio as error:
        return f"{path}: failed: {error.reason}: {error}"
    return f"{path}: " + " ".join(f"{w.text}@{w.start:.2f}" for w in words)


def _in_parallel(work: Callable[[T], R], items: list[T], jobs: int, label: str) -> list[R]:
    """``work`` on each item, ``jobs`` at a time in threads (Vosk and ffmpeg run outside the GIL),
    with a progress bar; the results in the items' order."""
    with ThreadPoolExecutor(max_workers=jobs) as pool, \
            click.progressbar(length=len(items), label=label, file=sys.stderr) as bar:
        futures = [pool.submit(work, item) for item in items]
        for _ in as_completed(futures):
            bar.update(1)
        return [future.result() for future in futures]


def _transcribe_pending(jobs: int) -> None:
    from ivr.domain.call_recordings import pending_transcriptions
    from ivr.speech.call_transcripts import transcribe_recording

    outcomes = Counter(_in_parallel(transcribe_recording, pending_transcriptions(), jobs, "transcribing recordings"))
    click.echo(", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items())) or "nothing pending")
    if outcomes["failed"]:  # each with its reason in the catalogue (ivr recordings list)
        raise SystemExit(1)


def _now() -> datetime:
    return datetime.now(timezone.utc)


@main.command("health")
def health() -> None:
    """What needs an operator now (recordings disk space, unrecorded calls, the database); exit 1 if anything.

    The same alerts as GET /api/health and the wallboard (ivr/domain/health.py, docs/faults.md).
    """
    from ivr.domain.health import alerts

    found = alerts(_now())
    for alert in found:
        click.echo(f"ALERT {alert.code}: {alert.message}")
    if found:
        raise SystemExit(1)
    click.echo("ok")


@main.command("worker")
@click.option("--beat/--no-beat", default=True, show_default=True,
              help="Also run beat (the periodic tasks) inside this worker. Fine on one box; with "
                   "several workers use --no-beat everywhere and run one `ivr beat`.")
@click.option("--concurrency", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: one per CPU core).")
@click.option("--name", default=None,
              help="Celery node name (default celery@<host name>); two workers on one machine need two.")
@click.option("--queues", default=None, metavar="NAME[,NAME]",
              help="Take tasks only from these broker queues (default: all of them, settings task_queue and "
                   "transcription_queue); e.g. a transcription-only worker on a machine of its own.")
@click.option("--loglevel", default=None, help="DEBUG, INFO, WARNING or ERROR (default: setting log_level).")
def worker(beat: bool, concurrency: int | None, name: str | None, queues: str | None, loglevel: str | None) -> None:
    """Run a Celery worker for the background work (e.g. flagging overdue complaints).

    The broker and result backend come from settings broker_url and
    result_backend: by default a SQLite file under var/ (no server needed);
    Redis or RabbitMQ in production. Periodic tasks and their intervals:
    ivr/tasks/__init__.py, docs/architecture.md ("Background work").
    """
    from ivr.tasks import get_celery
    from ivr.tasks.worker import run_worker

    chosen = _worker_queues(queues, _server_settings())
    with _broker_errors():
        run_worker(get_celery(), beat, concurrency, _task_loglevel(loglevel), name, chosen)


def _worker_queues(option: str | None, settings: Settings) -> list[str] | None:
    """The queues named by ``--queues`` (None: all), each one of the installation's."""
    from ivr.tasks import task_queues

    if not option:
        return None
    chosen = [queue.strip() for queue in option.split(",") if queue.strip()]
    unknown = sorted(set(chosen) - set(task_queues(settings)))
    if unknown or not chosen:
        named = ", ".join(unknown) or repr(option)
        raise click.BadParameter(f"{named}: not a queue of this installation ({', '.join(task_queues(settings))})",
                                 param_hint="--queues")
    return chosen


@main.command("beat")
@click.option("--loglevel", default=None, help="DEBUG, INFO, WARNING or ERROR (default: setting log_level).")
def beat(loglevel: str | None) -> None:
    """Run Celery beat alone: it sends the periodic tasks to the workers when due.

    Run exactly one per installation (two would send everything twice), with
    the workers started as `ivr worker --no-beat`.
    """
    from ivr.tasks import get_celery
    from ivr.tasks.worker import run_beat

    _server_settings()
    with _broker_errors():
        run_beat(get_celery(), _task_loglevel(loglevel))


def _task_loglevel(loglevel: str | None) -> str:
    settings = get_settings()
    level = (loglevel or settings.log_level).upper()
    configure_logging(level, settings.log_format)
    return level


@contextmanager
def _broker_errors() -> Iterator[None]:
    from ivr.tasks.broker import BrokerUnavailable

    try:
        yield
    except BrokerUnavailable as error:
        raise click.ClickException(str(error)) from None


@main.command("web")
@click.option("--host", default=None, help="Interface to listen on (default IVR_WEB_HOST, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="TCP port (default IVR_WEB_PORT, 8080).")
@click.option("--dev", is_flag=True, help="Development only: accept the default web_secret_key and send the "
                                          "session cookie over plain HTTP.")
def web(host: str | None, port: int | None, dev: bool) -> None:
    """Serve the agent console and its JSON API (/login, /, /api/...; docs/console.md).

    Needs IVR_WEB_SECRET_KEY (a long random value) unless --dev; with
    IVR_ENVIRONMENT=production every secret must be set and --dev is refused. With
    web_ami_link (the default) it keeps an AMI link to Asterisk for queue
    log-in and pause, screen pops, automatic callbacks and the wallboard,
    reconnecting whenever Asterisk restarts. This is Flask's development
    server (threaded: each screen-pop stream holds a thread); in production
    run one such process behind HTTPS.
    """
    from ivr.web import create_app

    settings = _server_settings()
    if dev and settings.environment == "production":
        raise click.ClickException("--dev is for development: environment is production")
    if not dev and settings.web_secret_key in ("", Settings().web_secret_key):
        raise click.ClickException("set IVR_WEB_SECRET_KEY to a long random value (e.g. python -c "
                                   "'import secrets; print(secrets.token_urlsafe(48))'), or use --dev")
    if dev:
        set_settings(settings.replace(web_cookie_secure=False))
    app = create_app()
    board = None
    if settings.web_ami_link:
        from ivr.switchboard.board import Switchboard
        from ivr.telephony.ami_link import AmiLink

        board = Switchboard(AmiLink())
        app.extensions["switchboard"] = board
        board.start()
    try:
        app.run(host=host or settings.web_host, port=port or settings.web_port, threaded=True)
    finally:
        if board is not None:
            board.stop()


@main.group()
def report() -> None:
    """Reports written into reports/ (setting reports_dir) for people: KPIs (docs/kpis.md)."""


@report.command("kpi")
@click.option("--from", "first", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First day (YYYY-MM-DD).")
@click.option("--to", "last", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last day, included.")
@click.option("--by", type=click.Choice(["agent", "team", "queue", "day", "week", "month", "campaign"]),
              default="day", show_default=True,
              help="Inbound figures by agent, team, queue, day, week (from Monday) or month; "
                   "outbound by campaign, day, week or month.")
@click.option("--format", "fmt", type=click.Choice(["html", "csv", "xlsx"]), default="html", show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder (default: setting reports_dir).")
def report_kpi(first: datetime, last: datetime, by: str, fmt: str, out_dir: Path | None) -> None:
    """The KPIs of the days FROM to TO (the centre's days) by agent, team, queue, day or campaign: HTML
    with charts, CSV, or a spreadsheet. Prints the file's path."""
    from ivr.domain.kpis import Period
    from ivr.reporting.kpi_report import build, write

    with _domain_errors():
        report_ = build(Period(first.date(), last.date()), by)  # type: ignore[arg-type]
    path = write(report_, fmt, out_dir or Path(get_settings().reports_dir))  # type: ignore[arg-type]
    click.echo(str(path))


@main.group()
def prompts() -> None:
    """The hotline's prompts (ivr/flows/prompts/<language>.toml) as WAV files for Asterisk."""


@prompts.command("build")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Folder for <language>/<id>.wav: Asterisk's <astdatadir>/sounds/hotline "
                   "(default: setting prompt_sounds_dir).")
@click.option("--language", "languages", multiple=True, metavar="L",
              help="Build only this language (repeatable); default: all.")
@click.option("--force", is_flag=True, help="Build every prompt, changed or not.")
@click.option("--espeak", default="espeak-ng", show_default=True,
              help="espeak-ng command prefix, e.g. 'chroot /path/to/rootfs espeak-ng'.")
@click.option("--names/--no-names", default=True, show_default=True,
              help="With all languages, also record each active sales agent's name and branch "
                   "from the database (names/agent_<code>.wav), which the agent check plays.")
def prompts_build(out_dir: str | None, languages: tuple[str, ...], force: bool, espeak: str,
                  names: bool) -> None:
    """Build every prompt as 8 kHz mono 16-bit WAV: the site's own recording of a prompt
    (setting prompt_overrides_dir, <language>/<id>.wav) if there is one, else espeak-ng.
    Unchanged prompts are skipped. Fails, building nothing, if a flow uses a prompt id
    that some catalogue lacks."""
    from ivr.flows.prompts import LANGUAGES, PROMPTS, SPEECH_FRAGMENTS
    from ivr.flows.prompts.check import catalogue_problems
    from ivr.telephony.prompt_build import PromptBuildError, build_prompts

    problems = catalogue_problems()
    if problems:
        raise click.ClickException("prompt catalogues are incomplete; nothing built:\n  " + "\n  ".join(problems))
    unknown = sorted(set(languages) - set(LANGUAGES))
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)} (we speak {', '.join(LANGUAGES)})", param_hint="--language")
    settings = get_settings()
    out = Path(out_dir or settings.prompt_sounds_dir)
    chosen = {language: PROMPTS[language] for language in (languages or LANGUAGES)}
    if names and not languages:
        chosen["names"] = _agent_name_texts()
    try:
        report = build_prompts(chosen, out, espeak=espeak, overrides_dir=Path(settings.prompt_overrides_dir),
                               force=force, fragments=SPEECH_FRAGMENTS, progress=click.echo)
    except PromptBuildError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"prompts in {out}: {report.summary()}")


def _agent_name_texts() -> dict[str, str]:
    """Sound id -> "name, branch" for every active sales agent; none without a database."""
    from sqlalchemy.exc import SQLAlchemyError

    from ivr.domain.sales_agents import active_agents
    from ivr.flows.prompts.names import agent_name_id, agent_name_text

    try:
        agents = active_agents()
    except SQLAlchemyError as exc:
        click.echo(f"no agent names recorded: the database is not ready ({exc.__class__.__name__})", err=True)
        return {}
    return {agent_name_id(a.agent_code): agent_name_text(a.name, a.branch)
            for a in agents if agent_name_id(a.agent_code)}


@main.command("call")
@click.argument("extension")
@click.option("--from", "ani", required=True, help="Caller number (ANI), e.g. 13800138000.")
@click.option("--name", default=None, help="Caller ID name (SIP display name).")
@click.option("--dtmf", multiple=True, help="Digits to key, e.g. 19800101#; repeat for each "
                                             "menu in turn (--dtmf 1 --dtmf 19800101#).")
@click.option("--dtmf-delay", default=2.0, show_default=True, type=float,
              help="Seconds before each --dtmf (after answer, then after the previous one); "
                   "digits keyed while no prompt or read is running are lost.")
@click.option("--hold", default=10.0, show_default=True, type=float,
              help="Seconds to stay on the line after answer (or after the digits) before hanging up.")
@click.option("--host", default=None, help="Asterisk SIP address (default IVR_ASTERISK_HOST).")
@click.option("--port", default=None, type=int, help="Asterisk SIP port (default IVR_SIP_PORT).")
def call(extension: str, ani: str, name: str | None, dtmf: tuple[str, ...], dtmf_delay: float, hold: float,
         host: str | None, port: int | None) -> None:
    """Place a test call into Asterisk with pjsua2, e.g. ivr call 95519 --from 13800138000.

    Prints each state change; the call ends when Asterisk hangs up or after --hold.
    """
    import time

    from ivr.testing.sip_caller import SipCaller, SipCallerError

    settings = get_settings()
    with SipCaller() as caller:
        try:
            placed = caller.call(extension, ani, name, host or settings.asterisk_host, port or settings.sip_port)
            click.echo(f"calling {extension} from {ani}")
            placed.wait_answered(30)
            click.echo(f"answered ({placed.last_status_code})")
            for digits in dtmf:
                time.sleep(dtmf_delay)
                placed.send_dtmf(digits)
                click.echo(f"keyed {digits}")
            deadline = time.monotonic() + hold
            while placed.state != "disconnected" and time.monotonic() < deadline:
                time.sleep(0.1)
            if placed.state != "disconnected":
                placed.hangup()
                placed.wait_disconnected(5)
                click.echo("hung up")
            else:
                click.echo(f"Asterisk hung up ({placed.last_status_code} {placed.last_reason})")
        except (SipCallerError, TimeoutError, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc


if __name__ == "__main__":
    main()
