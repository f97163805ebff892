"""Suite-wide setup: with RISKWATCH_TEST_DB=postgres every audit store is a database on a private
local PostgreSQL server (riskwatch/local_postgres.py), started here if it is not running."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.dburl import PORT_ENV

_STARTED = pytest.StashKey["object"]()


def pytest_configure(config: pytest.Config) -> None:
    _key_file()
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


def _key_file() -> None:
    """A key file for the whole run (the worker refuses to start without one, and the store keys
    subject references with it): RISKWATCH_KEY_FILE, inherited by the workers tests start."""
    if os.environ.get("RISKWATCH_KEY_FILE"):
        return
    import tempfile

    from audit.keys import init_key_file

    path = Path(tempfile.mkdtemp(prefix="riskwatch-keys-")) / "keys.json"
    init_key_file(path)
    os.environ["RISKWATCH_KEY_FILE"] = str(path)


def pytest_unconfigure(config: pytest.Config) -> None:
    server = config.stash.get(_STARTED, None)
    if server is not None:
        server.down()


def pytest_report_header(config: pytest.Config) -> str:
    port = os.environ.get(PORT_ENV)
    return f"audit store: PostgreSQL on 127.0.0.1:{port}" if port else "audit store: SQLite"


#: what the fake resolver answers for names (tests never need the internet)
PUBLIC_TEST_ADDRESS = "93.184.215.14"


def fake_getaddrinfo(host: str, port: object, *args: object, **kwargs: object) -> list[tuple]:
    """Numeric hosts (in every spelling the C resolver accepts) resolve as the system resolves
    them, with no lookup; ``localhost`` is 127.0.0.1; any name under example/example.com/test is
    a public address; every other name does not exist."""
    import socket

    try:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except socket.gaierror:
        pass
    name = host.rstrip(".").lower()
    if name == "localhost":
        address = "127.0.0.1"
    elif name.endswith((".example", ".example.com", ".test")) or name in ("example.com",):
        address = PUBLIC_TEST_ADDRESS
    else:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))]  # type: ignore[call-overload]


@pytest.fixture(autouse=True)
def _no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """The webhook SSRF guard resolves names; in tests it asks ``fake_getaddrinfo``."""
    from audit.webhooks import ssrf

    monkeypatch.setattr(ssrf, "getaddrinfo", fake_getaddrinfo)
