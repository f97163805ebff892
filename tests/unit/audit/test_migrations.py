"""Schema migrations (Alembic): from an empty database, from the previous schema with data in it,
and from a database made before migrations existed, the schema ends equal to the models."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from audit.db import make_engine
from audit.migrate import current_revision, head_revision, upgrade
from audit.store import AuditStore
from tests.dburl import db_url


def _differences(engine) -> list:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)


def test_from_empty_to_head(tmp_path: Path) -> None:
    engine = make_engine(db_url(tmp_path / "empty.db"))
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert _differences(engine) == []
    upgrade(engine)  # idempotent
    assert current_revision(engine) == head_revision()


def test_from_the_previous_schema_with_data(tmp_path: Path) -> None:
    engine = make_engine(db_url(tmp_path / "old.db"))
    upgrade(engine, "0001")
    assert "audit_chain" not in inspect(engine).get_table_names()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO events (event_id, schema_name, timestamp, model_id, model_version,"
                " payload, source_topic, source_partition, source_offset, stored_at) VALUES ('e1',"
                " 'riskwatch.inference/v1', '2026-11-28 12:00:00+00:00', 'm', '1', '{}', 'ev', 0,"
                " 7, '2026-11-28 12:00:01+00:00')"
            )
        )
    store = AuditStore.from_url(db_url(tmp_path / "old.db"))  # opening migrates
    assert current_revision(store.engine) == head_revision()
    assert _differences(store.engine) == []
    assert store.known_event_ids(["e1"]) == {"e1"}


def test_a_database_from_before_migrations_is_stamped(tmp_path: Path) -> None:
    engine = make_engine(db_url(tmp_path / "legacy.db"))
    SQLModel.metadata.create_all(engine)
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert _differences(engine) == []
