"""A private PostgreSQL server for the tests and local runs: Debian's binaries, our own data
directory and port, trust authentication on 127.0.0.1 only.

`riskwatch postgres up` starts it (installing nothing: `make postgres-bin` installs Debian's
``postgresql`` package when no binaries are found) and prints its SQLAlchemy URL.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PORT = 55432
DB_USER = "riskwatch"


class LocalPostgresError(RuntimeError):
    pass


def find_bin_dir() -> Path:
    """Directory of initdb/pg_ctl/postgres: $RISKWATCH_PG_BIN, Debian's newest, or the PATH."""
    override = os.environ.get("RISKWATCH_PG_BIN")
    if override:
        return Path(override)
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1].parent
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).resolve().parent
    raise LocalPostgresError(
        "no PostgreSQL binaries found: run `make postgres-bin` "
        "(installs Debian's postgresql package) or set RISKWATCH_PG_BIN"
    )


@dataclass
class LocalPostgres:
    home: Path
    port: int = DEFAULT_PORT

    def __post_init__(self) -> None:
        # PostgreSQL refuses to run as root: then the server runs as the `postgres` system user,
        # from a directory that user owns.
        self._as: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise LocalPostgresError(
                    "running as root and there is no `postgres` user to run "
                    "the server as (Debian's postgresql package creates it)"
                ) from None
            self._as = "postgres"
            self.home = Path(tempfile.gettempdir()) / f"riskwatch-pg-{self.port}"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def log_file(self) -> Path:
        return self.home / "server.log"

    def url(self, database: str = "riskwatch") -> str:
        return f"postgresql+psycopg://{DB_USER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = list(argv)
        if self._as is not None:
            cmd = ["runuser", "-u", self._as, "--", *cmd]
        done = subprocess.run(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=self.home if self.home.exists() else None,
        )
        if check and done.returncode != 0:
            raise LocalPostgresError(
                f"{Path(argv[0]).name} failed ({done.returncode}): {done.stdout[-800:]}"
            )
        return done

    def _prepare_home(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        if self._as is not None:
            entry = pwd.getpwnam(self._as)
            os.chown(self.home, entry.pw_uid, entry.pw_gid)
            os.chmod(self.home, 0o700)

    def is_up(self) -> bool:
        bin_dir = find_bin_dir()
        done = subprocess.run(
            [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
            check=False,
        )
        return done.returncode == 0

    def up(self, timeout: float = 60.0) -> str:
        """Start the server (initialising its data directory once) and return its URL."""
        if self.is_up():
            self.create_database("riskwatch")
            return self.url()
        bin_dir = find_bin_dir()
        self._prepare_home()
        if not (self.data / "PG_VERSION").exists():
            self._run(
                str(bin_dir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                DB_USER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
            )
        self.start(timeout)
        deadline = time.monotonic() + timeout
        while not self.is_up():
            if time.monotonic() > deadline:
                raise LocalPostgresError(
                    f"server not ready after {timeout:.0f}s; see {self.log_file}"
                )
            time.sleep(0.3)
        self.create_database("riskwatch")
        return self.url()

    def create_database(self, name: str) -> str:
        """Create ``name`` if it does not exist; return its URL."""
        import psycopg

        if not name.replace("_", "").isalnum():
            raise LocalPostgresError(f"database name {name!r}: letters, digits and _ only")
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user={DB_USER} dbname=postgres", autocommit=True
        ) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')  # a checked identifier, not user data
        return self.url(name)

    def stop(self, *, fast: bool = True) -> None:
        """Stop the server (a fast shutdown: open sessions are cut)."""
        if not (self.data / "postmaster.pid").exists():
            return
        bin_dir = find_bin_dir()
        self._run(
            str(bin_dir / "pg_ctl"),
            "-D",
            str(self.data),
            "-m",
            "fast" if fast else "smart",
            "-w",
            "stop",
            check=False,
        )

    def start(self, timeout: float = 60.0) -> None:
        """Start the initialised server (fsync off: it holds test and demo data only)."""
        bin_dir = find_bin_dir()
        self._run(
            str(bin_dir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            str(int(timeout)),
            "-o",
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.home} "
            "-c fsync=off -c synchronous_commit=off -c max_connections=200",
            "start",
        )

    def down(self) -> None:
        self.stop()
