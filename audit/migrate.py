"""Versioned schema migrations (Alembic, audit/migrations/), applied when a store is opened.

A database made before migrations existed (tables but no ``alembic_version``) is brought to the
current tables with ``create_all`` and stamped, once. On PostgreSQL an advisory lock keeps two
workers starting together from migrating at the same time.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_LOCK_ID = 0x7269736B  # "risk"
# A database made before migrations existed has the schema of this revision at most: the tables
# it lacks are created, it is stamped here, and the later revisions run as for any other.
_PRE_MIGRATION = "0002"
_ADDED_AFTER_PRE_MIGRATION = frozenset(
    {
        "data_removals",
        "detector_state_entries",
        "incidents",
        "incident_findings",
        "incident_events",
        "data_keys",
        "text_reveals",
        "audit_chain_batches",
    }
)


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: the newest)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
        tables = set(inspect(conn).get_table_names())
        config = alembic_config(conn)
        if "events" in tables and "alembic_version" not in tables:
            SQLModel.metadata.create_all(
                conn,
                tables=[
                    t
                    for name, t in SQLModel.metadata.tables.items()
                    if name not in _ADDED_AFTER_PRE_MIGRATION
                ],
            )
            command.stamp(config, _PRE_MIGRATION)
        command.upgrade(config, revision)
