"""Usage SLO detector: exact signal positions on a seeded stream, and state that survives a restart."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import orjson

from detectors.base import ObservedEvent, SourceRef
from detectors.usage_slo import UsageSLODetector
from riskwatch.registry import load_registry
from streams.schema import InferenceEvent
from tests.unit.paths import REPO

REGISTRY = load_registry(REPO / "riskwatch.yaml")  # credit-scoring: 250 ms SLO, 2% error budget
T0 = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


def _event(i: int, latency: float, error: str | None = None, model: str = "credit-scoring",
           at: datetime | None = None) -> ObservedEvent:
    stamp = (at or T0 + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")
    event = InferenceEvent.model_validate({
        "event_id": f"e{i}", "timestamp": stamp, "model": {"id": model, "version": "1"},
        "usage": {"latency_ms": latency, "error": error},
    })
    return ObservedEvent(event, SourceRef("t", 0, i))


def _stream(seed: int = 3, n: int = 200) -> tuple[list[ObservedEvent], set[int], set[int]]:
    rng = random.Random(seed)
    events, slow, failed = [], set(), set()
    for i in range(n):
        latency = rng.choice([100.0, 200.0, 250.0, 251.0, 600.0, 900.0])
        error = "timeout" if rng.random() < 0.05 else None
        if latency > 250:
            slow.add(i)
        if error:
            failed.add(i)
        events.append(_event(i, latency, error))
    return events, slow, failed


def test_latency_and_error_signals_at_exact_positions() -> None:
    events, slow, failed = _stream()
    signals = UsageSLODetector(REGISTRY).process(events)
    assert {int(s.event_id[1:]) for s in signals if s.kind == "latency_slo_breach"} == slow
    assert {int(s.event_id[1:]) for s in signals if s.kind == "inference_error"} == failed


def test_severity_follows_the_ratio_to_the_slo() -> None:
    det = UsageSLODetector(REGISTRY)
    sev = {s.evidence["latency_ms"]: s.severity.value
           for s in det.process([_event(i, ms) for i, ms in enumerate([300.0, 400.0, 800.0])])}
    assert sev == {300.0: "low", 400.0: "medium", 800.0: "high"}


def test_unknown_model_has_no_latency_slo_but_errors_are_flagged() -> None:
    signals = UsageSLODetector(REGISTRY).process([_event(0, 99999.0, "oom", model="unregistered")])
    assert [s.kind for s in signals] == ["inference_error"]


def test_error_rate_window_fires_once_at_the_breaching_call_and_resets() -> None:
    det = UsageSLODetector(REGISTRY, window_s=300, min_calls=20)
    # 19 calls, 5 failing: below min_calls, no verdict; call 20 (ok) crosses min_calls at 25%.
    calls = [_event(i, 100.0, "x" if i < 5 else None) for i in range(25)]
    windows = [s for s in det.process(calls) if s.kind == "error_rate_slo_breach"]
    assert len(windows) == 1 and windows[0].source.offset == 19 and windows[0].event_id is None
    nxt = _event(99, 100.0, "x", at=T0 + timedelta(seconds=300))
    assert not [s for s in det.process([nxt]) if s.kind == "error_rate_slo_breach"]


def test_state_round_trip_gives_the_same_signals_as_one_run() -> None:
    events, _, _ = _stream(seed=9, n=400)
    whole = UsageSLODetector(REGISTRY, min_calls=10).process(events)
    first = UsageSLODetector(REGISTRY, min_calls=10)
    part = first.process(events[:173])
    second = UsageSLODetector(REGISTRY, min_calls=10)
    second.load_state(orjson.loads(orjson.dumps(first.state_dict())))
    part += second.process(events[173:])
    assert [(s.kind, s.event_id, s.key) for s in part] == [(s.kind, s.event_id, s.key) for s in whole]
    assert any(s.kind == "error_rate_slo_breach" for s in whole)
