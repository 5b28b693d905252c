"""The ``ivr`` command: one entry point for operators, with a subcommand per job."""

from __future__ import annotations

import click

from ivr.config import get_settings, set_settings
from ivr.logs import configure_logging


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

    settings = get_settings()
    _ensure_sqlite_folder(settings.database_url)
    upgrade(settings.database_url, revision)
    click.echo(f"database at {_redact(settings.database_url)} is at revision {revision}")


def _ensure_sqlite_folder(url: str) -> None:
    from pathlib import Path

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@main.command("agi")
@click.option("--host", default=None, help="Interface to listen on (default IVR_AGI_HOST).")
@click.option("--port", type=int, default=None, help="TCP port (default IVR_AGI_PORT, 4573).")
def agi(host: str | None, port: int | None) -> None:
    """Run the FastAGI server that Asterisk sends hotline calls to.

    Asterisk reaches it with AGI(agi://HOST:PORT/<flow>); the flow name picks
    the IVR flow (see ivr/flows/registry.py).
    """
    from ivr.flows.runner import handle_call
    from ivr.telephony.fastagi import FastAgiServer, serve_forever

    settings = get_settings()
    server = FastAgiServer(
        (host or settings.agi_host, port or settings.agi_port), handle_call,
        allowed_peers=settings.agi_allowed_peers, env_timeout=settings.agi_env_timeout,
        reply_timeout=settings.agi_reply_timeout, max_connections=settings.agi_max_connections)
    serve_forever(server)


@main.group()
def prompts() -> None:
    """Recorded prompts: the hotline's sentences (ivr/flows/prompts.py) as WAV files."""


@prompts.command("render")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for <language>/<key>.wav; Asterisk's <astdatadir>/sounds/hotline.")
@click.option("--espeak", default="espeak-ng", show_default=True,
              help="espeak-ng command prefix, e.g. 'chroot /path/to/rootfs espeak-ng'.")
def prompts_render(out_dir: str, espeak: str) -> None:
    """Render every prompt to 8 kHz mono WAV with espeak-ng; unchanged prompts are skipped."""
    from pathlib import Path

    from ivr.flows.prompts import PROMPTS
    from ivr.telephony.prompt_render import PromptRenderError, render_prompts

    try:
        report = render_prompts(PROMPTS, Path(out_dir), espeak)
    except PromptRenderError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"prompts in {out_dir}: {len(report.rendered)} rendered, {len(report.unchanged)} unchanged")


@main.command("call")
@click.argument("extension")
@click.option("--from", "ani", required=True, help="Caller number (ANI), e.g. 13800138000.")
@click.option("--name", default=None, help="Caller ID name (SIP display name).")
@click.option("--dtmf", default="", help="Digits to key after answer, e.g. 19800101#.")
@click.option("--dtmf-delay", default=2.0, show_default=True, type=float,
              help="Seconds between answer and the digits (digits keyed while no "
                   "prompt or read is running are lost).")
@click.option("--hold", default=10.0, show_default=True, type=float,
              help="Seconds to stay on the line after answer (or after the digits) before hanging up.")
@click.option("--host", default=None, help="Asterisk SIP address (default IVR_ASTERISK_HOST).")
@click.option("--port", default=None, type=int, help="Asterisk SIP port (default IVR_SIP_PORT).")
def call(extension: str, ani: str, name: str | None, dtmf: str, dtmf_delay: float, hold: float,
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
            if dtmf:
                time.sleep(dtmf_delay)
                placed.send_dtmf(dtmf)
                click.echo(f"keyed {dtmf}")
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
