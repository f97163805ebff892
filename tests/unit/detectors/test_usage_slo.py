"""Usage SLO detector: exact signal positions on seeded streams, windows, and restart via state."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from core.events import InferenceEvent
from core.model_registry import load_registry
from core.signals import ObservedEvent, Signal, SourceRef
from detectors.usage_slo import DEFAULT_ERROR_RATE_SLO, UsageSLODetector
from tests.unit.paths import REPO

# credit-scoring: 250 ms SLO, 2% budget; support-assistant: 2500 ms, 5%; fraud-detection: 80 ms, 1%
REGISTRY = load_registry(REPO / "riskwatch.yaml")
T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # a multiple of 300 s since the epoch
BREACH, ERROR, WINDOW = "latency_slo_breach", "inference_error", "error_rate_slo_breach"


def _event(
    i: int,
    latency: float | None = 100.0,
    error: str | None = None,
    model: str = "credit-scoring",
    at: float | None = None,
    usage: bool = True,
) -> ObservedEvent:
    stamp = (T0 + timedelta(seconds=i if at is None else at)).isoformat().replace("+00:00", "Z")
    doc = {"event_id": f"e{i}", "timestamp": stamp, "model": {"id": model, "version": "1"}}
    if usage:
        doc["usage"] = {"latency_ms": latency, "error": error}
    return ObservedEvent(InferenceEvent.model_validate(doc), SourceRef("t", 0, i))


def _positions(signals: list[Signal], kind: str) -> list[int]:
    return [s.source.offset for s in signals if s.kind == kind and s.source is not None]


def test_latency_breach_is_strictly_above_the_models_slo() -> None:
    cases = [
        ("credit-scoring", 250.0, False),
        ("credit-scoring", 250.01, True),
        ("credit-scoring", 249.0, False),
        ("support-assistant", 2500.0, False),
        ("support-assistant", 2501.0, True),
        ("fraud-detection", 81.0, True),
        ("fraud-detection", 80.0, False),
        ("credit-scoring", 0.0, False),
    ]
    events = [_event(i, ms, model=m) for i, (m, ms, _) in enumerate(cases)]
    signals = UsageSLODetector(REGISTRY).process(events)
    assert _positions(signals, BREACH) == [i for i, (_, _, hit) in enumerate(cases) if hit]
    first = next(s for s in signals if s.kind == BREACH)
    assert (
        first.event_id == "e1" and first.model_id == "credit-scoring" and first.model_version == "1"
    )
    assert first.evidence["slo_ms"] == 250.0 and first.evidence["latency_ms"] == 250.01


@pytest.mark.parametrize(
    "latency, severity",
    [
        (374.0, "low"),
        (375.0, "medium"),
        (749.0, "medium"),
        (750.0, "high"),
        (5000.0, "high"),
        (251.0, "low"),
    ],
)
def test_severity_follows_the_ratio_to_the_slo(latency: float, severity: str) -> None:
    (signal,) = UsageSLODetector(REGISTRY).process([_event(0, latency)])
    assert signal.severity.value == severity
    assert signal.evidence["ratio"] == round(latency / 250.0, 4)


def test_seeded_stream_has_signals_exactly_at_the_slow_and_failed_calls() -> None:
    rng = random.Random(3)
    events, slow, failed = [], [], []
    for i in range(300):
        latency = rng.choice([None, 100.0, 200.0, 250.0, 251.0, 600.0, 900.0])
        error = rng.choice(["timeout", "oom"]) if rng.random() < 0.05 else None
        slow += [i] if latency is not None and latency > 250 else []
        failed += [i] if error else []
        events.append(_event(i, latency, error, at=i * 0.5))
    signals = UsageSLODetector(REGISTRY, min_calls=10**6).process(events)
    assert slow and failed
    assert _positions(signals, BREACH) == slow
    assert _positions(signals, ERROR) == failed
    assert not _positions(signals, WINDOW)
    assert [s.evidence["error"] for s in signals if s.kind == ERROR] == [
        events[i].event.usage.error for i in failed
    ]  # type: ignore[union-attr]


def test_unknown_model_gets_no_latency_signal_but_errors_are_flagged() -> None:
    signals = UsageSLODetector(REGISTRY).process(
        [_event(0, 99999.0, "oom", model="unregistered"), _event(1, 99999.0, model="unregistered")]
    )
    assert [(s.kind, s.event_id) for s in signals] == [(ERROR, "e0")]
    assert signals[0].severity.value == "medium"


def test_error_rate_fires_once_at_the_call_that_reaches_min_calls() -> None:
    # credit-scoring, budget 2%: one failure in the first call; at call 20 the rate is 1/20 = 5%.
    det = UsageSLODetector(REGISTRY, window_s=300, min_calls=20)
    events = [_event(i, error="x" if i in (0, 25, 40) else None) for i in range(60)]
    windows = [s for s in det.process(events) if s.kind == WINDOW]
    assert _positions(windows, WINDOW) == [19]
    w = windows[0]
    assert w.event_id is None and w.key == f"credit-scoring@{T0.timestamp():.0f}"
    assert (w.evidence["calls"], w.evidence["errors"], w.evidence["budget"]) == (20, 1, 0.02)
    assert w.evidence["window_start"] == T0.timestamp() and w.severity.value == "high"  # 5% >= 2x2%


def test_never_below_min_calls() -> None:
    det = UsageSLODetector(REGISTRY, min_calls=20)
    signals = det.process([_event(i, error="x") for i in range(19)])
    assert len(_positions(signals, ERROR)) == 19 and not _positions(signals, WINDOW)
    assert _positions(det.process([_event(19, error="x")]), WINDOW) == [19]


def test_rate_equal_to_the_budget_is_not_a_breach() -> None:
    # support-assistant, budget 5%: 1/20 is exactly 5%; the 2nd failure at call 26 makes 2/26.
    det = UsageSLODetector(REGISTRY, min_calls=20)
    events = [
        _event(i, error="x" if i in (0, 25) else None, model="support-assistant") for i in range(40)
    ]
    windows = [s for s in det.process(events) if s.kind == WINDOW]
    assert _positions(windows, WINDOW) == [25]
    assert windows[0].severity.value == "medium"  # 7.7% < 2 x 5%


def test_unknown_model_uses_the_default_budget() -> None:
    det = UsageSLODetector(REGISTRY, min_calls=20)
    n_fail = int(DEFAULT_ERROR_RATE_SLO * 20)  # exactly at the budget: no breach
    events = [_event(i, error="x" if i < n_fail else None, model="unregistered") for i in range(20)]
    assert not _positions(det.process(events), WINDOW)
    assert _positions(det.process([_event(20, error="x", model="unregistered")]), WINDOW) == [20]


def test_a_new_window_resets_the_count_and_late_events_are_ignored() -> None:
    det = UsageSLODetector(REGISTRY, window_s=300, min_calls=20)
    first = [_event(i, error="x") for i in range(25)]  # window [0, 300)
    second = [_event(100 + k, error="x", at=300 + k) for k in range(25)]  # window [300, 600)
    late = [_event(200, error="x", at=299)]  # back in window 1
    signals = det.process(first + second + late)
    windows = [s for s in signals if s.kind == WINDOW]
    assert _positions(windows, WINDOW) == [19, 119]
    assert [w.evidence["window_start"] for w in windows] == [T0.timestamp(), T0.timestamp() + 300]
    assert len({w.key for w in windows}) == 2
    assert _positions(signals, ERROR)[-1] == 200  # the late call is still an inference_error
    assert det.state_dict()["credit-scoring"]["calls"] == 25


def test_windows_are_per_model() -> None:
    det = UsageSLODetector(REGISTRY, min_calls=20)
    events = []
    for i in range(40):  # interleaved: each model sees its 20th call at i = 38 / 39
        model = "credit-scoring" if i % 2 == 0 else "fraud-detection"
        events.append(_event(i, latency=1.0, error="x" if i < 2 else None, model=model))
    windows = [s for s in det.process(events) if s.kind == WINDOW]
    assert [(w.model_id, w.source.offset) for w in windows if w.source] == [
        ("credit-scoring", 38),
        ("fraud-detection", 39),
    ]


def test_events_without_usage_are_not_calls() -> None:
    det = UsageSLODetector(REGISTRY, min_calls=2)
    assert det.process([_event(0, usage=False), _event(1, usage=False)]) == []
    assert det.state_dict() == {}


def _seeded_stream(seed: int, n: int) -> list[ObservedEvent]:
    rng = random.Random(seed)
    models = ["credit-scoring", "fraud-detection", "support-assistant", "unregistered"]
    return [
        _event(
            i,
            rng.choice([50.0, 90.0, 300.0, 3000.0]),
            "err" if rng.random() < 0.08 else None,
            rng.choice(models),
            at=i * 2.0,
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("split", [0, 1, 137, 150, 299, 400])
def test_state_round_trip_into_a_fresh_detector_gives_the_same_signals(split: int) -> None:
    events = _seeded_stream(9, 400)  # 800 s: three 300 s windows
    one_go = UsageSLODetector(REGISTRY, min_calls=10)
    whole = one_go.process(events)
    assert {s.kind for s in whole} == {BREACH, ERROR, WINDOW}
    first = UsageSLODetector(REGISTRY, min_calls=10)
    part = first.process(events[:split])
    second = UsageSLODetector(REGISTRY, min_calls=10)
    second.load_state(orjson.loads(orjson.dumps(first.state_dict())))
    part += second.process(events[split:])
    assert part == whole
    assert second.state_dict() == one_go.state_dict()


def test_restored_state_keeps_the_window_alerted_and_fresh_state_does_not() -> None:
    # guards the round-trip test: without the state a restart would alert on the window again
    events = [_event(i, error="x") for i in range(50)]
    det = UsageSLODetector(REGISTRY, min_calls=20)
    assert _positions(det.process(events[:25]), WINDOW) == [19]
    restored = UsageSLODetector(REGISTRY, min_calls=20)
    restored.load_state(orjson.loads(orjson.dumps(det.state_dict())))
    assert not _positions(restored.process(events[25:]), WINDOW)
    assert restored.state_dict()["credit-scoring"] == {
        "start": T0.timestamp(),
        "calls": 50,
        "errors": 50,
        "alerted": True,
    }
    amnesiac = UsageSLODetector(REGISTRY, min_calls=20)
    assert _positions(amnesiac.process(events[25:]), WINDOW) == [44]
