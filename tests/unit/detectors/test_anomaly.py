"""Anomaly detector: alarms at injected positions on seeded streams, silence before the
reference is complete, a bounded clean false-alarm rate, identical scores after a state round
trip, cpu fallback."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pytest
import torch

from core.events import InferenceEvent
from core.model_registry import ConfigError, ModelEntry, Registry
from core.signals import ObservedEvent, SourceRef
from detectors import anomaly_models
from detectors.anomaly import AnomalyDetector
from detectors.anomaly_models import pick_device
from detectors.series import SeriesScorer

T0 = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
FAR = 0.005


def _registry(models: dict[str, dict[str, Any]] | None = None, **cfg: Any) -> Registry:
    settings = {
        "reference_events": 500,
        "holdout_fraction": 0.25,
        "false_alarm_rate": FAR,
        "series_bucket_s": 60,
        "device": "auto",
        "series_reference_points": 240,
    } | cfg
    entries = {
        k: ModelEntry.model_validate({"owner": "o@x"} | v) for k, v in (models or {"m": {}}).items()
    }
    return Registry(models=entries, detectors={"anomaly": settings})


def _event(
    i: int,
    at: float,
    features: dict[str, Any],
    latency: float,
    score: float = 0.5,
    cost: float | None = 1e-4,
) -> ObservedEvent:
    stamp = (T0 + timedelta(seconds=at)).isoformat().replace("+00:00", "Z")
    usage: dict[str, Any] = {"latency_ms": latency, "input_tokens": 20, "output_tokens": 30}
    if cost is not None:
        usage["cost_usd"] = cost
    event = InferenceEvent.model_validate(
        {
            "event_id": f"e{i}",
            "timestamp": stamp,
            "model": {"id": "m", "version": "1"},
            "input": {"features": features},
            "output": {"score": score},
            "usage": usage,
        }
    )
    return ObservedEvent(event, SourceRef("t", 0, i))


def _clean(rng: random.Random, i: int, at: float) -> ObservedEvent:
    a, b = rng.gauss(0, 1), rng.gauss(0, 1)
    feats = {
        "a": a,
        "b": b,
        "c": rng.gauss(5, 2),
        "amount": rng.lognormvariate(3, 0.8),
        "flag": rng.random() < 0.5,
        "segment": rng.choice("xyz"),
    }  # bool/str: skipped
    score = 1 / (1 + math.exp(-(a - b)))
    return _event(i, at, feats, rng.lognormvariate(math.log(120), 0.3), score)


def _stream(n: int, seed: int = 1, spacing: float = 1.0) -> list[ObservedEvent]:
    rng = random.Random(seed)
    return [_clean(rng, i, i * spacing) for i in range(n)]


def _run(det: AnomalyDetector, events: list[ObservedEvent], size: int = 2000) -> list:
    out = []
    for k in range(0, len(events), size):
        out += det.process(events[k : k + size])
    return out


# ---------------------------------------------------------------- view 1: event_anomaly
def test_out_of_distribution_event_is_flagged_naming_the_feature() -> None:
    events = _stream(1500, seed=2)
    rng = random.Random(99)
    odd = _clean(rng, 1200, 1200.0)
    feats = dict(odd.event.input.features) | {"c": 45.0}  # c ~ N(5, 2): a 20-sigma value
    events[1200] = _event(1200, 1200.0, feats, odd.event.usage.latency_ms, odd.event.output.score)
    signals = [s for s in _run(AnomalyDetector(_registry()), events) if s.kind == "event_anomaly"]
    hit = [s for s in signals if s.event_id == "e1200"]
    assert len(hit) == 1
    top = [f["feature"] for f in hit[0].evidence["top_features"]]
    assert top[0] == "features.c" and len(top) == 3
    assert hit[0].evidence["score"] > hit[0].evidence["threshold"]
    assert hit[0].evidence["top_features"][0]["value"] == 45.0
    assert hit[0].severity.value == "high"
    assert len(signals) <= 1 + 3 * FAR * 1000  # the rest is the clean false-alarm budget


def test_no_alarm_before_the_reference_is_complete() -> None:
    events = _stream(499, seed=3)
    events[100] = _event(100, 100.0, {"a": 1e6, "b": -1e6, "c": 1e9}, 1e7, 0.5, cost=50.0)
    det = AnomalyDetector(_registry())
    assert _run(det, events, size=97) == []
    # the 500th event completes the reference; the next outlier is scored
    more = _stream(502, seed=3)[499:]
    more[2] = _event(501, 501.0, {"a": 0.0, "b": 0.0, "c": 500.0}, 120.0)
    assert [s.event_id for s in det.process(more)] == ["e501"]


def test_clean_false_alarm_rate_is_near_the_target() -> None:
    det = AnomalyDetector(_registry())
    signals = _run(det, _stream(5500, seed=4, spacing=0.01))
    events = [s for s in signals if s.kind == "event_anomaly"]
    assert len(events) <= 3 * FAR * 5000  # at most 3x the configured 0.5% on 5,000 clean calls
    assert not [s for s in signals if s.kind == "metric_anomaly"]


def test_missing_values_are_imputed_and_reported() -> None:
    events = _stream(700, seed=5)
    ev = events[600].event
    events[600] = _event(600, 600.0, {"a": 9.0, "b": -9.0}, 120.0, 0.5)  # c, amount missing
    hit = [s for s in _run(AnomalyDetector(_registry()), events) if s.event_id == "e600"]
    assert hit and set(hit[0].evidence["missing_imputed"]) == {"features.c", "features.amount"}
    assert ev is not None


def test_reference_file_means_alarms_from_the_first_event(tmp_path) -> None:
    ref = tmp_path / "ref.jsonl"
    ref.write_bytes(
        b"\n".join(
            orjson.dumps(o.event.model_dump(mode="json", by_alias=True))
            for o in _stream(400, seed=6)
        )
    )
    registry = _registry({"m": {"anomaly_reference": str(ref)}})
    odd = _event(0, 0.0, {"a": 0.0, "b": 0.0, "c": 60.0, "amount": 20.0}, 120.0)
    signals = AnomalyDetector(registry).process([odd])
    assert [s.kind for s in signals] == ["event_anomaly"]
    assert signals[0].evidence["reference_size"] == 400
    with pytest.raises(ConfigError, match="anomaly_reference"):
        AnomalyDetector(_registry({"m": {"anomaly_reference": str(tmp_path / "nope.jsonl")}}))


# ---------------------------------------------------------------- view 2: metric_anomaly
def _latency_stream(
    n_buckets: int,
    seed: int,
    spike: tuple[int, float] | None = None,
    shift: tuple[int, float] | None = None,
) -> list[ObservedEvent]:
    """Five calls per 60 s bucket; latency with a slow daily-like wave and noise."""
    rng = random.Random(seed)
    out, i = [], 0
    for b in range(n_buckets):
        level = 150 + 30 * math.sin(2 * math.pi * b / 90)
        if spike and b == spike[0]:
            level *= spike[1]
        if shift and b >= shift[0]:
            level *= shift[1]
        for j in range(5):
            lat = level * rng.lognormvariate(0, 0.05)
            out.append(_event(i, b * 60 + j * 10 + 1, {"a": rng.gauss(0, 1)}, lat))
            i += 1
    return out


def _metric_buckets(signals: list, metric: str) -> list[int]:
    return sorted(
        int(s.evidence["bucket_start"] - T0.timestamp()) // 60
        for s in signals
        if s.kind == "metric_anomaly" and s.evidence["metric"] == metric
    )


def test_latency_spike_raises_metric_anomaly_at_the_injected_bucket() -> None:
    events = _latency_stream(480, seed=7, spike=(400, 3.0))
    signals = _run(AnomalyDetector(_registry()), events, 500)
    assert _metric_buckets(signals, "latency_ms_mean") == [400]
    hit = next(s for s in signals if s.kind == "metric_anomaly")
    start = int(T0.timestamp()) + 400 * 60
    assert hit.key == f"m:latency_ms_mean:{start}" and hit.event_id is None
    ev = hit.evidence
    assert ev["bucket_end"] - ev["bucket_start"] == 60 and ev["score"] > ev["threshold"]
    assert ev["value"] > 2 * ev["expected"]


def test_latency_level_shift_is_flagged_where_it_starts() -> None:
    events = _latency_stream(480, seed=8, shift=(400, 2.0))
    signals = _run(AnomalyDetector(_registry()), events, 500)
    buckets = _metric_buckets(signals, "latency_ms_mean")
    assert buckets and 400 <= buckets[0] <= 401


def test_clean_series_false_alarms_stay_within_the_budget() -> None:
    signals = _run(AnomalyDetector(_registry()), _latency_stream(720, seed=9), 500)
    scored = 720 - 240 - 1  # after the series reference; the last bucket is still open
    for metric in ("latency_ms_mean", "cost_usd_per_call", "requests"):
        assert len(_metric_buckets(signals, metric)) <= 3 * FAR * scored
    assert len(_metric_buckets(signals, "requests")) == 0  # a constant rate never alarms


# ---------------------------------------------------------------- state and device
def test_state_round_trip_gives_identical_scores() -> None:
    events = _latency_stream(400, seed=10, spike=(320, 3.0))
    odd = events[1300]
    events[1300] = _event(
        1300,
        odd.event.timestamp.timestamp() - T0.timestamp(),
        {"a": 25.0},
        odd.event.usage.latency_ms,
    )
    whole = _run(AnomalyDetector(_registry()), events, 700)
    first = AnomalyDetector(_registry())
    part = _run(first, events[:1500], 700)
    second = AnomalyDetector(_registry())
    state = orjson.loads(orjson.dumps(first.state_dict()))
    second.load_state(state)
    assert orjson.loads(orjson.dumps(second.state_dict())) == state
    part += _run(second, events[1500:], 700)
    as_tuple = lambda s: (s.kind, s.event_id, s.key, orjson.dumps(s.evidence))  # noqa: E731
    assert sorted(map(as_tuple, part)) == sorted(map(as_tuple, whole))  # order within a batch
    assert len(whole) >= 2  # the spike and the odd call, across the batch bounds
    assert {s.kind for s in whole} == {"event_anomaly", "metric_anomaly"}


def test_series_scorer_round_trip_is_bit_identical() -> None:
    rng = np.random.default_rng(0)
    values = np.sin(np.arange(900) / 8.0) * 10 + rng.normal(0, 1, 900)
    a = SeriesScorer(seed=3, device="cpu").fit(values[:300])
    b = SeriesScorer.from_state(orjson.loads(orjson.dumps(a.state_dict())), device="cpu")
    za, zb = a.score(values[300:600]), b.score(values[300:600])
    assert np.array_equal(za, zb)
    c = SeriesScorer.from_state(orjson.loads(orjson.dumps(a.state_dict())), device="cpu")
    # detect() in pieces raises the same alarms as at once (refractory state carried over)
    d1 = SeriesScorer.from_state(orjson.loads(orjson.dumps(a.state_dict())), device="cpu")
    d2 = SeriesScorer.from_state(orjson.loads(orjson.dumps(a.state_dict())), device="cpu")
    for d in (d1, d2):  # a low threshold and a short episode gap: many alarms to compare
        d.threshold = d.current = 2.0
        d.cfg["refractory"] = 2
    whole = d1.detect(values[600:])[1]
    parts = [d2.detect(values[k : k + 7])[1] for k in range(600, 900, 7)]
    assert whole.sum() > 3 and np.array_equal(whole, np.concatenate(parts))
    # streaming in pieces = scoring at once (up to float32 batch-size rounding in the matmuls)
    np.testing.assert_allclose(
        a.score(values[600:]),
        np.concatenate([c.score(values[600:700]), c.score(values[700:])]),
        rtol=1e-5,
        atol=1e-5,
    )


def test_device_falls_back_to_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(anomaly_models, "_LOGGED", set())
    assert pick_device("cuda").type == "cpu" and pick_device("auto").type == "cpu"
    det = AnomalyDetector(_registry(device="cuda"))
    assert det.device.type == "cpu"
    assert _run(det, _stream(600, seed=11)) is not None
    with pytest.raises(ValueError):
        pick_device("tpu")
    with pytest.raises(ConfigError):
        AnomalyDetector(_registry(bogus=1))
