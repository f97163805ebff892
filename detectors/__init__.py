"""Detectors: one module per detector, each behind detectors.base.Detector."""
