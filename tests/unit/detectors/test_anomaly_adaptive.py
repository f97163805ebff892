"""Anomaly detector on non-stationary traffic (issue 12): no findings on a series without an
anomaly, a wandering level refits the threshold instead of flooding, one per-call finding per
episode, a sparse model's empty buckets are missing data (a dense model's are zeros)."""

from __future__ import annotations

import math
import random
from datetime import timedelta

from core.signals import ObservedEvent
from detectors.anomaly import AnomalyDetector
from tests.unit.detectors.test_anomaly import (
    T0,
    _event,
    _latency_stream,
    _metric_buckets,
    _registry,
    _run,
)


def _latency(i: int, at: float, latency: float) -> ObservedEvent:
    return _event(i, at, {}, latency, cost=None)


def _daily(n: int, seed: int, spacing: float = 300.0) -> list[ObservedEvent]:
    """One call every ``spacing`` s; latency follows a daily wave with small noise (NAB's
    art_daily_small_noise, generated here)."""
    rng = random.Random(seed)
    day = 86400.0 / spacing
    return [
        _latency(i, i * spacing, 50 + 30 * math.sin(2 * math.pi * i / day) + rng.gauss(0, 2))
        for i in range(n)
    ]


def test_a_series_without_anomaly_raises_no_finding() -> None:
    for rate in (0.001, 0.005):  # the default budget, and the unit tests' looser one
        det = AnomalyDetector(_registry(false_alarm_rate=rate))
        assert _run(det, _daily(4032, seed=1), 500) == []


def test_a_wandering_level_refits_the_threshold_without_flooding() -> None:
    rng = random.Random(2)
    events, level = [], 100.0
    for i in range(8000):  # a random walk of the level: x20 or /20 over the stream is common
        level *= math.exp(rng.gauss(0, 0.01))
        events.append(_latency(i, i * 60.0, level * rng.lognormvariate(0, 0.05)))
    det = AnomalyDetector(_registry(false_alarm_rate=0.001))
    signals = [s for s in _run(det, events, 500) if s.kind == "event_anomaly"]
    prof = next(iter(det._profiles.values()))
    assert prof.refits >= 3  # refitted every refit_events calls
    assert len(signals) <= 2 * 7500 / 1000  # the budget: at most 2 per 1,000 calls
    # a call far from its recent neighbourhood is still found after the wandering
    odd = _latency(8000, 8000 * 60.0, level * 4)
    assert [s.event_id for s in det.process([odd])] == ["e8000"]


def test_an_episode_of_odd_calls_is_one_finding() -> None:
    events = _daily(2000, seed=3, spacing=60.0)
    for i in range(1500, 1530):  # 30 consecutive calls at 5x the latency: one episode
        events[i] = _latency(i, i * 60.0, 5 * events[i].event.usage.latency_ms)
    events[1800] = _latency(1800, 1800 * 60.0, 400.0)  # a separate spike, much later
    signals = _run(AnomalyDetector(_registry(false_alarm_rate=0.001)), events, 500)
    calls = [s.event_id for s in signals if s.kind == "event_anomaly"]
    assert calls == ["e1500", "e1800"]


def test_a_sparse_models_empty_buckets_are_missing_not_zeros() -> None:
    # one call every 5 minutes against 60 s buckets: four empty buckets between calls
    det = AnomalyDetector(_registry(false_alarm_rate=0.001))
    signals = _run(det, _daily(1500, seed=4), 500)
    assert not [s for s in signals if s.evidence.get("metric") == "requests"]
    scorer = det._series["m"].scorers["requests"]
    assert scorer.center == 1.0  # the rate learned is one call per bucket with a call
    # a dense model (calls in every bucket) has an empty bucket as a zero rate: an outage
    dense = AnomalyDetector(_registry(false_alarm_rate=0.001))
    events = [_latency(i, i * 20.0, 100.0 + (i % 7)) for i in range(3 * 600)]
    gap = timedelta(minutes=30).total_seconds()
    events += [_latency(i, i * 20.0 + gap, 100.0 + (i % 7)) for i in range(1800, 1900)]
    found = [s for s in _run(dense, events, 500) if s.evidence.get("metric") == "requests"]
    outage = T0.timestamp() + 1800 * 20.0
    starts = [s.evidence["bucket_start"] - outage for s in found]
    assert found and 0 <= starts[0] < 120  # found where it starts
    assert len(found) <= 2  # and at most once more, when the calls come back after 30 minutes


def test_a_metric_level_shift_is_one_finding_while_it_lasts() -> None:
    # latency doubles at bucket 400 and stays there for 300 buckets: one episode, one finding
    events = _latency_stream(700, seed=8, shift=(400, 2.0))
    signals = _run(AnomalyDetector(_registry(false_alarm_rate=0.001)), events, 500)
    found = _metric_buckets(signals, "latency_ms_mean")
    assert len(found) == 1 and 400 <= found[0] <= 401
