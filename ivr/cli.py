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
