"""Model extraction by input coverage (RW-TS-004) and the ``unique`` window aggregate behind it:
the share of a tenant's inputs that are new, kept as hashes, measured at any volume."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from core.events import InferenceEvent
from core.model_registry import Registry
from core.signals import ObservedEvent, SourceRef
from policies.engine import PolicyEngine
from policies.pack import load_packs
from policies.windows import DISTINCT_CAP, Acc, aggregate_of, value_hash

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
REGISTRY = Registry.model_validate(
    {"models": {"chat": {"owner": "o@example.com", "risk_tier": "high", "region": "EU"}}}
)


def test_unique_is_the_share_of_new_values_and_round_trips() -> None:
    a, b = Acc(), Acc()
    for v in ["x", "y", "x", "z"]:
        a.add("unique", v)
    for v in ["x", {"f": 1, "g": [1, 2]}, {"g": [1, 2], "f": 1}]:  # key order does not matter
        b.add("unique", v)
    assert aggregate_of("unique", [a])[0] == pytest.approx(3 / 4)
    assert aggregate_of("unique", [a, b]) == (pytest.approx(5 / 7), 7)
    restored = [Acc.from_json(orjson.loads(orjson.dumps(x.to_json()))) for x in (a, b)]
    assert aggregate_of("unique", restored) == aggregate_of("unique", [a, b])
    assert aggregate_of("unique", []) == (None, 0)


def test_unique_keeps_hashes_not_values() -> None:
    acc = Acc()
    acc.add("unique", "my IBAN is DE89 3704 0044 0532 0130 00")
    dumped = orjson.dumps(acc.to_json())
    assert b"IBAN" not in dumped and b"DE89" not in dumped
    (h,) = acc.values or set()
    assert h == value_hash("my IBAN is DE89 3704 0044 0532 0130 00") and 0 <= h < 2**52


@pytest.mark.parametrize("repeat_every, expected", [(0, 1.0), (2, 0.5), (4, 0.75)])
def test_unique_share_holds_at_high_volume(repeat_every: int, expected: float) -> None:
    """Past DISTINCT_CAP values the share is measured on the bucket's first events: a sweep stays
    near 1 at any volume (a capped distinct count over all events would fall)."""
    acc = Acc()
    n = 5 * DISTINCT_CAP
    for i in range(n):
        acc.add("unique", "same" if repeat_every and i % repeat_every == 0 else f"q{i}")
    share, count = aggregate_of("unique", [acc])
    assert count == n and share == pytest.approx(expected, abs=0.01)
    assert len(acc.values or ()) <= DISTINCT_CAP


def _observed(i: int, minutes: float, text: str, tenant: str = "sweeper") -> ObservedEvent:
    ts = (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
    doc: dict[str, Any] = {
        "event_id": f"e{i}",
        "timestamp": ts,
        "model": {"id": "chat", "version": "1"},
        "tenant": tenant,
        "input": {"text": text},
        "context": {"region": "EU"},
    }
    return ObservedEvent(InferenceEvent.model_validate(doc), SourceRef("ev", 0, i), doc)


def _ts004(findings: list[Any]) -> list[Any]:
    return [f for f in findings if f.rule_id == "RW-TS-004"]


def test_rw_ts_004_files_a_sweep_once_per_hour_with_its_evidence() -> None:
    engine = PolicyEngine(load_packs(), REGISTRY)
    sweep = [
        _observed(i, i * 0.05, f"Classify transaction {i}: amount {i * 7 % 1000}")
        for i in range(1000)
    ]  # 1,000 never-repeated inputs in 50 minutes
    out = _ts004(engine.evaluate([], sweep))
    assert len(out) == 1
    (f,) = out
    assert f.source_offset == 499  # the 500th input completed the evidence
    assert (f.category, f.subcategory, f.severity.value) == ("technical", "security", "high")
    assert f.evidence["distinct_share"] == 1.0 and f.evidence["inputs"] == 500
    assert f.evidence["distinct_inputs_est"] == 500 and f.evidence["aggregate"] == "unique"
    assert f.regulation_refs == ["EU AI Act Art. 15(5)"]
    assert "Classify" not in repr(f.evidence)
    # the next UTC hour is a new window
    more = [_observed(2000 + i, 60 + i * 0.05, f"Probe {i}") for i in range(600)]
    assert len(_ts004(engine.evaluate([], more))) == 1


def test_rw_ts_004_ignores_organic_repeats_and_small_volumes() -> None:
    engine = PolicyEngine(load_packs(), REGISTRY)
    faq = ["How do I reset my password?", "Where is my order?", "hi", "Can I get a refund?"]
    organic = [
        _observed(i, i * 0.05, f"Order A{i} is late" if i % 2 else faq[i % 4], tenant="acme")
        for i in range(1000)
    ]  # half of them repeats
    few = [_observed(5000 + i, i * 0.1, f"Probe {i}", tenant="small") for i in range(450)]
    assert _ts004(engine.evaluate([], organic + few)) == []
