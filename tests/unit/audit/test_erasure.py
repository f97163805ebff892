"""GDPR Art. 17 erasure by context.user_ref: the subject's event content goes, everyone else's
stays, the chain still verifies, the erasure is itself chained, and evidence cannot be dropped
outside an erasure."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from audit import chain
from audit.api.app import create_app
from audit.export import export
from audit.keys import keys_from_settings
from audit.models import EventRecord, FeedbackRecord, FindingRecord
from audit.removal.erasure import erase_subject
from audit.removal.records import get_removal, list_removals
from audit.tokens import create_token
from audit.verify import verify
from core.settings import get_settings
from riskwatch.cli import main
from riskwatch.simulator import demo_traffic
from streams.batch import RawMessage
from tests.dburl import as_json, db_url, dump_all
from tests.unit.audit.audit_helpers import REGISTRY, make_handler

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
EVENTS, FINDINGS, FEEDBACK = (
    EventRecord.__table__,
    FindingRecord.__table__,
    FeedbackRecord.__table__,
)


def user_ref_hash(ref: str) -> str:
    """How the store keeps a ref: HMAC-SHA256 under the suite's key file (tests/conftest.py)."""
    return keys_from_settings().ref_hash(ref)


def _store(db: Path) -> tuple[Any, dict[str, str]]:
    """A store with 1,500 simulated events (feedback for 80% of decisions); event_id → user_ref."""
    handler = make_handler(db)
    traffic = demo_traffic(1500, registry=REGISTRY, seed=11, run_id="g", feedback_fraction=0.8)
    msgs = [RawMessage("ev", 0, i, m.key, m.value) for i, m in enumerate(traffic.messages)]
    for i in range(0, len(msgs), 500):
        handler.handle(msgs[i : i + 500])
    refs = {}
    for m in traffic.messages:
        doc = orjson.loads(m.value) if m.kind in ("valid", "duplicate") else None
        if doc and (ref := doc.get("context", {}).get("user_ref")):
            refs[doc["event_id"]] = ref
    return handler.store.engine, refs


def _subject(engine: Any, refs: dict[str, str]) -> tuple[str, list[str]]:
    """The subject with the most findings on their events, and those events."""
    with engine.connect() as conn:
        per_event = Counter(conn.execute(select(FINDINGS.c.event_id)).scalars())
        labelled = set(conn.execute(select(FEEDBACK.c.event_id)).scalars())
    score = Counter()
    for eid, ref in refs.items():
        score[ref] += 10 * per_event.get(eid, 0) + (eid in labelled)
    ref = score.most_common(1)[0][0]
    return ref, sorted(e for e, r in refs.items() if r == ref)


def _rows(engine: Any, table: Any, key: str) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        return {r[key]: dict(r) for r in conn.execute(select(table)).mappings()}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, str], Path]:
    db = tmp_path_factory.mktemp("erasure") / "e.db"
    engine, refs = _store(db)
    return engine, refs, db


def test_the_raw_ref_is_never_stored_only_its_hash(store: Any) -> None:
    engine, refs, _ = store
    ref = next(iter(refs.values()))
    dump = dump_all(engine)
    assert ref not in dump and user_ref_hash(ref) in dump
    with engine.connect() as conn:
        row = conn.execute(
            select(EVENTS).where(EVENTS.c.user_ref_hash == user_ref_hash(ref))
        ).first()
    assert as_json(row.payload)["context"]["user_ref"] == {
        "hmac_sha256": user_ref_hash(ref),
        "kid": keys_from_settings().hmac_kid,
    }
    # never the plain SHA-256 of older versions (reversible by enumerating account ids)
    assert hashlib.sha256(ref.encode()).hexdigest() not in dump


