"""Per-partition detector and policy state: partitions handed between workers (each batch to
whichever worker has the partition now) give exactly the findings of one uninterrupted worker."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.store import AuditStore
from detectors.catalog import build_detectors
from policies.engine import PolicyEngine
from policies.pack import load_packs
from riskwatch.simulator import demo_traffic
from streams.batch import RawMessage
from streams.codec import EventPolicy
from streams.partitioned import MARK, PartitionedProcessor
from streams.pipeline import BatchHandler, BatchProcessor
from tests.dburl import db_url
from tests.unit.audit.audit_helpers import REGISTRY


def _worker(store: AuditStore) -> BatchHandler:
    def unit() -> BatchProcessor:
        return BatchProcessor(build_detectors(REGISTRY), PolicyEngine(load_packs(), REGISTRY))

    processor = PartitionedProcessor(
        unit, store.load_states, lambda scopes: store.load_state_of(MARK, scopes)
    )
    handler = BatchHandler(store, processor, EventPolicy())
    handler.restore()
    return handler


def _partitioned_messages(n: int) -> list[list[RawMessage]]:
    """The demo stream on 2 partitions (by model, as Kafka keys it), in batches of 250 per
    partition, partition by partition interleaved."""
    traffic = demo_traffic(
        n,
        registry=REGISTRY,
        seed=8,
        run_id="p",
        with_text=True,
        malformed_fraction=0.01,
        duplicate_fraction=0.01,
    )
    offsets = [0, 0]
    per: list[list[RawMessage]] = [[], []]
    for m in traffic.messages:
        p = sum(m.key) % 2
        per[p].append(RawMessage("ev", p, offsets[p], m.key, m.value))
        offsets[p] += 1
    batches = []
    for i in range(0, max(len(per[0]), len(per[1])), 250):
        batches += [per[0][i : i + 250], per[1][i : i + 250]]
    return [b for b in batches if b]


def _finding_ids(handler: BatchHandler, batches: list[list[RawMessage]]) -> set[str]:
    return {f.finding_id for b in batches for f in handler.handle(b).findings}


def test_partitions_moving_between_workers_change_no_finding(tmp_path: Path) -> None:
    batches = _partitioned_messages(4000)
    single = _finding_ids(_worker(AuditStore.from_url(db_url(tmp_path / "one.db"))), batches)
    assert len(single) > 50

    store = AuditStore.from_url(db_url(tmp_path / "two.db"))
    a, b = _worker(store), _worker(store)
    moved: set[str] = set()
    # each partition changes hands every few batches; both workers come back to both
    owners = [a, a, b, a, b, b, a, b] * (len(batches) // 8 + 1)  # outlasts the batches
    for batch, owner in zip(batches, owners, strict=False):
        moved |= {f.finding_id for f in owner.handle(batch).findings}
    assert moved == single
    scopes = {s for s in store.load_state_of(MARK, ["ev:0", "ev:1", "global"])}
    assert scopes == {"ev:0", "ev:1"}
    assert store.load_states("ev:0").keys() >= {"anomaly", "drift", "usage_slo", MARK}


def test_a_stale_partition_is_reloaded_not_reused(tmp_path: Path) -> None:
    store = AuditStore.from_url(db_url(tmp_path / "s.db"))
    a, b = _worker(store), _worker(store)
    batches = [x for x in _partitioned_messages(1200) if x[0].partition == 0]
    a.handle(batches[0])
    unit_before = a.processor.units["ev:0"]  # type: ignore[attr-defined]
    b.handle(batches[1])
    a.handle(batches[2])
    assert a.processor.units["ev:0"] is not unit_before  # type: ignore[attr-defined]
    marks = store.load_state_of(MARK, ["ev:0"])
    assert marks["ev:0"]["generation"] == 3
    assert marks["ev:0"]["owner"] == a.processor.owner  # type: ignore[attr-defined]


@pytest.mark.parametrize("n", [0])
def test_an_empty_batch_touches_no_partition(tmp_path: Path, n: int) -> None:
    store = AuditStore.from_url(db_url(tmp_path / "e.db"))
    outcome = _worker(store).handle([])
    assert outcome.stored == n and store.load_state_of(MARK, ["ev:0"]) == {}
