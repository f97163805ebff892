"""Drift detector: no finding on stable data, one finding per episode (opened once, closed when
the column recovers or its reference is refitted), no other column named, evidence, state."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from core.events import InferenceEvent
from core.model_registry import ConfigError, Registry
from core.signals import ObservedEvent, Signal, SourceRef
from detectors.drift import DriftDetector

REGISTRY = Registry()
T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
TOPIC, PARTITION, OFFSET0 = "rw.events", 3, 10_000
# default windows: reference 1000, window 500, step 250; window ends at call 1499 + 250 k
FIRST_END, STEP = 1499, 250


def _event(
    i: int,
    features: dict[str, Any],
    model: str = "m",
    *,
    output: dict | None = None,
    usage: dict | None = None,
) -> ObservedEvent:
    ts = T0 + timedelta(milliseconds=50 * i)
    doc: dict[str, Any] = {
        "event_id": f"{model}-{i}",
        "model": {"id": model, "version": "1"},
        "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "input": {"features": features},
    }
    if output is not None:
        doc["output"] = output
    if usage is not None:
        doc["usage"] = usage
    return ObservedEvent(
        InferenceEvent.model_validate(doc), SourceRef(TOPIC, PARTITION, OFFSET0 + i)
    )


def _run(det: DriftDetector, events: list[ObservedEvent], size: int = 997) -> list[Signal]:
    out = []
    for k in range(0, len(events), size):
        out += det.process(events[k : k + size])
    return out + det.flush()


def _features(
    n: int, seed: int, shifts: dict[str, list[tuple[int, int, float]]] | None = None
) -> list[ObservedEvent]:
    """x1..x5 ~ N(0,1), segment a/b/c at 50/30/20%, latency; ``shifts``: column -> (from, to,
    mean shift) spans."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, 5))
    for name, spans in (shifts or {}).items():
        for start, end, by in spans:
            x[start:end, int(name[1]) - 1] += by
    xs = np.round(x, 4).tolist()
    seg = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    lat = np.round(rng.lognormal(4, 0.4, n), 1).tolist()
    return [
        _event(
            i,
            {f"x{k + 1}": xs[i][k] for k in range(5)} | {"segment": "abc"[seg[i]]},
            usage={"latency_ms": lat[i]},
        )
        for i in range(n)
    ]


def _at(s: Signal) -> int:
    return s.source.offset - OFFSET0


# ------------------------------------------------------------------ false alarms


def test_no_finding_on_stable_data() -> None:
    det = DriftDetector(REGISTRY)
    assert _run(det, _features(40_000, seed=11)) == []
    m = det._models["m"]
    assert m.seen == 39_000 and not m.episodes
    tested = [c for c, ref in det._prepared["m"].items() if ref.rows]
    assert len(tested) == 7  # x1..x5, segment, latency; the absent columns are not tested


# ------------------------------------------------------------------ one finding per episode