def test_erasure_removes_the_subjects_content_and_keeps_the_chain(tmp_path: Path) -> None:
    engine, refs = _store(tmp_path / "one.db")
    ref, mine = _subject(engine, refs)
    events_before, findings_before = (
        _rows(engine, EVENTS, "event_id"),
        _rows(engine, FINDINGS, "finding_id"),
    )
    feedback_before = _rows(engine, FEEDBACK, "event_id")
    my_findings = sorted(f for f, r in findings_before.items() if r["event_id"] in mine)
    assert len(mine) >= 2 and my_findings, "the chosen subject needs events with findings"
    assert verify(engine).ok

    result = erase_subject(engine, ref, reason="DSR-1042", by="dpo@example.com", now=NOW)

    assert (result.events, result.findings, result.findings_kept) == (
        len(mine),
        len(my_findings),
        0,
    )
    assert result.feedback == sum(1 for e in mine if e in feedback_before)
    events, findings = _rows(engine, EVENTS, "event_id"), _rows(engine, FINDINGS, "finding_id")
    feedback = _rows(engine, FEEDBACK, "event_id")
    for eid, before in events_before.items():
        after = events[eid]
        if eid not in mine:
            assert after == before
            continue
        payload = as_json(after["payload"])
        assert set(payload) == {"schema", "event_id", "timestamp", "model", "erased"}
        assert payload["erased"]["removal_id"] == result.removal_id
        assert (after["prediction"], after["score"], after["error"], after["user_ref_hash"]) == (
            None,
            None,
            None,
            None,
        )
        assert (after["model_id"], after["tenant"], after["latency_ms"]) == (
            before["model_id"],
            before["tenant"],
            before["latency_ms"],
        )  # not about the subject
    for fid, before in findings_before.items():
        after = findings[fid]
        if fid not in my_findings:
            assert after == before
            continue
        stub = as_json(after["evidence"])
        original = as_json(before["evidence"])
        digest = hashlib.sha256(orjson.dumps(original, option=orjson.OPT_SORT_KEYS)).hexdigest()
        assert stub == {"_erased": True, "removal_id": result.removal_id, "sha256": digest}
        assert {k: v for k, v in after.items() if k != "evidence"} == {
            k: v for k, v in before.items() if k != "evidence"
        }
    assert set(feedback) == set(feedback_before) - set(mine)
    with engine.connect() as conn:
        holders = conn.execute(
            select(EVENTS.c.event_id).where(EVENTS.c.user_ref_hash == user_ref_hash(ref))
        ).all()
    assert holders == []

    report = verify(engine)
    assert report.ok, report.broken
    record = get_removal(engine, result.removal_id)
    assert record is not None and record["kind"] == "erasure"
    assert (record["user_ref_hash"], record["reason"], record["requested_by"]) == (
        user_ref_hash(ref),
        "DSR-1042",
        "dpo@example.com",
    )
    assert record["finding_ids"] == my_findings
    link = chain.entry_for(engine.connect(), "erasure", str(result.removal_id))
    assert link is not None and link["seq"] == result.chain_seq == report.head.seq

    again = erase_subject(engine, ref, reason="DSR-1042 repeated", by="dpo", now=NOW)
    assert (again.events, again.findings, again.feedback) == (0, 0, 0)
    assert again.removal_id == result.removal_id + 1
    assert [r["id"] for r in list_removals(engine, kind="erasure")] == [
        again.removal_id,
        result.removal_id,
    ]
    assert verify(engine).ok


def _erase_one(tmp_path: Path, name: str) -> tuple[Any, Any, list[str]]:
    engine, refs = _store(tmp_path / name)
    ref, mine = _subject(engine, refs)
    result = erase_subject(engine, ref, reason="DSR-7", by="dpo", now=NOW)
    return engine, result, mine


def test_evidence_dropped_outside_an_erasure_is_caught(tmp_path: Path) -> None:
    engine, result, mine = _erase_one(tmp_path, "t.db")
    with engine.connect() as conn:
        other = conn.execute(
            select(FINDINGS.c.finding_id, FINDINGS.c.evidence)
            .where(FINDINGS.c.event_id.not_in(mine), FINDINGS.c.event_id.is_not(None))
            .limit(1)
        ).one()
    forged = chain.erase_evidence(as_json(other.evidence), result.removal_id)  # keeps the hash
    with engine.begin() as conn:
        conn.execute(
            update(FINDINGS)
            .where(FINDINGS.c.finding_id == other.finding_id)
            .values(evidence=forged)
        )
    broken = verify(engine).broken
    assert broken is not None and broken.subject == other.finding_id
    assert "outside an erasure" in broken.problem

    with engine.begin() as conn:  # a stub that lies about the hash is caught as an edit
        conn.execute(
            update(FINDINGS)
            .where(FINDINGS.c.finding_id == other.finding_id)
            .values(evidence={**forged, "sha256": "0" * 64})
        )
    broken = verify(engine).broken
    assert broken is not None and "changed after it was chained" in broken.problem


