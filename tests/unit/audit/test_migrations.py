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


def test_0005_renames_duplicate_token_names_and_adds_the_expiry(tmp_path: Path) -> None:
    engine = make_engine(db_url(tmp_path / "dups.db"))
    upgrade(engine, "0004")
    long = "x" * 128
    with engine.begin() as conn:
        for i, name in enumerate(["ci", "ci", "ci-3", "ci", long, long], start=1):
            conn.execute(
                text(
                    "INSERT INTO api_tokens (id, name, role, token_hash, created_at) VALUES "
                    "(:id, :name, 'auditor', :hash, '2026-11-28 12:00:00+00:00')"
                ),
                {"id": i, "name": name, "hash": f"{i:064d}"},
            )
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert _differences(engine) == []
    with engine.connect() as conn:
        names = dict(conn.execute(text("SELECT id, name FROM api_tokens ORDER BY id")).all())
        assert conn.execute(text("SELECT expires_at FROM api_tokens")).scalars().all() == [None] * 6
    assert names[1] == "ci" and names[3] == "ci-3" and names[5] == long
    assert names[2] == "ci-2" and names[4] == "ci-4"
    assert len(set(names.values())) == 6 and len(names[6]) <= 128 and names[6].endswith("-6")
    indexes = {i["name"]: i for i in inspect(engine).get_indexes("api_tokens")}
    assert indexes["ix_api_tokens_name"]["unique"]


def test_0008_chains_the_tokens_that_existed_before(tmp_path: Path) -> None:
    from audit.verify import verify

    engine = make_engine(db_url(tmp_path / "tokens.db"))
    upgrade(engine, "0007")
    with engine.begin() as conn:
        for i, revoked in [(1, None), (2, "2026-11-29 12:00:00+00:00")]:
            conn.execute(
                text(
                    "INSERT INTO api_tokens (id, name, role, token_hash, created_at, revoked_at)"
                    " VALUES (:id, :name, 'auditor', :hash, '2026-11-28 12:00:00+00:00', :rev)"
                ),
                {"id": i, "name": f"t{i}", "hash": f"{i:064d}", "rev": revoked},
            )
    upgrade(engine)
    with engine.connect() as conn:
        subjects = conn.execute(
            text("SELECT subject FROM audit_chain WHERE kind = 'token' ORDER BY seq")
        ).scalars()
        assert list(subjects) == ["1/create", "2/create", "2/revoke"]
    assert verify(engine).ok
    upgrade(engine)  # idempotent: nothing chained twice
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM audit_chain")).scalar_one()
    assert count == 3
    with engine.begin() as conn:  # a token inserted behind riskwatch's back
        conn.execute(
            text(
                "INSERT INTO api_tokens (id, name, role, token_hash, created_at) VALUES "
                "(3, 'evil', 'admin', :hash, '2026-11-30 12:00:00+00:00')"
            ),
            {"hash": "9" * 64},
        )
    assert "not in the chain" in (verify(engine).broken.problem or "")  # type: ignore[union-attr]
