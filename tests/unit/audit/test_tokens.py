"""Token expiry (an expired token is a 401) and unique names (409 in the API)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from audit.api.app import create_app
from audit.db import make_engine
from audit.tokens import TokenError, TokenNameTaken, authenticate, create_token, revoke_token
from core.settings import Settings
from tests.dburl import db_url


@pytest.fixture
def client(tmp_path: Path) -> tuple[TestClient, dict[str, str], object]:
    url = db_url(tmp_path / "t.db")
    client = TestClient(create_app(Settings(database_url=url)))
    engine = make_engine(url)
    admin = create_token(engine, role="admin", name="root")[1]
    return client, {"Authorization": f"Bearer {admin}"}, engine


def test_a_token_without_expiry_never_expires_and_one_with_expiry_does(tmp_path: Path) -> None:
    engine = make_engine(db_url(tmp_path / "t.db"))
    from audit.migrate import upgrade

    upgrade(engine)
    forever, t1 = create_token(engine, role="auditor", name="forever")
    assert forever.expires_at is None and authenticate(engine, t1) is not None
    soon, t2 = create_token(engine, role="auditor", name="soon", expires_in=timedelta(days=90))
    assert soon.expires_at is not None and authenticate(engine, t2) is not None
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE api_tokens SET expires_at = :t WHERE name = 'soon'"),
            {"t": datetime.now(UTC) - timedelta(seconds=1)},
        )
    assert authenticate(engine, t2) is None
    with pytest.raises(TokenError, match="future"):
        create_token(engine, role="auditor", expires_at=datetime.now(UTC) - timedelta(days=1))


def test_an_expired_token_is_401(client: tuple) -> None:
    http, admin, engine = client
    until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    made = http.post("/tokens", json={"role": "auditor", "name": "temp", "expires_at": until},
                     headers=admin)  # fmt: skip
    assert made.status_code == 201, made.text
    assert made.json()["expires_at"] is not None
    auth = {"Authorization": f"Bearer {made.json()['token']}"}
    assert http.get("/findings", headers=auth).status_code == 200
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE api_tokens SET expires_at = :t WHERE name = 'temp'"),
            {"t": datetime.now(UTC) - timedelta(seconds=1)},
        )
    resp = http.get("/findings", headers=auth)
    assert resp.status_code == 401 and "expired" in resp.text


@pytest.mark.parametrize(
    "when", ["2001-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "2999-01-01T00:00:00"]
)
def test_a_past_invalid_or_naive_expiry_is_422(client: tuple, when: str) -> None:
    http, admin, _ = client
    resp = http.post("/tokens", json={"role": "auditor", "expires_at": when}, headers=admin)
    assert resp.status_code == 422, resp.text


def test_a_duplicate_name_is_409(client: tuple) -> None:
    http, admin, engine = client
    assert (
        http.post("/tokens", json={"role": "auditor", "name": "svc"}, headers=admin).status_code
        == 201
    )
    resp = http.post("/tokens", json={"role": "admin", "name": "svc"}, headers=admin)
    assert resp.status_code == 409 and "already exists" in resp.text
    with pytest.raises(TokenNameTaken):
        create_token(engine, role="auditor", name="root")
    assert len(http.get("/tokens", headers=admin).json()["items"]) == 2


def test_token_creation_and_revocation_are_chained_and_edits_break_verify(tmp_path: Path) -> None:
    from sqlalchemy import text

    from audit.store import AuditStore
    from audit.verify import verify
    from tests.dburl import db_url

    engine = AuditStore.from_url(db_url(tmp_path / "t.db")).engine
    reader, _ = create_token(engine, role="auditor", name="reader")
    old, _ = create_token(engine, role="admin", name="old")
    revoke_token(engine, token_id=old.id)
    revoke_token(engine, token_id=old.id)  # idempotent: chained once
    report = verify(engine)
    assert report.ok and report.entries == 3

    def broken_after(sql: str) -> str:
        with engine.begin() as conn:
            conn.execute(text(sql))
        problem = verify(engine).broken
        assert problem is not None
        return problem.problem

    assert "changed after its create" in broken_after(
        f"update api_tokens set role = 'admin' where id = {reader.id}"
    )
    with engine.begin() as conn:
        conn.execute(text(f"update api_tokens set role = 'auditor' where id = {reader.id}"))
    assert verify(engine).ok
    assert "live again" in broken_after(
        f"update api_tokens set revoked_at = NULL where id = {old.id}"
    )
    with engine.begin() as conn:
        conn.execute(text(f"delete from api_tokens where id = {old.id}"))
    assert "was deleted" in (verify(engine).broken.problem or "")  # type: ignore[union-attr]
    with engine.begin() as conn:
        conn.execute(text("delete from audit_chain where subject like '2/%'"))
        conn.execute(
            text(
                "update audit_chain_head set seq = 1, entry_hash = "
                "(select entry_hash from audit_chain where seq = 1)"
            )
        )
        conn.execute(
            text(
                "insert into api_tokens (name, role, token_hash, created_at) "
                "values ('backdoor', 'admin', 'x', '2026-01-01 00:00:00')"
            )
        )
    problem = verify(engine).broken
    assert problem is not None and "not in the chain" in problem.problem
