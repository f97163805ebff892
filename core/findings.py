"""The Finding: what riskwatch files, stores, publishes and alerts on."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.incidents import DEFAULT_POLICY, IncidentPolicy
from core.taxonomy import Category, Severity, Subcategory

_NAMESPACE = uuid.UUID("6f1c1d2e-6b6e-4b8e-9a57-2f0b8c1e4a10")


def finding_id_for(rule_id: str, detector: str, kind: str, subject: str) -> str:
    """Deterministic, so a replayed event re-files the same finding (idempotent writes)."""
    return str(uuid.uuid5(_NAMESPACE, f"{rule_id}|{detector}|{kind}|{subject}"))


@dataclass(frozen=True, slots=True)
class Finding:
    finding_id: str
    event_id: str | None
    model_id: str
    model_version: str | None
    detector: str
    rule_id: str
    category: Category
    subcategory: Subcategory
    severity: Severity
    title: str
    evidence: dict[str, Any]
    regulation_refs: list[str]
    remediation: str
    pack: str
    pack_version: str
    source_topic: str | None
    source_partition: int | None
    source_offset: int | None
    detected_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: how the store groups this rule's findings into incidents (core/incidents.py)
    incident: IncidentPolicy = DEFAULT_POLICY

    def to_dict(self) -> dict[str, Any]:
        return {
            "finding_id": self.finding_id,
            "event_id": self.event_id,
            "model_id": self.model_id,
            "model_version": self.model_version,
            "detector": self.detector,
            "rule_id": self.rule_id,
            "category": str(self.category),
            "subcategory": str(self.subcategory),
            "severity": str(self.severity),
            "title": self.title,
            "evidence": self.evidence,
            "regulation_refs": list(self.regulation_refs),
            "remediation": self.remediation,
            "pack": self.pack,
            "pack_version": self.pack_version,
            "source": {
                "topic": self.source_topic,
                "partition": self.source_partition,
                "offset": self.source_offset,
            },
            "detected_at": self.detected_at.isoformat(),
        }
