"""The demo traffic simulator: valid events decode, malformed ones dead-letter with their kind."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime

import orjson
import pytest

from core.model_registry import Registry, load_registry
from riskwatch.simulator import DemoTraffic, demo_traffic, simulate_events
from streams.codec import DeadLetterReason, InvalidMessage, decode_event
from tests.unit.paths import REPO

ROOT = REPO
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PII = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+|\bDE\d{2}(?: \d{4}){4} \d{2}\b|\+\d{1,2} \d{3}")


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(ROOT / "riskwatch.yaml")


@pytest.fixture(scope="module")
def traffic(registry: Registry) -> DemoTraffic:
    return demo_traffic(500, registry=registry, start=START)


def test_valid_and_duplicate_messages_decode(traffic: DemoTraffic) -> None:
    for message in traffic.messages:
        if message.kind in ("valid", "duplicate"):
            event = decode_event(message.value)
            assert message.key == event.model.id.encode()


def test_malformed_messages_dead_letter_with_their_kind(traffic: DemoTraffic) -> None:
    malformed = [m for m in traffic.messages if m.kind not in ("valid", "duplicate")]
    assert len(malformed) == sum(traffic.malformed.values())
    for message in malformed:
        with pytest.raises(InvalidMessage) as caught:
            decode_event(message.value)
        assert caught.value.reason == message.kind


def test_every_reason_code_occurs(traffic: DemoTraffic) -> None:
    kinds = {m.kind for m in traffic.messages}
    assert set(DeadLetterReason.ALL) <= kinds
    assert set(traffic.malformed) == set(DeadLetterReason.ALL)


def test_valid_event_ids_are_unique_and_match_the_valid_messages(traffic: DemoTraffic) -> None:
    decoded = [decode_event(m.value).event_id for m in traffic.messages if m.kind == "valid"]
    assert decoded == traffic.valid_event_ids
    assert len(set(decoded)) == len(decoded) == 500


def test_duplicates_come_after_their_originals(traffic: DemoTraffic) -> None:
    seen: set[bytes] = set()
    duplicates = 0
    for message in traffic.messages:
        if message.kind == "valid":
            seen.add(message.value)
        elif message.kind == "duplicate":
            assert message.value in seen
            duplicates += 1
    assert duplicates == traffic.duplicates == 10


def test_same_seed_same_bytes_other_seed_other_bytes(registry: Registry) -> None:
    def values(seed: int) -> list[bytes]:
        traffic = demo_traffic(300, registry=registry, seed=seed, start=START)
        return [m.value for m in traffic.messages]

    assert values(7) == values(7)
    assert values(7) != values(8)
    first = simulate_events(200, registry=registry, seed=3, start=START)
    assert orjson.dumps(first) == orjson.dumps(
        simulate_events(200, registry=registry, seed=3, start=START)
    )


def test_event_ids_and_timestamps(registry: Registry) -> None:
    events = simulate_events(100, registry=registry, run_id="r1", start=START)
    assert [e["event_id"] for e in events] == [f"r1-{i:07d}" for i in range(100)]
    stamps = [e["timestamp"] for e in events]
    assert stamps[0] == "2026-03-01T12:00:00.000Z"
    assert all(s.endswith("Z") for s in stamps)
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


def test_default_start_is_recent(registry: Registry) -> None:
    events = simulate_events(10, registry=registry)
    first = decode_event(orjson.dumps(events[0])).timestamp
    assert abs((datetime.now(UTC) - first).total_seconds()) < 60


def test_credit_scoring_slo_breach_share_is_realistic(registry: Registry) -> None:
    events = simulate_events(6000, registry=registry, start=START, with_text=False)
    credit = [e for e in events if e["model"]["id"] == "credit-scoring"]
    slo = registry.models["credit-scoring"].latency_slo_ms
    breaches = sum(e["usage"]["latency_ms"] > slo for e in credit)
    errors = [e for e in credit if e["usage"].get("error")]
    assert len(credit) > 500
    assert 0.02 <= breaches / len(credit) <= 0.10
    assert 0.002 <= len(errors) / len(credit) <= 0.04
    assert all("output" not in e for e in errors)
    scored = [e["output"]["score"] for e in credit if "output" in e]
    assert all(0.0 <= s <= 1.0 for s in scored)
    assert {"income", "loan_amount", "debt_ratio"} <= set(credit[0]["input"]["features"])


def test_chat_traffic_dominates_and_tabular_models_have_features(registry: Registry) -> None:
    events = simulate_events(2000, registry=registry, start=START)
    by_model: dict[str, int] = {}
    for event in events:
        by_model[event["model"]["id"]] = by_model.get(event["model"]["id"], 0) + 1
    assert set(by_model) == set(registry.models)
    assert max(by_model, key=by_model.__getitem__) == "support-assistant"
    resume = next(e for e in events if e["model"]["id"] == "resume-screener")
    assert set(resume["subject"]["protected"]) == {"sex", "age_band", "ethnicity"}


def test_without_text_there_are_no_text_fields(registry: Registry) -> None:
    events = simulate_events(1000, registry=registry, start=START, with_text=False)
    for event in events:
        assert "text" not in event.get("input", {})
        assert "text" not in (event.get("output") or {})
    chat = [e for e in events if e["model"]["id"] == "support-assistant" and "output" in e]
    assert chat and all(e["usage"]["output_tokens"] > 0 for e in chat)


def test_chat_events_carry_pii_injections_and_token_costs(registry: Registry) -> None:
    events = simulate_events(3000, registry=registry, start=START)
    chat = [e for e in events if e["model"]["id"] == "support-assistant"]
    texts = [e["input"]["text"] for e in chat]
    assert all(texts)
    assert sum(bool(PII.search(t)) for t in texts) >= 10
    assert sum("ignore" in t.lower() and "instructions" in t.lower() for t in texts) >= 5
    answered = [e for e in chat if "output" in e]
    for event in answered[:50]:
        usage = event["usage"]
        assert usage["input_tokens"] == pytest.approx(len(event["input"]["text"]) / 4, abs=2)
        assert usage["cost_usd"] > 0


def test_extra_fields_are_kept(registry: Registry) -> None:
    events = simulate_events(3000, registry=registry, start=START, with_text=False)
    extras = [e for e in events if "trace_id" in e]
    assert extras
    assert decode_event(orjson.dumps(extras[0])).extra_fields == {"trace_id": extras[0]["trace_id"]}


def test_empty_registry_and_unknown_models_still_get_traffic() -> None:
    events = simulate_events(50, registry=Registry(), start=START)
    assert len(events) == 50 and len({e["model"]["id"] for e in events}) == 1
    other = Registry.model_validate({"models": {"churn-predictor": {"owner": "x@example.com"}}})
    for event in simulate_events(50, registry=other, start=START):
        decode_event(orjson.dumps(event))
        assert event["model"]["id"] == "churn-predictor"


def test_small_runs_and_fractions(registry: Registry) -> None:
    assert demo_traffic(0, registry=registry, start=START).messages == []
    clean = demo_traffic(
        200, registry=registry, start=START, malformed_fraction=0, duplicate_fraction=0
    )
    assert [m.kind for m in clean.messages] == ["valid"] * 200
    assert clean.malformed == {} and clean.duplicates == 0
    small = demo_traffic(50, registry=registry, start=START, malformed_fraction=0.1)
    assert sum(small.malformed.values()) == 5 and small.duplicates == 1


def test_too_large_follows_max_event_bytes(registry: Registry) -> None:
    traffic = demo_traffic(200, registry=registry, start=START, max_event_bytes=64 * 1024)
    big = [m for m in traffic.messages if m.kind == DeadLetterReason.TOO_LARGE]
    assert big and all(64 * 1024 < len(m.value) < 512 * 1024 for m in big)


def test_chat_traffic_carries_every_text_risk_the_detector_files(registry: Registry) -> None:
    """The demo shows the text_risk detector: injections the regexes miss, abusive inputs and
    replies, and replies leaking the canary riskwatch.yaml plants (RW-TS-005/006, RW-LE-004/005)."""
    from core.events import InferenceEvent
    from core.signals import ObservedEvent
    from detectors.text_risk.detector import TextRiskDetector
    from policies.patterns import INJECTION_PATTERNS, _scan

    assert registry.detector_config("text_risk")["canaries"]
    events = simulate_events(6000, registry=registry, start=START)
    chat = [e for e in events if e["model"]["id"] == "support-assistant" and "output" in e]
    observed = [ObservedEvent(event=InferenceEvent.model_validate(e), source=None) for e in chat]
    signals = TextRiskDetector(registry).process(observed)
    kinds = Counter(s.kind for s in signals)
    assert kinds["system_prompt_leak"] >= 3
    assert kinds["abusive_input"] >= 5 and kinds["abusive_language"] >= 3
    by_id = {e["event_id"]: e for e in chat}
    learned_only = [
        s
        for s in signals
        if s.kind == "prompt_injection"
        and not _scan(by_id[s.event_id]["input"]["text"], INJECTION_PATTERNS)
    ]
    assert len(learned_only) >= 3
    assert sum(kinds.values()) < 0.1 * len(chat)  # a small share of the traffic
