"""`riskwatch tokens create|list|revoke`: the token is printed once and never stored."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from audit.api.app import create_app
from audit.db import make_engine
from audit.tokens import Role, authenticate, hash_token
from core.settings import Settings, get_settings
from riskwatch.cli import main
from tests.dburl import db_url, dump_all


def test_create_list_revoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "a.db"
    monkeypatch.setenv("RISKWATCH_DATABASE_URL", db_url(db))
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        created = runner.invoke(
            main, ["tokens", "create", "--role", "operator", "--name", "ops-bot"]
        )
        assert created.exit_code == 0, created.output
        token = created.stdout.strip()
        assert token.startswith("rw_") and len(token) > 40 and "\n" not in token
        assert "shown only now" in created.stderr
        second = runner.invoke(main, ["tokens", "create", "--role", "auditor"]).stdout.strip()
        assert second != token
        listed = runner.invoke(main, ["tokens", "list", "--format", "json"])
        rows = orjson.loads(listed.stdout)
        assert (rows[0]["id"], rows[0]["name"], rows[0]["role"]) == (1, "ops-bot", "operator")
        assert rows[1]["role"] == "auditor" and rows[1]["name"].startswith("auditor-")
        assert token not in listed.stdout
        bad = runner.invoke(main, ["tokens", "create", "--role", "root"])
        assert bad.exit_code == 2

        engine = make_engine(db_url(db))
        raw = dump_all(engine)
        assert token not in raw and hash_token(token) in raw

        info = authenticate(engine, token)
        assert info is not None and info.role is Role.OPERATOR and info.name == "ops-bot"
        client = TestClient(create_app(Settings(database_url=db_url(db))))
        auth = {"Authorization": f"Bearer {token}"}
        assert client.get("/findings", headers=auth).status_code == 200

        revoked = runner.invoke(main, ["tokens", "revoke", "1"])
        assert revoked.exit_code == 0 and "revoked" in revoked.output
        assert authenticate(engine, token) is None
        assert client.get("/findings", headers=auth).status_code == 401
        assert runner.invoke(main, ["tokens", "revoke", "99"]).exit_code == 1
        assert (
            orjson.loads(runner.invoke(main, ["tokens", "list", "--format", "json"]).stdout)[0][
                "revoked_at"
            ]
            is not None
        )
    finally:
        get_settings.cache_clear()


def test_expiry_and_unique_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKWATCH_DATABASE_URL", db_url(tmp_path / "a.db"))
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        made = runner.invoke(
            main, ["tokens", "create", "--role", "auditor", "--name", "ci", "--expires-in", "90d"]
        )
        assert made.exit_code == 0, made.output
        assert "expires" in made.stderr
        (row,) = orjson.loads(runner.invoke(main, ["tokens", "list", "--format", "json"]).stdout)
        assert row["expires_at"] is not None
        again = runner.invoke(main, ["tokens", "create", "--role", "admin", "--name", "ci"])
        assert again.exit_code == 2 and "already exists" in again.stderr
        for bad in ("soon", "-1d", "0"):
            wrong = runner.invoke(
                main, ["tokens", "create", "--role", "auditor", "--expires-in", bad]
            )
            assert wrong.exit_code == 2 and "--expires-in" in wrong.stderr, bad
    finally:
        get_settings.cache_clear()
