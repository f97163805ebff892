"""Audit store: idempotent batches, no raw text at rest, detector state, summary."""

from __future__ import annotations

from pathlib import Path

import orjson
from sqlalchemy import text

from audit.queries import FindingFilter, find_findings, summary
from audit.store import AuditStore
from detectors.registry import build_detectors
from policies.engine import PolicyEngine
from policies.pack import load_packs
from riskwatch.registry import load_registry
from streams.codec import EventPolicy
from streams.handler import BatchHandler
from streams.processor import BatchProcessor, RawMessage
from streams.simulator import demo_traffic
from tests.unit.paths import REPO

REGISTRY = load_registry(REPO / "riskwatch.yaml")


def _handler(db: Path) -> BatchHandler:
    proc = BatchProcessor(build_detectors(REGISTRY), PolicyEngine(load_packs(), REGISTRY))
    return BatchHandler(AuditStore.from_url(f"sqlite:///{db}"), proc, EventPolicy())


def _messages(n: int = 400) -> tuple[list[RawMessage], object]:
    traffic = demo_traffic(n, registry=REGISTRY, seed=4, run_id="s")
    return [RawMessage("ev", 0, i, m.key, m.value) for i, m in enumerate(traffic.messages)], traffic


def test_replayed_batches_store_everything_once(tmp_path: Path) -> None:
    messages, traffic = _messages()
    handler = _handler(tmp_path / "a.db")
    first = handler.handle(messages[:250])
    handler.handle(messages[150:])           # overlaps the first batch
    replay = handler.handle(messages)        # a full redelivery
    assert replay.stored == 0 and replay.findings == []
    s = summary(handler.store.engine)
    assert s["events"] == len(traffic.valid_event_ids)
    assert s["dead_letters"] == sum(traffic.malformed.values())
    assert s["dead_letters_by_reason"] == dict(sorted(traffic.malformed.items()))
    assert first.stored > 0 and sum(s["findings"].values()) > 0


def test_no_raw_text_reaches_the_database(tmp_path: Path) -> None:
    messages, traffic = _messages()
    handler = _handler(tmp_path / "a.db")
    handler.handle(messages)
    texts = [orjson.loads(m.value)["input"]["text"] for m in traffic.messages
             if m.kind == "valid" and b'"text"' in m.value]
    assert texts
    dump = "\n".join(handler.store.engine.raw_connection().driver_connection.iterdump())
    assert '"sha256"' in dump
    for t in texts:
        assert t.replace("'", "''") not in dump


def test_detector_state_is_saved_with_the_batch_and_restored(tmp_path: Path) -> None:
    messages, _ = _messages()
    handler = _handler(tmp_path / "a.db")
    handler.handle(messages)
    again = _handler(tmp_path / "a.db")
    again.restore()
    assert again.processor.detectors[0].state_dict() == handler.processor.detectors[0].state_dict()
    assert again.processor.detectors[0].state_dict()


def test_findings_filters(tmp_path: Path) -> None:
    handler = _handler(tmp_path / "a.db")
    handler.handle(_messages()[0])
    engine = handler.store.engine
    every = find_findings(engine, FindingFilter(limit=None))
    credit = find_findings(engine, FindingFilter(model="credit-scoring", limit=None))
    assert credit and len(credit) < len(every)
    assert all(f["model_id"] == "credit-scoring" for f in credit)
    high = find_findings(engine, FindingFilter(severity="high", limit=None))
    assert all(f["severity"] == "high" for f in high)
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from findings")).scalar_one() == len(every)
