"""The Alembic revisions build exactly the models' schema, and undo it, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from ivr.db.migrate import downgrade, upgrade
from ivr.db.models import Base
from ivr.db.session import engine_for

SELF_SERVICE_TABLES = {"claims", "complaints", "complaint_events", "agent_checks", "fraud_alerts",
                       "lockouts", "number_sequences"}


def _schema_differences(url: str) -> list[object]:
    with engine_for(url).connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), Base.metadata)


def _tables(url: str) -> set[str]:
    return set(inspect(engine_for(url)).get_table_names())


def _agent_columns(url: str) -> set[str]:
    return {column["name"] for column in inspect(engine_for(url)).get_columns("sales_agents")}


def test_migrated_database_matches_the_models(database_url: str) -> None:
    assert _schema_differences(database_url) == []


def test_self_service_revision_downgrades_and_upgrades_again(database_url: str) -> None:
    downgrade(database_url, "0001_initial")
    engine_for(database_url).dispose()

    assert not SELF_SERVICE_TABLES & _tables(database_url)
    assert "pin_hash" not in _agent_columns(database_url)

    upgrade(database_url)
    engine_for(database_url).dispose()

    assert SELF_SERVICE_TABLES <= _tables(database_url)
    assert "pin_hash" in _agent_columns(database_url)
    assert _schema_differences(database_url) == []


def test_console_users_revision_downgrades_and_upgrades_again(database_url: str) -> None:
    downgrade(database_url, "0003_callback_requests")
    engine_for(database_url).dispose()

    assert "console_users" not in _tables(database_url)

    upgrade(database_url)
    engine_for(database_url).dispose()

    assert "console_users" in _tables(database_url)
    assert _schema_differences(database_url) == []


def _columns(url: str, table: str) -> set[str]:
    return {column["name"] for column in inspect(engine_for(url)).get_columns(table)}


def test_wrapup_and_callback_work_revision_downgrades_and_upgrades_again(database_url: str) -> None:
    downgrade(database_url, "0004_console_users")
    engine_for(database_url).dispose()

    assert "wrapup_code" not in _columns(database_url, "calls")
    assert "assigned_to" not in _columns(database_url, "callback_requests")

    upgrade(database_url)
    engine_for(database_url).dispose()

    assert {"wrapup_code", "wrapup_note", "wrapup_by", "wrapup_at"} <= _columns(database_url, "calls")
    assert {"assigned_to", "claimed_at", "attempts", "outcome_note", "closed_at"} <= _columns(
        database_url, "callback_requests")
    assert _schema_differences(database_url) == []


def test_campaigns_revision_downgrades_and_upgrades_again(database_url: str) -> None:
    campaign_tables = {"campaigns", "campaign_attempts", "do_not_call", "payment_reconciliation"}
    downgrade(database_url, "0006_agent_states")
    engine_for(database_url).dispose()

    assert not campaign_tables & _tables(database_url)

    upgrade(database_url)
    engine_for(database_url).dispose()

    assert campaign_tables <= _tables(database_url)
    assert _schema_differences(database_url) == []
