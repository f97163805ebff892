"""Engine creation for SQLite (default) and PostgreSQL; the schema is migrated on start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import create_engine

from audit import models  # noqa: F401 - registers the tables on SQLModel.metadata


def normalise_url(url: str) -> str:
    """Accept postgres:// and postgresql:// and use the psycopg 3 driver for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets compliance queries read while the worker writes; NORMAL keeps commits durable
    # across a process crash (not a power cut), which is what at-least-once replay needs.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    # a deleted row (an erased data key) is overwritten with zeros, not left on a free page
    cur.execute("PRAGMA secure_delete=ON")
    cur.close()


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _from_json(value: Any) -> Any:
    # SQLite gives a JSON column numeric affinity: a scalar such as 0.5 or 1 comes back as a
    # number, not as the JSON text it was written as.
    return orjson.loads(value) if isinstance(value, (str, bytes)) else value


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            json_serializer=_json,
            json_deserializer=_from_json,
        )
        sa_event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(
            url,
            pool_pre_ping=True,
            connect_args={"connect_timeout": 5},
            pool_size=5,
            json_serializer=_json,
            json_deserializer=_from_json,
        )
    raise ValueError(
        f"unsupported database URL scheme {parsed.drivername!r}: use sqlite or postgresql"
    )


def create_schema(engine: Engine) -> None:
    """Apply the schema migrations (audit/migrations) up to the newest."""
    from audit.migrate import upgrade

    upgrade(engine)
