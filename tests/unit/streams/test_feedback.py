"""Feedback (riskwatch.feedback/v1) through a batch: decoded beside events, handed to detectors
before ``process``, stored once per event_id in the same transaction as the batch."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
from sqlalchemy import select

from audit.models import FeedbackRecord
from audit.queries import summary
from audit.store import AuditBatch, AuditStore
from core.model_registry import Registry
from core.signals import ObservedEvent, ObservedFeedback, Signal
from detectors.base import Detector
from policies.engine import PolicyEngine
from policies.pack import load_packs
from streams.batch import RawMessage
from streams.codec import DeadLetterReason, EventPolicy
from streams.pipeline import BatchHandler, BatchProcessor, decode_batch
from tests.dburl import db_url


def _event(i: int) -> dict[str, Any]:
    return {
        "event_id": f"e{i}",
        "timestamp": "2026-11-28T12:00:00Z",
        "model": {"id": "credit-scoring", "version": "1"},
        "output": {"prediction": 1},
    }


def _label(i: int, label: Any = 1, **extra: Any) -> dict[str, Any]:
    return {
        "schema": "riskwatch.feedback/v1",
        "event_id": f"e{i}",
        "timestamp": "2026-11-29T08:00:00+01:00",
        "model": {"id": "credit-scoring"},
        "label": label,
    } | extra


def _raw(docs: list[Any], first_offset: int = 0) -> list[RawMessage]:
    return [
        RawMessage(
            "ev",
            2,
            first_offset + k,
            b"credit-scoring",
            d if isinstance(d, bytes) else orjson.dumps(d),
            1_700_000_000_000,
        )
        for k, d in enumerate(docs)
    ]


class Recorder(Detector):
    name: ClassVar[str] = "recorder"
    signal_kinds: ClassVar[tuple[str, ...]] = ()

    def __init__(self, registry: Registry) -> None:
        super().__init__(registry)
        self.calls: list[tuple[str, list[str]]] = []

    def observe_feedback(self, items: Sequence[ObservedFeedback]) -> None:
        labels = [f"{i.feedback.event_id}={i.feedback.label}" for i in items]
        self.calls.append(("feedback", labels))

    def process(self, batch: Sequence[ObservedEvent]) -> list[Signal]:
        self.calls.append(("process", [o.event.event_id for o in batch]))
        return []


class Plain(Detector):
    """A detector that does not override observe_feedback: the default ignores labels."""

    name: ClassVar[str] = "plain"
    signal_kinds: ClassVar[tuple[str, ...]] = ()

    def process(self, batch: Sequence[ObservedEvent]) -> list[Signal]:
        return []


def test_decode_batch_splits_feedback_from_events_sharing_its_id() -> None:
    decoded = decode_batch(
        _raw([_label(0), _event(0), _label(0, 0), _event(0), _label(1), b"{bad"]), EventPolicy()
    )
    assert [o.event.event_id for o in decoded.events] == ["e0"]
    assert [(f.feedback.event_id, f.feedback.label, f.source.offset) for f in decoded.feedback] == [
        ("e0", 1, 0),
        ("e1", 1, 4),
    ]
    assert decoded.duplicates_in_batch == 2
    assert [letter.reason for _, letter in decoded.rejected] == [DeadLetterReason.NOT_JSON]


def test_processor_hands_labels_to_detectors_before_their_events_and_stores_them() -> None:
    recorder = Recorder(Registry())
    engine = PolicyEngine(load_packs(), Registry())
    processor = BatchProcessor([Plain(Registry()), recorder], engine)
    prepared = processor.prepare(
        decode_batch(_raw([_event(0), _label(0), _label(9)]), EventPolicy()), set()
    )
    assert recorder.calls == [("feedback", ["e0=1", "e9=1"]), ("process", ["e0"])]
    assert [f.feedback.event_id for f in prepared.audit.feedback] == ["e0", "e9"]
    assert prepared.detector_failures == []
    recorder.calls.clear()
    processor.prepare(decode_batch(_raw([_event(1)]), EventPolicy()), set())
    assert recorder.calls == [("process", ["e1"])], "no feedback: no call"


@pytest.fixture
def store(tmp_path: Path) -> AuditStore:
    return AuditStore.from_url(db_url(tmp_path / "a.db"))


def _rows(store: AuditStore) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        t = FeedbackRecord.__table__  # typed columns: JSON labels come back parsed on any DB
        return [
            tuple(r)
            for r in conn.execute(
                select(
                    t.c.event_id, t.c.model_id, t.c.model_version, t.c.label, t.c.source_offset
                ).order_by(t.c.event_id)
            )
        ]


def test_feedback_is_stored_once_per_event_first_label_kept(store: AuditStore) -> None:
    first = decode_batch(_raw([_label(0, "fraud", note="x"), _label(1, 0.5)]), EventPolicy())
    store.write(AuditBatch(feedback=first.feedback))
    store.write(AuditBatch(feedback=first.feedback))  # a replay
    again = decode_batch(
        _raw([_label(0, "legit"), _label(2, True)], first_offset=10), EventPolicy()
    )
    store.write(AuditBatch(feedback=again.feedback))
    assert _rows(store) == [
        ("e0", "credit-scoring", None, "fraud", 0),
        ("e1", "credit-scoring", None, 0.5, 1),
        ("e2", "credit-scoring", None, True, 11),
    ]
    t = FeedbackRecord.__table__
    with store.engine.connect() as conn:
        payload, ts = conn.execute(
            select(t.c.payload, t.c.timestamp).where(t.c.event_id == "e0")
        ).one()
    assert payload["note"] == "x" and str(ts).startswith("2026-11-29 07:00:00")  # kept, in UTC
    assert summary(store.engine)["feedback"] == 3


class _FailingStore(AuditStore):
    """Fails the first write after its feedback rows were inserted (rolled back together)."""

    failures = 1

    def _write(self, conn: Any, batch: AuditBatch, now: Any) -> None:
        super()._write(conn, batch, now)
        if self.failures:
            self.failures -= 1
            raise RuntimeError("database went away mid-transaction")


def test_feedback_commits_with_its_batch(tmp_path: Path) -> None:
    real = AuditStore.from_url(db_url(tmp_path / "b.db"))
    failing = _FailingStore(real.engine)
    decoded = decode_batch(_raw([_event(5), _label(5)]), EventPolicy())
    with pytest.raises(RuntimeError):
        failing.write(AuditBatch(events=decoded.events, feedback=decoded.feedback))
    assert _rows(real) == [] and summary(real.engine)["events"] == 0, "rolled back together"
    failing.failures = 1
    processor = BatchProcessor([Plain(Registry())], PolicyEngine(load_packs(), Registry()))
    handler = BatchHandler(failing, processor, EventPolicy())
    outcome = handler.handle(_raw([_event(0), _label(0), _label(1)]))  # retried once, then commits
    assert outcome.stored == 1 and failing.failures == 0
    assert [r[0] for r in _rows(real)] == ["e0", "e1"]
    assert summary(real.engine)["events"] == 1
