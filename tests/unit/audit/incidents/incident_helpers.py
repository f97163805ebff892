"""Findings with incident policies, written straight to a store (no detectors)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from audit.store import AuditBatch, AuditStore
from core.findings import Finding, finding_id_for
from core.incidents import IncidentPolicy
from core.signals import ObservedEvent, SourceRef
from core.taxonomy import Severity, Subcategory, category_of
from streams.codec import decode_document

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def finding(
    n: int,
    minutes: float,
    *,
    rule: str = "RW-TR-001",
    model: str = "credit-scoring",
    severity: Severity = Severity.MEDIUM,
    policy: IncidentPolicy | None = None,
    evidence: dict[str, Any] | None = None,
    subcategory: Subcategory = Subcategory.MODEL_RELIABILITY,
) -> Finding:
    """A finding whose event time is T0 + ``minutes`` (it has no event in the batch, so the
    store takes its detected_at)."""
    return Finding(
        finding_id=finding_id_for(rule, "test", "event", f"{model}|{n}"),
        event_id=None,
        model_id=model,
        model_version="1",
        detector="test",
        rule_id=rule,
        category=category_of(subcategory),
        subcategory=subcategory,
        severity=severity,
        title=f"{rule} on {model}",
        evidence=evidence or {"n": n},
        regulation_refs=["EU AI Act Art. 15(1)"],
        remediation="look at it",
        pack="core",
        pack_version="1",
        source_topic="ev",
        source_partition=0,
        source_offset=n,
        detected_at=at(minutes),
        incident=policy or IncidentPolicy(),
    )


def event(n: int, minutes: float, model: str = "other-model") -> ObservedEvent:
    """An event of another model at T0 + ``minutes``: it moves the store's event-time watermark."""
    doc = {
        "event_id": f"w{n}",
        "timestamp": at(minutes).isoformat(),
        "model": {"id": model, "version": "1"},
        "usage": {"latency_ms": 10.0},
    }
    parsed, document = decode_document(orjson.dumps(doc))
    return ObservedEvent(parsed, SourceRef("ev", 0, 10_000 + n, 1), document)


def write(store: AuditStore, *findings: Finding, events: list[ObservedEvent] | None = None) -> None:
    store.write(AuditBatch(events=events or [], findings=list(findings)))
