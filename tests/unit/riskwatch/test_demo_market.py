"""Demo traffic over two hours of event time: clean, it raises no market-demand rule; with the
market shifts injected, exactly the campaign surge (RW-CM-001) and the silent tenant (RW-CM-003)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from core.events import InferenceEvent
from core.findings import Finding
from core.model_registry import load_registry
from core.signals import ObservedEvent, SourceRef
from policies.engine import PolicyEngine
from policies.pack import load_packs
from riskwatch.demo import DEMO_GAP_MS
from riskwatch.simulator import simulate_events
from tests.deliberate import is_deliberate
from tests.unit.paths import REPO

REGISTRY = load_registry(REPO / "riskwatch.yaml")
T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def _time(d: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(d["timestamp"].replace("Z", "+00:00"))


def _findings(docs: list[dict[str, Any]]) -> list[Finding]:
    observed = [
        ObservedEvent(InferenceEvent.model_validate(d), SourceRef("ev", 0, i), d)
        for i, d in enumerate(docs)
    ]
    engine = PolicyEngine(load_packs(), REGISTRY)
    return [
        f for i in range(0, len(observed), 500) for f in engine.evaluate([], observed[i : i + 500])
    ]


@pytest.fixture(scope="module")
def clean() -> list[dict[str, Any]]:
    return simulate_events(
        8000, registry=REGISTRY, seed=7, start=T0, gap_ms=DEMO_GAP_MS, drift_from=0.5
    )


@pytest.fixture(scope="module")
def shifted() -> list[dict[str, Any]]:
    return simulate_events(
        8000,
        registry=REGISTRY,
        seed=7,
        start=T0,
        gap_ms=DEMO_GAP_MS,
        drift_from=0.5,
        market_shifts=True,
        run_id="m",
    )


def test_the_demo_spans_two_hours(clean: list[dict[str, Any]]) -> None:
    span = _time(clean[-1]) - _time(clean[0])
    assert timedelta(hours=1, minutes=45) < span < timedelta(hours=2, minutes=15)


def test_clean_long_traffic_raises_only_injected_risks(clean: list[dict[str, Any]]) -> None:
    findings = _findings(clean)
    assert findings and not [f for f in findings if f.subcategory == "market_demand"]
    for f in findings:
        tipping = clean[f.source_offset]
        assert is_deliberate(f.rule_id, tipping, f.evidence, clean), f


def test_market_shifts_raise_the_surge_and_the_silent_tenant(
    clean: list[dict[str, Any]], shifted: list[dict[str, Any]]
) -> None:
    campaign = [d for d in shifted if d["event_id"].startswith("m-c")]
    assert len(shifted) == 8000 + len(campaign) and len(campaign) > 100
    assert [_time(d) for d in shifted] == sorted(_time(d) for d in shifted)
    end = _time(shifted[-1])
    last: dict[str, datetime] = {}
    for d in shifted:
        last[d["tenant"]] = _time(d)
    silent = [t for t, at in last.items() if end - at > timedelta(minutes=30)]
    assert len(silent) == 1
    before = {d["tenant"] for d in clean if end - _time(d) < timedelta(minutes=30)}
    assert silent[0] in before  # the tenant was busy to the end in the clean traffic

    findings = _findings(shifted)
    market = [f for f in findings if f.subcategory == "market_demand"]
    for f in findings:
        if f not in market:
            assert is_deliberate(f.rule_id, shifted[f.source_offset], f.evidence, shifted), f
    assert sorted(f.rule_id for f in market) == ["RW-CM-001", "RW-CM-003"], market
    surge = next(f for f in market if f.rule_id == "RW-CM-001")
    assert surge.evidence["key"] == campaign[0]["model"]["id"]
    start = datetime.fromisoformat(surge.evidence["window"]["start"])
    assert all(start <= _time(d) < start + timedelta(minutes=5) for d in campaign)
    gone = next(f for f in market if f.rule_id == "RW-CM-003")
    assert gone.evidence["key"] == silent[0]
    assert datetime.fromisoformat(gone.evidence["last_seen"]) == last[silent[0]]


def test_demo_traffic_sends_every_event_the_shifts_add() -> None:
    from riskwatch.simulator import demo_traffic

    traffic = demo_traffic(
        8000,
        registry=REGISTRY,
        seed=7,
        run_id="d",
        start=T0,
        gap_ms=DEMO_GAP_MS,
        market_shifts=True,
    )
    sent = {orjson.loads(m.value)["event_id"] for m in traffic.messages if m.kind == "valid"}
    assert len(traffic.valid_event_ids) > 8000
    assert sent == set(traffic.valid_event_ids)


def test_demo_policy_findings_cover_eight_subcategories(shifted: list[dict[str, Any]]) -> None:
    """Ethics from the patterns on the abusive replies (the text_risk and fairness detectors add
    more); the ninth, model_reliability, comes from the SLO detector."""
    assert {f.subcategory for f in _findings(shifted)} == {
        "security",
        "ethics",
        "technology_update",
        "cost_control",
        "market_demand",
        "competition",
        "data_privacy",
        "regulation",
    }
