"""Hash chain: every finding chained once in its write transaction; verify catches tampering;
the export can be checked offline."""

from __future__ import annotations

import hashlib
from datetime import UTC
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

from audit import chain
from audit.verify import verify
from core.settings import get_settings
from riskwatch.cli import main
from tests.dburl import db_url
from tests.unit.audit.audit_helpers import filled, messages


@pytest.fixture
def run_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    def run(db: Path, *args: str) -> Result:
        monkeypatch.setenv("RISKWATCH_DATABASE_URL", db_url(db))
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(main, list(args))
        finally:
            get_settings.cache_clear()

    return run


def _scalar(engine: Any, sql: str, **params: Any) -> Any:
    with engine.begin() as conn:
        return conn.execute(text(sql), params).scalar()


def _exec(engine: Any, sql: str, **params: Any) -> None:
    with engine.begin() as conn:
        conn.execute(text(sql), params)


def test_every_finding_is_chained_once_and_replay_does_not_extend(tmp_path: Path) -> None:
    handler = filled(tmp_path / "a.db")
    engine = handler.store.engine
    findings = _scalar(engine, "select count(*) from findings")
    assert findings > 0
    assert _scalar(engine, "select count(*) from audit_chain where kind='finding'") == findings
    assert (
        _scalar(engine, "select count(distinct subject) from audit_chain where kind='finding'")
        == findings
    )
    incident_events = _scalar(engine, "select count(*) from incident_events")
    batches = _scalar(engine, "select count(*) from audit_chain where kind = 'events'")
    assert batches == 2  # two batches written: one link each over its events
    assert (
        _scalar(engine, "select count(*) from audit_chain") == findings + incident_events + batches
    )
    head = verify(engine).head
    msgs, _ = messages()
    handler.handle(msgs)  # the same traffic, delivered again
    handler.handle(msgs[:200])
    report = verify(engine)
    assert report.ok and report.head == head
    assert report.entries == findings + incident_events + batches


def test_chain_links_are_recomputable(tmp_path: Path) -> None:
    engine = filled(tmp_path / "a.db").store.engine
    with engine.connect() as conn:
        rows = conn.execute(text("select * from audit_chain order by seq")).mappings().all()
    prev = chain.GENESIS
    for i, r in enumerate(rows, start=1):
        assert r["seq"] == i and r["prev_hash"] == prev
        expected = hashlib.sha256(
            f"{prev}|{r['content_hash']}|{r['kind']}|{r['subject']}|{i}".encode()
        ).hexdigest()
        assert r["entry_hash"] == expected
        prev = r["entry_hash"]


def test_verify_passes_on_an_untouched_store(tmp_path: Path, run_cli: Any) -> None:
    filled(tmp_path / "a.db")
    result = run_cli(tmp_path / "a.db", "audit", "verify")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("chain ok:")


def test_verify_catches_an_edited_finding(tmp_path: Path, run_cli: Any) -> None:
    engine = filled(tmp_path / "a.db").store.engine
    subject = _scalar(engine, "select subject from audit_chain where seq = 3")
    severity = _scalar(engine, "select severity from findings where finding_id = :f", f=subject)
    _exec(
        engine,
        "update findings set severity = :s where finding_id = :f",
        s="low" if severity != "low" else "critical",
        f=subject,
    )
    result = run_cli(tmp_path / "a.db", "audit", "verify")
    assert result.exit_code == 1
    assert "seq 3" in result.output and subject in result.output and "changed" in result.output
    report = run_cli(tmp_path / "a.db", "audit", "verify", "--format", "json")
    broken = orjson.loads(report.stdout)["broken"]
    assert report.exit_code == 1 and broken["seq"] == 3 and broken["subject"] == subject


def test_verify_catches_an_edited_evidence(tmp_path: Path) -> None:
    engine = filled(tmp_path / "a.db").store.engine
    subject = _scalar(engine, "select subject from audit_chain where seq = 2")
    _exec(engine, "update findings set evidence = '{}' where finding_id = :f", f=subject)
    broken = verify(engine).broken
    assert broken is not None and broken.seq == 2


def test_verify_catches_a_deleted_chain_row(tmp_path: Path, run_cli: Any) -> None:
    engine = filled(tmp_path / "a.db").store.engine
    _exec(engine, "delete from audit_chain where seq = 4")
    result = run_cli(tmp_path / "a.db", "audit", "verify")
    assert result.exit_code == 1 and "seq 5" in result.output and "gap" in result.output


def test_verify_catches_a_truncated_chain_and_deleted_or_unchained_findings(tmp_path: Path) -> None:
    engine = filled(tmp_path / "a.db").store.engine
    last = _scalar(engine, "select max(seq) from audit_chain")
    _exec(engine, "delete from audit_chain where seq = :s", s=last)
    broken = verify(engine).broken
    assert broken is not None and broken.seq == last and "head" in broken.problem

    engine = filled(tmp_path / "b.db").store.engine
    subject = _scalar(engine, "select subject from audit_chain where seq = 6")
    _exec(engine, "delete from findings where finding_id = :f", f=subject)
    broken = verify(engine).broken
    assert broken is not None and broken.seq == 6 and "deleted" in broken.problem

    engine = filled(tmp_path / "c.db").store.engine
    _exec(
        engine,
        "insert into findings select 'forged-' || substr(finding_id, 8), event_id, "
        "model_id, model_version, detector, rule_id, category, subcategory, severity, title, "
        "evidence, regulation_refs, remediation, pack, pack_version, source_topic, "
        "source_partition, source_offset, detected_at from findings limit 1",
    )
    broken = verify(engine).broken
    assert broken is not None and broken.seq is None and "forged-" in (broken.subject or "")


