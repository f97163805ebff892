"""Every shipped detector honours the interface and has a policy rule for each signal it emits."""

from __future__ import annotations

import orjson
import pytest

from detectors.registry import DETECTOR_CLASSES, build_detectors
from policies.engine import PolicyEngine
from policies.pack import load_packs
from riskwatch.registry import load_registry
from streams.simulator import simulate_events
from streams.processor import RawMessage, decode_batch
from streams.codec import EventPolicy
from tests.unit.paths import REPO

REGISTRY = load_registry(REPO / "riskwatch.yaml")


@pytest.mark.parametrize("name", sorted(DETECTOR_CLASSES))
def test_detector_contract(name: str) -> None:
    cls = DETECTOR_CLASSES[name]
    assert cls.name == name and cls.version and cls.signal_kinds
    engine = PolicyEngine(load_packs(), REGISTRY)
    for kind in cls.signal_kinds:
        assert engine.covers(f"{name}.{kind}"), f"no policy rule for {name}.{kind}"
    detector = cls(REGISTRY)
    assert detector.process([]) == []
    events = simulate_events(500, registry=REGISTRY, seed=2, run_id="c")
    raw = [RawMessage("t", 0, i, None, orjson.dumps(e)) for i, e in enumerate(events)]
    batch = decode_batch(raw, EventPolicy()).events
    signals = detector.process(batch)
    assert signals and {s.kind for s in signals} <= set(cls.signal_kinds)
    assert all(s.detector == name for s in signals)
    state = orjson.loads(orjson.dumps(detector.state_dict()))
    fresh = cls(REGISTRY)
    fresh.load_state(state)
    assert fresh.state_dict() == detector.state_dict()


def test_unknown_detector_name_is_an_error() -> None:
    with pytest.raises(ValueError, match="nope"):
        build_detectors(REGISTRY, ["nope"])
