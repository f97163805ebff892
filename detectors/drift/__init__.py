"""Data drift: the detector (detector.py), a call's columns (rows.py), the in-house two-sample
tests with Benjamini-Hochberg (stattests.py) and Evidently's own verdicts, kept to compare the
two methods (evidently_stats.py, bench/drift.py)."""

from detectors.drift.detector import DriftDetector
from detectors.drift.rows import extract_row, window_bounds

__all__ = ["DriftDetector", "extract_row", "window_bounds"]
