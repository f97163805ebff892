"""Learned and rule-based text risks: prompt injection, system-prompt leakage, abusive language
(detector.py); the scorers' features, model and training (features.py, model.py, train.py)."""
