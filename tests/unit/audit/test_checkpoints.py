"""Signed chain checkpoints (audit/checkpoints.py): what the hash chain alone cannot show. Each
tamper below leaves a chain that audit/verify.py accepts (the writer re-hashed it), and fails
`riskwatch audit verify` by its checkpoints or the witness."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, text, update

from audit import chain
from audit.checkpoints import (
    Checkpoint,
    latest_checkpoint,
    sign_checkpoint,
    verify_checkpoints,
    write_checkpoint,
)
from audit.keys import generate, init_key_file, keys_from_settings, rotate_key_file
from audit.verify import verify
from core.settings import get_settings
from riskwatch.cli import main
from tests.dburl import db_url
from tests.unit.audit.audit_helpers import filled

NOW = datetime(2026, 12, 1, 6, 30, tzinfo=UTC)


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch) -> Any:
    def run(db: Path, *args: str) -> Result:
        monkeypatch.setenv("RISKWATCH_DATABASE_URL", db_url(db))
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(main, list(args))
        finally:
            get_settings.cache_clear()

    return run


def _exec(engine: Any, sql: str, **params: Any) -> None:
    with engine.begin() as conn:
        conn.execute(text(sql), params)


def _rechain(engine: Any) -> None:
    """What a database writer can do: recompute every content and entry hash and the head."""
    with engine.begin() as conn:
        rows = conn.execute(select(chain.CHAIN).order_by(chain.CHAIN.c.seq)).mappings().all()
        findings = chain.rows_by_id(
            conn,
            chain.FINDINGS,
            "finding_id",
            [r["subject"] for r in rows if r["kind"] == "finding"],
        )
        prev, seq = chain.GENESIS, 0
        for r in rows:
            seq += 1
            content = r["content_hash"]
            if r["kind"] == "finding":
                content = chain.finding_hash(findings[r["subject"]])
            digest = chain.entry_hash(prev, content, r["kind"], r["subject"], seq)
            conn.execute(
                update(chain.CHAIN)
                .where(chain.CHAIN.c.seq == r["seq"])
                .values(seq=seq, content_hash=content, prev_hash=prev, entry_hash=digest)
            )
            prev = digest
        conn.execute(update(chain.HEAD).values(seq=seq, entry_hash=prev))


def _checkpointed(tmp_path: Path, name: str = "a.db") -> tuple[Any, Checkpoint]:
    engine = filled(tmp_path / name).store.engine
    cp = write_checkpoint(engine, keys_from_settings(), NOW)
    assert cp is not None and verify(engine).ok
    return engine, cp


def _check(engine: Any, witness: list[Checkpoint] | None = None) -> str | None:
    return verify_checkpoints(engine, keys_from_settings().public_keys(), witness).problem


def test_an_untouched_store_verifies_with_its_checkpoints_and_witness(
    tmp_path: Path, run_cli: Any
) -> None:
    engine, cp = _checkpointed(tmp_path)
    assert cp.seq == verify(engine).head.seq and latest_checkpoint(engine) == cp
    assert write_checkpoint(engine, keys_from_settings(), NOW) is None  # head unchanged
    assert _check(engine, [cp]) is None
    witness = tmp_path / "witness.jsonl"
    witness.write_text(json.dumps(cp.to_dict()) + "\n")
    result = run_cli(tmp_path / "a.db", "audit", "verify", "--witness", str(witness))
    assert result.exit_code == 0, result.output
    assert "checkpoints ok: 1 signed" in result.output and "witness: 1" in result.output


def test_cutting_the_tail_fails(tmp_path: Path, run_cli: Any) -> None:
    engine, cp = _checkpointed(tmp_path)
    _exec(engine, "delete from audit_chain where seq > :s", s=cp.seq - 3)
    _exec(
        engine,
        "delete from findings where finding_id not in "
        "(select subject from audit_chain where kind = 'finding')",
    )
    _exec(
        engine,
        "delete from incident_events where cast(id as text) not in "
        "(select subject from audit_chain where kind = 'incident')",
    )
    _exec(  # and the events of the batches cut (audit/batchchain.py)
        engine,
        "delete from events where chain_batch not in "
        "(select subject from audit_chain where kind = 'events')",
    )
    _exec(
        engine,
        "update audit_chain_head set seq = :s, entry_hash = "
        "(select entry_hash from audit_chain where seq = :s)",
        s=cp.seq - 3,
    )
    assert verify(engine).ok  # the chain alone cannot tell
    problem = _check(engine)
    assert problem is not None and "cut from the end" in problem
    result = run_cli(tmp_path / "a.db", "audit", "verify")
    assert result.exit_code == 1 and "checkpoints BROKEN" in result.output


def test_downgrading_a_finding_and_rehashing_everything_after_it_fails(
    tmp_path: Path, run_cli: Any
) -> None:
    engine, _ = _checkpointed(tmp_path)
    _exec(
        engine,
        "update findings set severity = 'info' where finding_id = "
        "(select subject from audit_chain c join findings f on f.finding_id = c.subject "
        "where c.kind = 'finding' and f.severity != 'info' order by c.seq limit 1)",
    )
    assert not verify(engine).ok
    _rechain(engine)
    assert verify(engine).ok  # re-hashed: the chain alone cannot tell
    problem = _check(engine)
    assert problem is not None and "rewritten" in problem
    report = run_cli(tmp_path / "a.db", "audit", "verify", "--format", "json")
    assert report.exit_code == 1 and json.loads(report.stdout)["ok"] is False


def test_rechaining_the_whole_table_and_dropping_the_checkpoints_fails_against_the_witness(
    tmp_path: Path,
) -> None:
    engine, cp = _checkpointed(tmp_path)
    _exec(engine, "delete from findings where finding_id = (select subject from audit_chain "
          "where seq = 2)")  # fmt: skip
    _exec(engine, "delete from audit_chain where seq = 2")
    _rechain(engine)
    _exec(engine, "delete from audit_checkpoints")
    assert verify(engine).ok and _check(engine) is None  # without the witness: undetectable
    problem = _check(engine, [cp])
    assert problem is not None and "witnessed checkpoint" in problem


def test_a_checkpoint_signed_without_the_key_or_edited_fails(tmp_path: Path) -> None:
    engine, cp = _checkpointed(tmp_path)
    head = verify(engine).head
    forged = sign_checkpoint(generate(), head.seq, head.entry_hash, cp.at)
    with engine.begin() as conn:  # the attacker re-signs with a key of their own
        conn.execute(
            text("update audit_checkpoints set kid = :k, signature = :s"),
            {"k": forged.kid, "s": forged.signature},
        )
    problem = _check(engine)
    assert problem is not None and "signature does not verify" in problem

    engine, _ = _checkpointed(tmp_path, "b.db")
    _exec(engine, "update audit_checkpoints set seq = seq - 1, entry_hash = "
          "(select entry_hash from audit_chain where seq = audit_checkpoints.seq - 1)")  # fmt: skip
    problem = _check(engine)
    assert problem is not None and "signature does not verify" in problem


def test_checkpoints_signed_before_a_rotation_still_verify(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    old = init_key_file(path)
    engine = filled(tmp_path / "a.db").store.engine
    cp = write_checkpoint(engine, old, NOW)
    assert cp is not None
    new = rotate_key_file(path)
    assert verify_checkpoints(engine, new.public_keys(), [cp]).ok
    assert not verify_checkpoints(engine, new.public_keys()[1:], [cp]).ok


def test_verify_without_the_key_file_needs_the_public_key(
    tmp_path: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _checkpointed(tmp_path)
    public = tmp_path / "public.json"
    every = [k.to_dict() for k in keys_from_settings().public_keys()]
    public.write_text(json.dumps({"keys": every}))
    monkeypatch.setenv("RISKWATCH_KEY_FILE", str(tmp_path / "elsewhere.json"))
    result = run_cli(tmp_path / "a.db", "audit", "verify")
    assert result.exit_code == 1 and "--public-key" in result.output
    result = run_cli(tmp_path / "a.db", "audit", "verify", "--public-key", str(public))
    assert result.exit_code == 0, result.output


def test_the_api_reports_a_rechained_store_through_its_checkpoints(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from audit.api.app import create_app
    from audit.tokens import create_token
    from core.settings import Settings

    engine, cp = _checkpointed(tmp_path)
    client = TestClient(create_app(Settings(database_url=db_url(tmp_path / "a.db"))))
    _, token = create_token(engine, role="auditor", name="a")
    auth = {"Authorization": f"Bearer {token}"}
    report = client.get("/chain/verify", headers=auth).json()
    assert report["ok"] and report["checkpoints"]["checkpoints"] == 1
    assert report["checkpoints"]["latest"]["seq"] == cp.seq
    _exec(
        engine,
        "update findings set severity = 'info' where finding_id = "
        "(select subject from audit_chain c join findings f on f.finding_id = c.subject "
        "where c.kind = 'finding' and f.severity != 'info' order by c.seq limit 1)",
    )
    _rechain(engine)  # what a database writer can do: the chain alone then verifies
    assert verify(engine).ok
    report = client.get("/chain/verify", headers=auth).json()
    assert not report["ok"] and report["broken"] is None
    assert "rewritten" in report["checkpoints"]["problem"]