def test_a_shift_is_one_finding_opened_once_and_closed_by_refitting_the_reference() -> None:
    onset = 6000
    events = _features(14_000, seed=12, shifts={"x1": [(onset, 14_000, 0.5)]})
    det = DriftDetector(REGISTRY)
    signals = _run(det, events)
    assert [(s.kind, s.evidence["column"]) for s in signals] == [
        ("column_drift", "features.x1"),
        ("column_drift_ended", "features.x1"),
    ]
    opened, ended = signals
    first_with_shift = FIRST_END + -(-(onset - FIRST_END) // STEP) * STEP
    assert first_with_shift <= _at(opened) <= first_with_shift + STEP  # within 2 windows
    assert opened.severity == "medium" and opened.key == f"m:features.x1:{OFFSET0 + _at(opened)}"
    assert opened.evidence["adjusted_p_value"] <= opened.evidence["threshold"] == 1e-4
    assert opened.evidence["columns_tested"] == 7 and opened.evidence["tests"] == 14
    # nothing while the episode lasts; after 8 windows the reference is refitted, which ends it
    assert _at(ended) == _at(opened) + 7 * STEP
    assert ended.severity == "info" and ended.key == opened.key + ":ended"
    assert ended.evidence["reason"] == "reference_refitted" and ended.evidence["windows"] == 8
    assert ended.evidence["started_window"] == opened.evidence["current_window"]
    m = det._models["m"]
    refitted = np.array(m.reference["features.x1"], dtype=float)
    assert len(refitted) == 1000 and refitted.mean() == pytest.approx(0.5, abs=0.15)
    assert m.column_bounds["features.x1"]["last_offset"] == OFFSET0 + _at(ended)
    assert np.mean(m.reference["features.x2"]) == pytest.approx(0.0, abs=0.15)  # untouched
    assert not m.episodes


@pytest.mark.parametrize("phase", [0, 1, 125, 249])
def test_a_half_sd_shift_is_found_within_two_windows_whatever_its_phase(phase: int) -> None:
    """The onset ``phase`` calls before the last call of the first window that holds it (phase 0,
    the worst case: that window holds one shifted call); the next window names it at the latest,
    and only it."""
    onset = FIRST_END + 20 * STEP - phase  # phase 0: the onset is that window's last call
    first_end = FIRST_END + 20 * STEP
    for seed in (21, 22, 23):
        events = _features(onset + 1000, seed=seed, shifts={"x1": [(onset, onset + 1000, 0.5)]})
        signals = _run(DriftDetector(REGISTRY), events)
        assert [(s.kind, s.evidence["column"]) for s in signals] == [
            ("column_drift", "features.x1")
        ]
        assert first_end <= _at(signals[0]) <= first_end + STEP


def test_a_drifting_reference_keeps_adapting() -> None:
    """x1 moves twice (0 -> 0.5 -> 1.0 sd): each move is one episode, refitted; no more."""
    spans = [(5000, 16_000, 0.5), (10_000, 16_000, 0.5)]
    signals = _run(DriftDetector(REGISTRY), _features(16_000, seed=13, shifts={"x1": spans}))
    assert [(s.kind, s.evidence["column"]) for s in signals] == [
        ("column_drift", "features.x1"),
        ("column_drift_ended", "features.x1"),
    ] * 2
    assert 5000 <= _at(signals[0]) <= 5000 + 2 * STEP
    assert 10_000 <= _at(signals[2]) <= 10_000 + 2 * STEP
    assert all(s.evidence["reason"] == "reference_refitted" for s in signals[1::2])


def test_an_episode_ends_when_the_column_recovers() -> None:
    events = _features(12_000, seed=14, shifts={"x3": [(5000, 6500, 1.0)]})
    signals = _run(DriftDetector(REGISTRY, refit_windows=100), events)
    assert [(s.kind, s.evidence["column"]) for s in signals] == [
        ("column_drift", "features.x3"),
        ("column_drift_ended", "features.x3"),
    ]
    ended = signals[1].evidence
    assert ended["reason"] == "recovered" and ended["last_p_value"] > 0.01
    assert 6500 + 500 <= _at(signals[1]) <= 6500 + 500 + 3 * STEP  # clean windows: 2 in a row
    assert ended["worst_p_value"] < 1e-10


def test_dataset_drift_is_one_episode_too() -> None:
    shifts = {name: [(5000, 9000, 1.0)] for name in ("x1", "x2", "x3", "x4")}
    events = _features(9000, seed=15, shifts=shifts)
    signals = _run(DriftDetector(REGISTRY), events)
    kinds = [s.kind for s in signals]
    assert kinds.count("column_drift") == 4 and kinds.count("column_drift_ended") == 4
    assert kinds.count("dataset_drift") == 1 and kinds.count("dataset_drift_ended") == 1
    assert {s.evidence["column"] for s in signals if "column" in s.evidence} == {
        f"features.x{k}" for k in range(1, 5)
    }
    dataset = next(s for s in signals if s.kind == "dataset_drift")
    assert dataset.severity == "high" and dataset.evidence["number_of_columns"] == 7
    assert dataset.evidence["number_of_drifted_columns"] >= 4
    ended = next(s for s in signals if s.kind == "dataset_drift_ended")
    assert ended.key == dataset.key + ":ended" and _at(ended) > _at(dataset)


def test_evidence_has_window_bounds_with_timestamps_and_kafka_offsets() -> None:
    events = _features(8000, seed=12, shifts={"x1": [(5000, 8000, 1.0)]})
    signal = _run(DriftDetector(REGISTRY), events)[0]
    end = _at(signal)
    # window 5249 holds 250 shifted calls: its newest 250 (all shifted) are what drifted
    assert end == 5249 and signal.evidence["tested"] == "newest calls of the window"
    first, last = events[end - 249], events[end]
    assert signal.evidence["current_window"] == {
        "events": 250,
        "first_timestamp": first.event.timestamp.isoformat(),
        "last_timestamp": last.event.timestamp.isoformat(),
        "topic": TOPIC,
        "partition": PARTITION,
        "first_offset": OFFSET0 + end - 249,
        "last_offset": OFFSET0 + end,
        "sources": [
            {
                "topic": TOPIC,
                "partition": PARTITION,
                "first_offset": OFFSET0 + end - 249,
                "last_offset": OFFSET0 + end,
            }
        ],
    }
    ref = signal.evidence["reference_window"]
    assert (ref["events"], ref["first_offset"], ref["last_offset"]) == (
        1000,
        OFFSET0,
        OFFSET0 + 999,
    )
    assert ref["first_timestamp"] == events[0].event.timestamp.isoformat()
    assert signal.evidence["stattest"] == "ks" and signal.evidence["p_value"] < 1e-6
    assert signal.event_id is None and signal.source == SourceRef(TOPIC, PARTITION, OFFSET0 + end)
    json.dumps(signal.evidence, allow_nan=False)


def test_categorical_columns_drift_by_chi_square() -> None:
    rng = np.random.default_rng(16)
    events = [
        _event(i, {"k": "abc"[rng.choice(3, p=[0.3, 0.3, 0.4] if i >= 3000 else [0.5, 0.3, 0.2])]})
        for i in range(5000)
    ]
    signals = _run(DriftDetector(REGISTRY), events)
    assert [s.kind for s in signals] == [
        "column_drift",
        "dataset_drift",  # 1 of 1 column
        "column_drift_ended",  # the reference refitted
        "dataset_drift_ended",
    ]
    assert signals[0].evidence["stattest"] == "chisquare"
    assert 3000 <= _at(signals[0]) <= 3000 + 2 * STEP


def test_invalid_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown"):
        DriftDetector(REGISTRY, windowsize=3)
    with pytest.raises(ConfigError, match="invalid"):
        DriftDetector(REGISTRY, step=0)
    with pytest.raises(ConfigError, match="invalid"):
        DriftDetector(REGISTRY, false_alarm_rate=1.5)


# ------------------------------------------------------------------ state, memory


def _mixed_stream(n: int = 1400) -> list[ObservedEvent]:
    rng = np.random.default_rng(5)
    out = []
    for i in range(n):
        model = ("a", "b")[i % 2]
        shift = 0.8 if i > 900 else 0.0
        out.append(
            _event(
                i,
                {
                    "x": round(float(rng.normal(shift, 1)), 3),
                    "k": ("p", "q", "r")[int(rng.integers(0, 3))],
                    "f": bool(i % 3),
                },
                model,
                output={"score": round(float(rng.random()), 3), "prediction": 1},
                usage={
                    "latency_ms": round(float(rng.lognormal(4, 0.3)), 1),
                    **({"error": "timeout"} if i % 50 == 7 else {}),
                },
            )
        )
    return out


def test_state_round_trip_mid_episode_gives_identical_later_signals() -> None:
    events = _features(12_000, seed=12, shifts={"x1": [(6000, 12_000, 0.5)]})
    straight = DriftDetector(REGISTRY)
    cut = 7000  # the episode is open here
    first = _run(straight, events[:cut])
    state = json.loads(json.dumps(straight.state_dict(), allow_nan=False))
    assert state["format"] == 2 and "features.x1" in state["models"]["m"]["episodes"]
    resumed = DriftDetector(REGISTRY)
    resumed.load_state(state)
    assert resumed.state_dict() == state
    tail_a, tail_b = _run(straight, events[cut:]), _run(resumed, events[cut:])
    assert tail_a == tail_b and [s.kind for s in first + tail_a] == [
        "column_drift",
        "column_drift_ended",
    ]
    assert straight.state_dict() == resumed.state_dict()


def test_a_version_1_state_keeps_its_reference_and_buffer() -> None:
    events = _features(3000, seed=17)
    det = DriftDetector(REGISTRY)
    _run(det, events[:2000])
    v2 = det.state_dict()["models"]["m"]
    v1 = {  # what version 1 saved: streaks instead of episodes, a 500-row buffer
        "models": {
            "m": {
                k: v2[k]
                for k in ("ref_rows", "ref_metas", "columns", "reference", "reference_bounds")
            }
            | {
                "rows": v2["rows"][-500:],
                "metas": v2["metas"][-500:],
                "seen": v2["seen"],
                "streaks": {"features.x1": 3},
            }
        },
        "pending": [],
    }
    old = DriftDetector(REGISTRY)
    old.load_state(json.loads(json.dumps(v1)))
    m = old._models["m"]
    assert m.reference == det._models["m"].reference and m.seen == 1000 and not m.episodes
    assert list(m.rows) == v2["rows"][-500:]
    assert _run(old, events[2000:]) == _run(det, events[2000:]) == []


def test_memory_is_bounded_and_failed_calls_are_ignored() -> None:
    det = DriftDetector(REGISTRY, reference_size=200, window_size=100, step=30)
    events = _mixed_stream()
    for k in range(0, len(events), 50):
        det.process(events[k : k + 50])
        for m in det._models.values():
            assert len(m.rows) <= 200 and len(m.metas) <= 200 and len(m.ref_rows) < 200
    failed = sum(1 for e in events if e.event.usage is not None and e.event.usage.error)
    for model in ("a", "b"):
        m = det._models[model]
        assert m.reference is not None and len(m.reference["features.x"]) == 200
        assert len(m.rows) == 200
        ok = sum(
            1
            for e in events
            if e.event.model.id == model and e.event.usage is not None and not e.event.usage.error
        )
        assert m.seen == ok - 200
    assert failed and sorted(det._models["a"].columns or []) == det._models["a"].columns
