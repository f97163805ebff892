"""Seeded event streams with known injected risks, and a registry sized for quick tests."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import yaml

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)

TEST_REGISTRY: dict[str, Any] = {
    "version": 1,
    "detectors": {
        "anomaly": {
            "reference_events": 400,
            "holdout_fraction": 0.25,
            "false_alarm_rate": 0.005,
            "series_bucket_s": 60,
            "device": "auto",
        },
        "pii": {"score_threshold": 0.5, "phone_regions": ["US", "GB", "DE", "FR"]},
        "drift": {
            "reference_size": 400,
            "window_size": 300,
            "step": 150,
            "drift_share": 0.5,
        },
    },
    "models": {
        "scorer": {
            "owner": "t@example.com",
            "risk_tier": "high",
            "region": "EU",
            "latency_slo_ms": 10000,
            "error_rate_slo": 0.5,
        },
        "drifter": {
            "owner": "t@example.com",
            "risk_tier": "limited",
            "region": "EU",
            "latency_slo_ms": 10000,
            "error_rate_slo": 0.5,
        },
        "chat": {
            "owner": "t@example.com",
            "risk_tier": "limited",
            "region": "EU",
            "latency_slo_ms": 10000,
            "error_rate_slo": 0.5,
        },
    },
}

# Texts with personal data, and what must be found in them (values must never be stored).
PII_TEXTS: list[tuple[str, set[str], list[str]]] = [
    (
        "Hi, my name is Margaret Thompson and my email is margaret.thompson@example.org.",
        {"PERSON", "EMAIL_ADDRESS"},
        ["Margaret Thompson", "margaret.thompson@example.org"],
    ),
    (
        "Please call me back on +44 20 7946 0958 about my refund.",
        {"PHONE_NUMBER"},
        ["+44 20 7946 0958"],
    ),
    (
        "Refund to IBAN DE89 3704 0044 0532 0130 00 please.",
        {"IBAN_CODE"},
        ["DE89 3704 0044 0532 0130 00"],
    ),
    ("My card 4111 1111 1111 1111 was charged twice.", {"CREDIT_CARD"}, ["4111 1111 1111 1111"]),
    (
        "I was diagnosed with diabetes last year, does the plan cover insulin?",
        {"HEALTH_DATA"},
        ["diabetes"],
    ),
    # real user text: a lower-case name and a bare place, no cue word (issue 12)
    (
        "omg just saw taylor swift at the airport in nashville!!",
        {"PERSON", "LOCATION"},
        ["taylor swift", "nashville"],
    ),
]
CLEAN_TEXTS = [
    "How do I change the delivery date of order A123456?",
    "Your invoice for November is available under Billing.",
    "The Pro plan includes 500 GB of storage and priority support.",
    "Can I upgrade my subscription in the middle of the month?",
    "Thanks, the parcel arrived this morning in good condition.",
]


@dataclass
class Scenario:
    messages: list[tuple[bytes, bytes]] = field(default_factory=list)
    anomalous: set[str] = field(default_factory=set)
    with_pii: dict[str, set[str]] = field(default_factory=dict)
    pii_values: list[str] = field(default_factory=list)
    drift_onset: str = ""
    clean_scored: int = 0


def write_registry(path: Path) -> Path:
    path.write_text(yaml.safe_dump(TEST_REGISTRY))
    return path


def _event(i: int, model: str, run: str, **parts: Any) -> dict[str, Any]:
    ts = (T0 + timedelta(milliseconds=50 * i)).isoformat().replace("+00:00", "Z")
    return {
        "event_id": f"{run}-{model}-{i:05d}",
        "timestamp": ts,
        "model": {"id": model, "version": "1.0"},
        "context": {"region": "EU", "consent": True},
        **parts,
    }


def tabular(
    run: str,
    model: str = "scorer",
    n: int = 1600,
    seed: int = 21,
    anomalies: tuple[int, ...] = (),
    drift_at: int | None = None,
) -> Scenario:
    """Tabular events: x1 ~ N(0,1), x2 ~ N(5,2), plan in a/b/c; x1 = 12 at `anomalies`;
    from `drift_at` on, x2's mean moves by 3 σ."""
    rng = random.Random(seed)
    sc = Scenario()
    for i in range(n):
        x1 = 12.0 if i in anomalies else rng.gauss(0, 1)
        x2 = rng.gauss(5 + (6 if drift_at is not None and i >= drift_at else 0), 2)
        score = min(max(rng.gauss(0.5, 0.1), 0.0), 1.0)
        ev = _event(
            i,
            model,
            run,
            input={"features": {"x1": round(x1, 4), "x2": round(x2, 4), "plan": rng.choice("abc")}},
            output={"prediction": int(score > 0.5), "score": round(score, 4)},
            usage={"latency_ms": round(rng.gauss(100, 10), 2), "cost_usd": 0.001},
        )
        if i in anomalies:
            sc.anomalous.add(ev["event_id"])
        if drift_at is not None and i == drift_at:
            sc.drift_onset = ev["event_id"]
        sc.messages.append((model.encode(), orjson.dumps(ev)))
    return sc


def chat(run: str, n: int = 200, seed: int = 5) -> Scenario:
    """`chat` events: clean support texts, with the PII texts placed at known positions."""
    rng = random.Random(seed)
    sc = Scenario()
    slots = {20 + 30 * k: k for k in range(len(PII_TEXTS))}
    for i in range(n):
        if i in slots:
            text, types, values = PII_TEXTS[slots[i]]
        else:
            text, types, values = rng.choice(CLEAN_TEXTS), set(), []
        ev = _event(
            i,
            "chat",
            run,
            input={"text": text},
            output={"text": "Thanks for reaching out, we are on it."},
            usage={
                "latency_ms": round(rng.gauss(800, 50), 1),
                "input_tokens": 20,
                "output_tokens": 10,
                "cost_usd": 0.0002,
            },
        )
        if types:
            sc.with_pii[ev["event_id"]] = types
            sc.pii_values.extend(values)
        sc.messages.append((b"chat", orjson.dumps(ev)))
    return sc
