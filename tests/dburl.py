"""The audit-store URL a test should use: a SQLite file, or, when the suite runs against
PostgreSQL (``RISKWATCH_TEST_DB=postgres``, see tests/conftest.py), a fresh database per path."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

PORT_ENV = "RISKWATCH_TEST_POSTGRES_PORT"
_created: set[str] = set()


def db_url(path: Path | str) -> str:
    """The store URL for ``path``: the same path gives the same database within one run."""
    port = os.environ.get(PORT_ENV)
    if not port:
        return f"sqlite:///{path}"
    import psycopg

    from riskwatch.local_postgres import DB_USER, LocalPostgres

    name = "t_" + hashlib.sha1(str(path).encode()).hexdigest()[:20]
    server = LocalPostgres(Path(tempfile.gettempdir()), port=int(port))
    if name not in _created:  # a database left by an earlier run is dropped, not reused
        with psycopg.connect(
            f"host=127.0.0.1 port={port} user={DB_USER} dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _created.add(name)
    return server.create_database(name)


def is_postgres() -> bool:
    return bool(os.environ.get(PORT_ENV))


def dump_all(engine) -> str:  # type: ignore[no-untyped-def]
    """Every row of every table as text: what a search of the database's content would see."""
    from sqlalchemy import MetaData

    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        return "\n".join(
            str(tuple(row)) for table in meta.sorted_tables for row in conn.execute(table.select())
        )


def as_json(value):  # type: ignore[no-untyped-def]
    """A JSON column read with plain SQL: text on SQLite, already parsed on PostgreSQL."""
    import orjson

    return orjson.loads(value) if isinstance(value, (str, bytes)) else value
