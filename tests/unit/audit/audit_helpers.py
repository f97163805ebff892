"""Audit stores filled with simulated traffic through the real BatchHandler (as in test_store)."""

from __future__ import annotations

from pathlib import Path

from audit.store import AuditStore
from core.model_registry import load_registry
from detectors.catalog import build_detectors
from policies.engine import PolicyEngine
from policies.pack import load_packs
from riskwatch.simulator import DemoTraffic, demo_traffic
from streams.batch import RawMessage
from streams.codec import EventPolicy
from streams.pipeline import BatchHandler, BatchProcessor
from tests.dburl import db_url
from tests.unit.paths import REPO

REGISTRY = load_registry(REPO / "riskwatch.yaml")


def make_handler(db: Path) -> BatchHandler:
    proc = BatchProcessor(build_detectors(REGISTRY), PolicyEngine(load_packs(), REGISTRY))
    return BatchHandler(AuditStore.from_url(db_url(db)), proc, EventPolicy())


def messages(n: int = 400, seed: int = 4) -> tuple[list[RawMessage], DemoTraffic]:
    traffic = demo_traffic(n, registry=REGISTRY, seed=seed, run_id="s")
    return [RawMessage("ev", 0, i, m.key, m.value) for i, m in enumerate(traffic.messages)], traffic


def filled(db: Path, n: int = 400) -> BatchHandler:
    """A store at ``db`` with ``n`` simulated events handled in two batches."""
    handler = make_handler(db)
    msgs, _ = messages(n)
    handler.handle(msgs[: len(msgs) // 2])
    handler.handle(msgs[len(msgs) // 2 :])
    return handler