def test_an_edited_or_unchained_erasure_record_is_caught(tmp_path: Path) -> None:
    engine, result, _ = _erase_one(tmp_path, "r.db")
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE data_removals SET reason = 'routine' WHERE id = :i"),
            {"i": result.removal_id},
        )
    broken = verify(engine).broken
    assert broken is not None and broken.kind == "erasure" and "changed" in broken.problem
    with engine.begin() as conn:  # emptying its list un-justifies the erased evidence first
        conn.execute(
            text("UPDATE data_removals SET reason = 'DSR-7', finding_ids = '[]' WHERE id = :i"),
            {"i": result.removal_id},
        )
    broken = verify(engine).broken
    assert (
        broken is not None and broken.kind == "finding" and "outside an erasure" in broken.problem
    )
    with engine.begin() as conn:
        conn.execute(
            update(chain.REMOVALS)
            .where(chain.REMOVALS.c.id == result.removal_id)
            .values(finding_ids=sorted(_erased(engine)))
        )
    assert verify(engine).ok  # restored
    empty = erase_subject(engine, "cust-nobody", reason="DSR-8", by="dpo", now=NOW)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM data_removals WHERE id = :i"), {"i": empty.removal_id})
    broken = verify(engine).broken
    assert broken is not None and broken.kind == "erasure" and "was deleted" in broken.problem
    with engine.begin() as conn:  # a record written outside riskwatch has no link
        conn.execute(
            text(
                "INSERT INTO data_removals (id, kind, reason, requested_by, at, events, findings, "
                "feedback, finding_ids) "
                "VALUES (:i, 'erasure', 'x', 'x', '2026-11-29 03:00:00', 0, 0, 0, '[]')"
            ),
            {"i": empty.removal_id},
        )
    broken = verify(engine).broken
    assert broken is not None and "changed after it was chained" in broken.problem
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO data_removals (id, kind, reason, requested_by, at, events, "
                "findings, feedback, finding_ids) VALUES (77, 'retention', 'x', 'x', "
                "'2026-11-29 03:00:00', 0, 0, 0, '[]')"
            )
        )
        conn.execute(text("DELETE FROM data_removals WHERE id = :i"), {"i": empty.removal_id})
        conn.execute(
            text("DELETE FROM audit_chain WHERE kind = 'erasure' AND subject = :s"),
            {"s": str(empty.removal_id)},
        )
        conn.execute(
            text(
                "UPDATE audit_chain_head SET seq = seq - 1, entry_hash = "
                "(SELECT entry_hash FROM audit_chain ORDER BY seq DESC LIMIT 1)"
            )
        )
    broken = verify(engine).broken
    assert broken is not None and broken.seq is None and broken.subject == "77"
    assert "not in the chain" in broken.problem


def _erased(engine: Any) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(select(FINDINGS.c.finding_id, FINDINGS.c.evidence)).all()
    return [r.finding_id for r in rows if chain.erased_stub(as_json(r.evidence))]


def test_legacy_findings_keep_their_evidence_and_verify(tmp_path: Path) -> None:
    """A store chained before evidence had its own hash: its links verify, and an erasure
    leaves those findings' evidence (removing it would break them) and says so."""
    engine, refs = _store(tmp_path / "legacy.db")
    with engine.begin() as conn:  # re-chain every finding the old way
        findings = {r["finding_id"]: r for r in conn.execute(select(FINDINGS)).mappings()}
        prev = chain.GENESIS
        for link in conn.execute(select(chain.CHAIN).order_by(chain.CHAIN.c.seq)).mappings().all():
            content = (
                chain.legacy_finding_hash(findings[link["subject"]])
                if link["kind"] == "finding"
                else link["content_hash"]
            )
            prev_entry = chain.entry_hash(prev, content, link["kind"], link["subject"], link["seq"])
            conn.execute(
                update(chain.CHAIN)
                .where(chain.CHAIN.c.seq == link["seq"])
                .values(content_hash=content, prev_hash=prev, entry_hash=prev_entry)
            )
            prev = prev_entry
        conn.execute(update(chain.HEAD).values(entry_hash=prev))
    assert verify(engine).ok
    ref, mine = _subject(engine, refs)
    result = erase_subject(engine, ref, reason="DSR-9", by="dpo", now=NOW)
    assert result.findings == 0 and result.findings_kept > 0 and result.events == len(mine)
    assert verify(engine).ok
    with engine.begin() as conn:  # legacy links still catch an edit
        conn.execute(
            text("UPDATE findings SET severity = 'info' WHERE event_id = :e"),
            {"e": next(iter(f["event_id"] for f in findings.values() if f["event_id"]))},
        )
    assert not verify(engine).ok


