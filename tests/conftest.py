"""Suite-wide setup: with RISKWATCH_TEST_DB=postgres every audit store is a database on a private
local PostgreSQL server (riskwatch/local_postgres.py), started here if it is not running."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.dburl import PORT_ENV

_STARTED = pytest.StashKey["object"]()


def pytest_configure(config: pytest.Config) -> None:
    backend = os.environ.get("RISKWATCH_TEST_DB", "sqlite")
    if backend == "sqlite":
        return
    if backend != "postgres":
        raise pytest.UsageError(f"RISKWATCH_TEST_DB={backend!r}: use sqlite or postgres")
    from riskwatch.local_postgres import LocalPostgres

    port = int(os.environ.get("RISKWATCH_TEST_POSTGRES_PORT_BASE", "55433"))
    server = LocalPostgres(Path(".riskwatch") / "pg-test", port=port)
    if not server.is_up():
        server.up()
        config.stash[_STARTED] = server
    os.environ[PORT_ENV] = str(port)


def pytest_unconfigure(config: pytest.Config) -> None:
    server = config.stash.get(_STARTED, None)
    if server is not None:
        server.down()


def pytest_report_header(config: pytest.Config) -> str:
    port = os.environ.get(PORT_ENV)
    return f"audit store: PostgreSQL on 127.0.0.1:{port}" if port else "audit store: SQLite"
