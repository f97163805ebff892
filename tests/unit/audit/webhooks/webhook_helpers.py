"""Findings and stores for the webhook tests (no detectors: findings are written directly)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from audit.store import AuditBatch, AuditStore
from core.findings import Finding, finding_id_for
from core.taxonomy import Category, Severity, Subcategory, category_of
from tests.dburl import db_url

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def finding(
    n: int,
    model: str = "credit-scoring",
    subcategory: Subcategory = Subcategory.MODEL_RELIABILITY,
    severity: Severity = Severity.HIGH,
) -> Finding:
    return Finding(
        finding_id=finding_id_for("RW-T", "test", "event", str(n)),
        event_id=f"e{n}",
        model_id=model,
        model_version="1.0",
        detector="usage_slo",
        rule_id="RW-TR-001",
        category=category_of(subcategory),
        subcategory=subcategory,
        severity=severity,
        title=f"finding {n}",
        evidence={"n": n},
        regulation_refs=["EU AI Act Art. 15(1)"],
        remediation="look at it",
        pack="core",
        pack_version="1",
        source_topic="ev",
        source_partition=0,
        source_offset=n,
        detected_at=T0,
    )


def new_store(tmp_path: Path, name: str = "w.db") -> AuditStore:
    return AuditStore.from_url(db_url(tmp_path / name))


def write_findings(store: AuditStore, findings: list[Finding]) -> None:
    store.write(AuditBatch(findings=findings))


__all__ = ["T0", "Category", "Severity", "Subcategory", "finding", "new_store", "write_findings"]
