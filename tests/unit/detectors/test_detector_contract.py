"""River-style contract test: every shipped detector honours the Detector interface.

Parametrised over detectors.catalog.DETECTOR_CLASSES, so a new detector is checked as soon as it
is listed in the catalogue: identity, a policy rule for each signal kind, empty batches, signal
kinds, and state that survives a JSON round trip into a fresh instance.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache

import orjson
import pytest

from core.model_registry import load_registry
from core.signals import ObservedEvent, Signal
from detectors.base import Detector
from detectors.catalog import DETECTOR_CLASSES, build_detectors
from policies.engine import PolicyEngine
from policies.pack import load_packs
from riskwatch.simulator import simulate_events
from streams.batch import RawMessage
from streams.codec import EventPolicy
from streams.pipeline import decode_batch
from tests.unit.paths import REPO

REGISTRY = load_registry(REPO / "riskwatch.yaml")
NAMES = sorted(DETECTOR_CLASSES)
START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


@cache
def _stream(n: int, drift_from: float | None = None) -> tuple[ObservedEvent, ...]:
    events = simulate_events(
        n, registry=REGISTRY, seed=2, run_id="c", start=START, drift_from=drift_from
    )
    raw = [RawMessage("t", 0, i, None, orjson.dumps(e)) for i, e in enumerate(events)]
    decoded = decode_batch(raw, EventPolicy())
    assert not decoded.rejected
    return tuple(decoded.events)


def _events_for(cls: type[Detector]) -> list[ObservedEvent]:
    """Enough simulated traffic for the detector to have warmed up and produce signals (with the
    simulator's data drift from ``simulated_drift_from`` on, for a detector that needs one)."""
    n = int(getattr(cls, "warmup_events", 0)) + 500
    return list(_stream(n, getattr(cls, "simulated_drift_from", None)))


def _run(det: Detector, events: list[ObservedEvent], size: int = 1000) -> list[Signal]:
    out: list[Signal] = []
    for k in range(0, len(events), size):
        out += det.process(events[k : k + size])
    return out


def test_there_are_detectors_and_names_match_their_keys() -> None:
    assert "usage_slo" in DETECTOR_CLASSES
    assert all(cls.name == key for key, cls in DETECTOR_CLASSES.items())


@pytest.mark.parametrize("name", NAMES)
def test_identity(name: str) -> None:
    cls = DETECTOR_CLASSES[name]
    assert isinstance(cls.name, str) and cls.name == name
    assert isinstance(cls.version, str) and cls.version
    assert isinstance(cls.signal_kinds, tuple) and cls.signal_kinds
    assert len(set(cls.signal_kinds)) == len(cls.signal_kinds)
    assert all(k and k == k.lower() and "." not in k for k in cls.signal_kinds)


@pytest.mark.parametrize("name", NAMES)
def test_every_signal_kind_has_a_rule_in_the_shipped_packs(name: str) -> None:
    engine = PolicyEngine(load_packs(), REGISTRY)
    rules = {r.signal for p in load_packs() for r in p.rules}
    for kind in DETECTOR_CLASSES[name].signal_kinds:
        assert f"{name}.{kind}" in rules, f"no policy rule for {name}.{kind}"
        assert engine.covers(f"{name}.{kind}")


@pytest.mark.parametrize("name", NAMES)
def test_empty_batch_gives_no_signals_and_leaves_state_alone(name: str) -> None:
    det = DETECTOR_CLASSES[name](REGISTRY)
    before = orjson.dumps(det.state_dict())
    assert det.process([]) == []
    assert orjson.dumps(det.state_dict()) == before


@pytest.mark.parametrize("name", NAMES)
def test_signals_are_well_formed_and_only_of_declared_kinds(name: str) -> None:
    cls = DETECTOR_CLASSES[name]
    det = cls(REGISTRY)
    events = _events_for(cls)
    signals = _run(det, events)
    assert signals, f"{name} raised no signal on {len(events)} simulated events"
    assert {s.kind for s in signals} <= set(cls.signal_kinds)
    ids = {e.event.event_id for e in events}
    for s in signals:
        assert s.detector == name
        assert s.model_id in REGISTRY.models
        assert s.event_id is None or s.event_id in ids
        assert s.title and isinstance(s.evidence, dict)
        orjson.dumps(s.evidence)  # evidence is published and stored as JSON
    findings = PolicyEngine(load_packs(), REGISTRY).evaluate(signals)
    assert len(findings) == len(signals), "every signal must become a finding"


@pytest.mark.parametrize("name", NAMES)
def test_state_is_json_and_round_trips_into_a_fresh_instance(name: str) -> None:
    cls = DETECTOR_CLASSES[name]
    events = _events_for(cls)
    half = len(events) // 2 + 7
    det = cls(REGISTRY)
    _run(det, events[:half])
    state = det.state_dict()
    assert isinstance(state, dict)
    text = json.dumps(state, allow_nan=False)  # strict JSON: the store's JSON column takes it
    fresh = cls(REGISTRY)
    fresh.load_state(json.loads(text))
    assert fresh.state_dict() == state
    # and the restored detector carries on exactly like the one that never stopped
    assert _run(fresh, events[half:]) == _run(det, events[half:])
    assert fresh.state_dict() == det.state_dict()


@pytest.mark.parametrize("name", NAMES)
def test_load_state_of_an_empty_state_is_a_fresh_detector(name: str) -> None:
    cls = DETECTOR_CLASSES[name]
    det = cls(REGISTRY)
    det.load_state(json.loads(json.dumps(cls(REGISTRY).state_dict())))
    assert det.state_dict() == cls(REGISTRY).state_dict()


def test_build_detectors_default_is_all_in_stable_order() -> None:
    assert [d.name for d in build_detectors(REGISTRY)] == NAMES
    assert [d.name for d in build_detectors(REGISTRY, ["usage_slo"])] == ["usage_slo"]


def test_unknown_detector_name_is_a_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match="nope") as info:
        build_detectors(REGISTRY, ["usage_slo", "nope"])
    assert "usage_slo" not in str(info.value).split(";")[0]  # only the unknown one is blamed
