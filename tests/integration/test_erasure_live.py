"""GDPR erasure against a live pipeline: the subject's content goes while the worker runs, a
re-delivered event of theirs is not stored again, and the chain verifies from the CLI."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import orjson
import pytest
from sqlalchemy import select

from audit.keys import keys_from_settings
from audit.models import EventRecord, FindingRecord
from core.model_registry import load_registry
from riskwatch.simulator import demo_traffic
from tests.integration.harness import REPO, Pipeline, wait_for

pytestmark = pytest.mark.integration
EVENTS, FINDINGS = EventRecord.__table__, FindingRecord.__table__


def _cli(pipe: Pipeline, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "riskwatch.cli", *args],
        env=pipe.env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_erasure_while_the_worker_runs(pipeline: Pipeline) -> None:
    traffic = demo_traffic(
        1200,
        registry=load_registry(REPO / "riskwatch.yaml"),
        seed=5,
        run_id=pipeline.tag,
        malformed_fraction=0.0,
        duplicate_fraction=0.0,
    )
    valid = [m for m in traffic.messages if m.kind == "valid"]
    docs = [orjson.loads(m.value) for m in valid]
    pipeline.produce((m.key, m.value) for m in valid)
    pipeline.start_worker()
    wait_for(lambda: pipeline.counts()[0] >= len(valid), 180, "the events to be stored")
    with pipeline.store.engine.connect() as conn:
        per_event = Counter(conn.execute(select(FINDINGS.c.event_id)).scalars())
    refs = Counter()
    for d in docs:
        refs[d["context"]["user_ref"]] += 1 + 10 * per_event.get(d["event_id"], 0)
    ref = refs.most_common(1)[0][0]
    mine = {d["event_id"] for d in docs if d["context"]["user_ref"] == ref}

    done = _cli(
        pipeline, "audit", "erase", "--user-ref", ref, "--reason", "DSR-live", "--by", "dpo"
    )
    assert done.returncode == 0, done.stderr
    result = orjson.loads(done.stdout)
    assert result["events"] == len(mine)
    assert result["user_ref_hash"] == keys_from_settings().ref_hash(ref)

    # the subject's events come again (a producer retry): stored once already, so not re-stored
    again = [(m.key, m.value) for m, d in zip(valid, docs, strict=True) if d["event_id"] in mine]
    pipeline.produce([*again, (b"x", b"{marker")])
    wait_for(lambda: pipeline.counts()[2] >= 1, 60, "the marker dead letter")
    with pipeline.store.engine.connect() as conn:
        rows = conn.execute(select(EVENTS).where(EVENTS.c.event_id.in_(mine))).mappings().all()
        erased_evidence = [
            r.evidence
            for r in conn.execute(select(FINDINGS.c.evidence).where(FINDINGS.c.event_id.in_(mine)))
        ]
    assert len(rows) == len(mine)
    for row in rows:
        assert set(row["payload"]) == {"schema", "event_id", "timestamp", "model", "erased"}
        assert row["user_ref_hash"] is None and row["prediction"] is None
    assert len(erased_evidence) == result["findings"]
    assert all(e.get("_erased") is True for e in erased_evidence)

    verify = _cli(pipeline, "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # the worker signs the head (erasure included) and publishes it: the witness matches
    witness = pipeline.workdir / "witness.jsonl"

    def witnessed_erasure() -> bool:
        _cli(pipeline, "audit", "witness", "--out", str(witness))
        lines = witness.read_text().splitlines() if witness.exists() else []
        return any(orjson.loads(line)["seq"] >= result["chain_seq"] for line in lines)

    wait_for(witnessed_erasure, 60, "a checkpoint of the erasure on the checkpoints topic")
    checked = _cli(pipeline, "audit", "verify", "--witness", str(witness))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "checkpoints ok" in checked.stdout and "witness:" in checked.stdout
    assert _cli(pipeline, "audit", "verify", "--witness-topic").returncode == 0
    listed = _cli(pipeline, "audit", "removals", "--format", "json")
    assert [(r["kind"], r["reason"], r["events"]) for r in orjson.loads(listed.stdout)] == [
        ("erasure", "DSR-live", len(mine))
    ]
