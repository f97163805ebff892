"""The detector catalogue: which detectors exist, and building them for a worker (cf. Presidio's
recognizer registry).

A plain table: adding a detector is its import and one line in ``CATALOGUE`` (beside its
module, its policy rules and its tests); the contract tests run on every detector listed here.
"""

from __future__ import annotations

from core.model_registry import Registry
from detectors.anomaly import AnomalyDetector
from detectors.base import Detector
from detectors.drift import DriftDetector
from detectors.fairness import FairnessDetector
from detectors.pii.detector import PIIDetector
from detectors.text_risk.detector import TextRiskDetector
from detectors.usage_slo import UsageSLODetector

#: every shipped detector (imported statically, so mypy and the import-rule test see each edge)
CATALOGUE: tuple[type[Detector], ...] = (
    AnomalyDetector,
    DriftDetector,
    FairnessDetector,
    PIIDetector,
    TextRiskDetector,
    UsageSLODetector,
)

#: every shipped detector class by its name
DETECTOR_CLASSES: dict[str, type[Detector]] = {cls.name: cls for cls in CATALOGUE}


def build_detectors(registry: Registry, names: list[str] | None = None) -> list[Detector]:
    """Instantiate detectors (all of them by default) in a stable order."""
    chosen = names if names is not None else sorted(DETECTOR_CLASSES)
    unknown = [n for n in chosen if n not in DETECTOR_CLASSES]
    if unknown:
        raise ValueError(
            f"unknown detector(s): {', '.join(unknown)}; known: {sorted(DETECTOR_CLASSES)}"
        )
    return [DETECTOR_CLASSES[n](registry) for n in chosen]
