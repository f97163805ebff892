"""The detector catalogue: which detectors exist, and building them for a worker (cf. Presidio's
recognizer registry).

A plain table: adding a detector is one line in ``CATALOGUE`` (beside its module, its policy
rules and its tests); the contract tests run on every detector listed here.
"""

from __future__ import annotations

from importlib import import_module

from core.model_registry import Registry
from detectors.base import Detector

#: every shipped detector, as "module:Class"
CATALOGUE: tuple[str, ...] = (
    "detectors.anomaly:AnomalyDetector",
    "detectors.drift:DriftDetector",
    "detectors.fairness:FairnessDetector",
    "detectors.pii.detector:PIIDetector",
    "detectors.usage_slo:UsageSLODetector",
)


def _detector_class(entry: str) -> type[Detector]:
    module, _, name = entry.partition(":")
    cls = getattr(import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, Detector)):
        raise TypeError(f"detector catalogue: {entry} is not a Detector class")
    return cls


#: every shipped detector class by its name
DETECTOR_CLASSES: dict[str, type[Detector]] = {
    cls.name: cls for cls in map(_detector_class, CATALOGUE)
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
