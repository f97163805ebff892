"""Which detectors exist, and building them for a worker (cf. Presidio's recognizer registry)."""

from __future__ import annotations

from core.model_registry import Registry
from detectors.anomaly import AnomalyDetector
from detectors.base import Detector
from detectors.drift import DriftDetector
from detectors.fairness import FairnessDetector
from detectors.pii.detector import PIIDetector
from detectors.usage_slo import UsageSLODetector

#: Every shipped detector class by name; the contract tests run on each of these.
DETECTOR_CLASSES: dict[str, type[Detector]] = {
    AnomalyDetector.name: AnomalyDetector,
    DriftDetector.name: DriftDetector,
    FairnessDetector.name: FairnessDetector,
    PIIDetector.name: PIIDetector,
    UsageSLODetector.name: UsageSLODetector,
}


def build_detectors(registry: Registry, names: list[str] | None = None) -> list[Detector]:
    """Instantiate detectors (all of them by default) in a stable order."""
    chosen = names if names is not None else sorted(DETECTOR_CLASSES)
    unknown = [n for n in chosen if n not in DETECTOR_CLASSES]
    if unknown:
        raise ValueError(
            f"unknown detector(s): {', '.join(unknown)}; known: {sorted(DETECTOR_CLASSES)}"
        )
    return [DETECTOR_CLASSES[n](registry) for n in chosen]