def test_export_after_an_erasure_checks_offline(tmp_path: Path) -> None:
    engine, result, _ = _erase_one(tmp_path, "x.db")
    out = tmp_path / "export"
    manifest = export(
        engine,
        since=datetime(2000, 1, 1, tzinfo=UTC),
        until=datetime(2999, 1, 1, tzinfo=UTC),
        out=out,
    )
    assert manifest["format"] == "riskwatch.audit-export/v2"
    lines = {
        h: orjson.loads(line)
        for line in (out / "findings.jsonl").read_bytes().splitlines()
        if (h := hashlib.sha256(line).hexdigest())
    }
    removals = [
        hashlib.sha256(line).hexdigest()
        for file in ("removals.jsonl", "incidents.jsonl", "batches.jsonl")
        for line in (out / file).read_bytes().splitlines()
    ]
    links = [orjson.loads(line) for line in (out / "chain.jsonl").read_bytes().splitlines()]
    assert any(link["kind"] == "incident" for link in links)
    for link in links:
        assert link["content_hash"] in (lines if link["kind"] == "finding" else removals)
    by_id = {doc["finding_id"]: doc for doc in lines.values()}
    erased = 0
    for line in (out / "evidence.jsonl").read_bytes().splitlines():
        doc = orjson.loads(line)
        evidence = doc["evidence"]
        if isinstance(evidence, dict) and evidence.get("_erased") is True:
            erased += 1
            digest = evidence["sha256"]
        else:
            digest = hashlib.sha256(orjson.dumps(evidence, option=orjson.OPT_SORT_KEYS)).hexdigest()
        assert by_id[doc["finding_id"]]["evidence_sha256"] == digest
    assert erased == result.findings > 0


def test_bad_requests_are_refused_and_change_nothing(tmp_path: Path) -> None:
    engine, _ = _store(tmp_path / "bad.db")
    before = dump_all(engine)
    for ref, reason, by, match in (
        ("", "r", "dpo", "user_ref"),
        ("a\nb", "r", "dpo", "user_ref"),
        ("u" * 257, "r", "dpo", "user_ref"),
        ("cust-1", " ", "dpo", "reason"),
        ("cust-1", "r", "", "--by"),
    ):
        with pytest.raises(ValueError, match=match):
            erase_subject(engine, ref, reason=reason, by=by, now=NOW)
    assert dump_all(engine) == before


def test_cli_and_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "c.db"
    engine, refs = _store(db)
    ref, mine = _subject(engine, refs)
    monkeypatch.setenv("RISKWATCH_DATABASE_URL", db_url(db))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        bad = runner.invoke(
            main, ["audit", "erase", "--user-ref", ref, "--reason", " ", "--by", "x"]
        )
        assert bad.exit_code != 0 and "reason" in bad.output
        done = runner.invoke(
            main, ["audit", "erase", "--user-ref", ref, "--reason", "DSR-5", "--by", "dpo"]
        )
        assert done.exit_code == 0, done.output
        assert orjson.loads(done.stdout)["events"] == len(mine)
        table = runner.invoke(main, ["audit", "removals", "--format", "csv"])
        assert table.exit_code == 0
        rows = table.stdout.strip().splitlines()
        assert rows[0].startswith("id,kind,at,requested_by,reason") and len(rows) == 2
        assert ",erasure," in rows[1] and "DSR-5" in rows[1]
        verified = runner.invoke(main, ["audit", "verify"])
        assert verified.exit_code == 0, verified.output
    finally:
        get_settings.cache_clear()

    client = TestClient(create_app(engine=engine))
    _, admin = create_token(engine, role="admin", name="privacy-office")
    _, operator = create_token(engine, role="operator", name="ops")
    _, auditor = create_token(engine, role="auditor", name="aud")
    other = next(r for r in refs.values() if r != ref)
    body = {"user_ref": other, "reason": "DSR-6"}
    assert client.post("/erasures", json=body).status_code == 401
    assert (
        client.post(
            "/erasures", json=body, headers={"Authorization": f"Bearer {operator}"}
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/erasures",
            json={"user_ref": other, "reason": "   "},
            headers={"Authorization": f"Bearer {admin}"},
        ).status_code
        == 422
    )
    made = client.post("/erasures", json=body, headers={"Authorization": f"Bearer {admin}"})
    assert made.status_code == 201, made.text
    assert made.json()["by"] == "privacy-office" and made.json()["events"] >= 1
    listed = client.get("/removals", headers={"Authorization": f"Bearer {auditor}"}).json()
    assert [i["reason"] for i in listed["items"]] == ["DSR-6", "DSR-5"]
    one = client.get(
        f"/removals/{made.json()['removal_id']}", headers={"Authorization": f"Bearer {auditor}"}
    )
    assert one.status_code == 200 and one.json()["kind"] == "erasure"
    assert (
        client.get("/removals/999", headers={"Authorization": f"Bearer {auditor}"}).status_code
        == 404
    )
    assert verify(engine).ok