def test_export_manifest_hashes_match_the_files(tmp_path: Path, run_cli: Any) -> None:
    engine = filled(tmp_path / "a.db").store.engine
    out = tmp_path / "export"
    result = run_cli(
        tmp_path / "a.db",
        "audit",
        "export",
        "--since",
        "2000-01-01T00:00:00Z",
        "--until",
        "2999-01-01T00:00:00Z",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    findings = _scalar(engine, "select count(*) from findings")
    incident_events = _scalar(engine, "select count(*) from incident_events")
    assert incident_events > 0
    assert manifest["files"]["findings.jsonl"]["rows"] == findings
    assert manifest["files"]["incidents.jsonl"]["rows"] == incident_events
    assert manifest["files"]["batches.jsonl"]["rows"] == 2  # the two batches of events
    assert manifest["files"]["chain.jsonl"]["rows"] == findings + incident_events + 2
    assert manifest["period"]["since"].startswith("2000-01-01T00:00:00")
    # offline: file hashes, then every link and content hash from the files alone
    for name, meta in manifest["files"].items():
        data = (out / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == meta["sha256"]
        assert data.count(b"\n") == meta["rows"]
    contents = {
        hashlib.sha256(line).hexdigest()
        for file in ("findings.jsonl", "incidents.jsonl", "batches.jsonl")
        for line in (out / file).read_bytes().splitlines()
    }
    prev = manifest["segment"]["prev_hash"]
    for line in (out / "chain.jsonl").read_bytes().splitlines():
        link = orjson.loads(line)
        assert link["prev_hash"] == prev and link["content_hash"] in contents
        prev = hashlib.sha256(
            f"{prev}|{link['content_hash']}|{link['kind']}|{link['subject']}|{link['seq']}".encode()
        ).hexdigest()
        assert prev == link["entry_hash"]
    assert manifest["chain_head"] == {"seq": link["seq"], "entry_hash": prev}
    empty = run_cli(
        tmp_path / "a.db",
        "audit",
        "export",
        "--since",
        "2000-01-01T00:00:00Z",
        "--until",
        "2000-01-02T00:00:00Z",
        "--out",
        str(tmp_path / "none"),
    )
    assert orjson.loads(empty.stdout)["files"]["chain.jsonl"]["rows"] == 0


def _synthetic(worker: int, n: int) -> Any:
    from datetime import datetime

    from audit.store import AuditBatch
    from core.findings import Finding, finding_id_for
    from core.taxonomy import Category, Severity, Subcategory

    return AuditBatch(
        findings=[
            Finding(
                finding_id=finding_id_for("R", "d", "k", f"w{worker}-{i}"),
                event_id=None,
                model_id="m",
                model_version="1",
                detector="d",
                rule_id="R",
                category=Category.TECHNICAL,
                subcategory=Subcategory.MODEL_RELIABILITY,
                severity=Severity.LOW,
                title=f"{worker}/{i}",
                evidence={"i": i, "x": 0.1 * i},
                regulation_refs=[],
                remediation="",
                pack="p",
                pack_version="1",
                source_topic=None,
                source_partition=None,
                source_offset=None,
                detected_at=datetime.now(UTC),
            )
            for i in range(n)
        ]
    )


def _database_urls(tmp_path: Path) -> list[str]:
    import os

    urls = [db_url(tmp_path / "c.db")]
    if os.environ.get("RISKWATCH_TEST_PG_URL"):  # e.g. postgresql://rw@127.0.0.1:55432/riskwatch
        urls.append(os.environ["RISKWATCH_TEST_PG_URL"])
    return urls


def test_concurrent_writers_and_actions_keep_one_unbroken_chain(tmp_path: Path) -> None:
    """Several writers (threads, each its own connection) append at once: one chain, no gaps.
    Runs on PostgreSQL too when RISKWATCH_TEST_PG_URL is set (SELECT … FOR UPDATE path)."""
    from concurrent.futures import ThreadPoolExecutor

    from sqlmodel import SQLModel

    from audit.lifecycle import record_action
    from audit.store import AuditStore

    for url in _database_urls(tmp_path):
        store = AuditStore.from_url(url)
        if store.engine.dialect.name == "postgresql":  # start from an empty database
            SQLModel.metadata.drop_all(store.engine)
            SQLModel.metadata.create_all(store.engine)
        batches = [_synthetic(w, 20) for w in range(6)]
        with ThreadPoolExecutor(6) as pool:
            list(pool.map(store.write, batches + batches))  # every batch twice, concurrently
        ids = [f.finding_id for b in batches for f in b.findings][:12]
        with ThreadPoolExecutor(6) as pool:
            actions = [
                pool.submit(
                    record_action,
                    store.engine,
                    finding_id=fid,
                    action="resolve",
                    actor="t",
                    reason="r",
                )
                for fid in ids
            ]
            for action in actions:
                action.result()
        report = verify(store.engine)
        assert report.ok, (url, report.broken)
        with store.engine.connect() as conn:
            incident_events = conn.execute(text("select count(*) from incident_events")).scalar()
        assert incident_events  # each writer's findings opened an incident, chained too
        assert report.entries == report.head.seq == 6 * 20 + 12 + incident_events, url
