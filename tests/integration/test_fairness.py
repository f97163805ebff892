"""Fairness monitoring end to end: inference and feedback events on one topic of a real broker,
a worker restarted mid-stream (labels and decisions waiting to be joined are in the saved state),
findings in the audit store under legal / ethics, labels in the feedback table.

Two models with the same traffic shape: ``lender`` selects women half as often as men and errs
more on them; ``fairlend`` treats both alike and must raise nothing.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import yaml
from sqlalchemy import select

from audit.models import (
    DetectorStateEntryRecord,
    DetectorStateRecord,
    FeedbackRecord,
    FindingRecord,
)
from tests.integration.conftest import make_pipeline
from tests.integration.harness import Pipeline, wait_for

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
N = 800  # decisions per model
REGISTRY: dict[str, Any] = {
    "version": 1,
    "detectors": {
        "anomaly": {"reference_events": 400},
        "drift": {"reference_size": 400, "window_size": 300, "step": 150},
        "fairness": {
            "window_size": 200,
            "step": 100,
            "min_group_size": 30,
            "min_outcome_count": 20,
            "confirm_windows": 2,
        },
    },
    "models": {
        m: {
            "owner": "t@example.com",
            "risk_tier": "high",
            "region": "EU",
            "latency_slo_ms": 10000,
            "error_rate_slo": 0.5,
            "protected_attributes": ["sex"],
        }
        for m in ("lender", "fairlend")
    },
}


def _ts(seconds: float) -> str:
    at = T0 + timedelta(seconds=seconds)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def stream(run: str, model: str, biased: bool, seed: int) -> tuple[list[tuple[bytes, bytes]], int]:
    """The model's events and labels in send order; 20% of labels come before their event.
    Returns the messages and the number of labels."""
    rng = random.Random(seed)
    slots: dict[float, list[bytes]] = {}
    for i in range(N):
        sex = rng.choice("FM")
        label = int(rng.random() < 0.5)
        tpr, fpr = (0.45, 0.05) if biased and sex == "F" else (0.9, 0.1)
        prediction = int(rng.random() < (tpr if label else fpr))
        event_id = f"{run}-{model}-{i:04d}"
        slots.setdefault(float(i), []).append(
            orjson.dumps(
                {
                    "event_id": event_id,
                    "timestamp": _ts(i),
                    "model": {"id": model, "version": "1"},
                    "input": {"features": {"x": round(rng.gauss(0, 1), 4)}},
                    "output": {"prediction": prediction},
                    "usage": {"latency_ms": 20.0},
                    "subject": {"protected": {"sex": sex}},
                }
            )
        )
        at = rng.uniform(max(0, i - 40), i) - 0.5 if rng.random() < 0.2 else rng.uniform(i, i + 300)
        slots.setdefault(at, []).append(
            orjson.dumps(
                {
                    "schema": "riskwatch.feedback/v1",
                    "event_id": event_id,
                    "timestamp": _ts(i + 7200),
                    "model": {"id": model},
                    "label": label,
                }
            )
        )
    return [(model.encode(), v) for key in sorted(slots) for v in slots[key]], N


@pytest.fixture(scope="module")
def pipe(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    workdir = tmp_path_factory.mktemp("fairness")
    pipe = make_pipeline(kafka_bootstrap, workdir)
    pipe.config = workdir / "riskwatch.yaml"
    pipe.config.write_text(yaml.safe_dump(REGISTRY))
    biased, labels_a = stream(pipe.tag, "lender", True, 31)
    fair, labels_b = stream(pipe.tag, "fairlend", False, 32)
    half_a, half_b = len(biased) // 2, len(fair) // 2
    try:
        pipe.produce(biased[:half_a] + fair[:half_b])
        pipe.start_worker()
        first = half_a + half_b
        wait_for(
            lambda: pipe.count(FeedbackRecord) + pipe.counts()[0] >= first,
            180,
            "the first half to be stored",
        )
        pipe.stop_workers()  # pending labels and decisions are in the saved detector state
        pipe.produce(biased[half_a:] + fair[half_b:])
        pipe.start_worker()
        wait_for(
            lambda: pipe.counts()[0] >= 2 * N and pipe.count(FeedbackRecord) >= labels_a + labels_b,
            180,
            "the second half to be stored",
        )
        wait_for(lambda: len(_fairness(pipe)) >= 2, 60, "the fairness findings")
    except AssertionError:
        print(pipe.worker_log())
        raise
    yield pipe
    pipe.stop_workers()


def _fairness(pipe: Pipeline) -> list[dict[str, Any]]:
    with pipe.store.engine.connect() as conn:
        rows = conn.execute(
            select(FindingRecord.__table__).where(FindingRecord.__table__.c.detector == "fairness")
        ).mappings()
        return [dict(r) for r in rows]


def test_every_label_is_stored_once_and_nothing_is_dead_lettered(pipe: Pipeline) -> None:
    assert pipe.count(FeedbackRecord) == 2 * N
    assert pipe.counts()[2] == 0


def test_the_biased_model_is_found_and_the_fair_one_is_not(pipe: Pipeline) -> None:
    findings = _fairness(pipe)
    assert {f["model_id"] for f in findings} == {"lender"}, [f["title"] for f in findings]
    rules = {f["rule_id"] for f in findings}
    assert rules == {"RW-LE-001", "RW-LE-002"}
    for f in findings:
        ev = f["evidence"] if isinstance(f["evidence"], dict) else orjson.loads(f["evidence"])
        assert (f["category"], f["subcategory"]) == ("legal", "ethics")
        assert f["severity"] in ("high", "critical")  # escalated: a high-risk model
        assert "EU AI Act Art. 10(2)(f)" in f["regulation_refs"]
        assert ev["attribute"] == "sex" and set(ev["groups"]) == {"F", "M"}
        assert ev["window"]["events"] == 200
        assert f["source_topic"] == pipe.events_topic and f["source_offset"] is not None
        if f["rule_id"] == "RW-LE-001":
            assert ev["lowest_group"] == "F" and ev["demographic_parity_ratio"] < 0.8
        else:
            assert ev["groups"]["F"]["tpr"] < ev["groups"]["M"]["tpr"]
            assert ev["equalized_odds_difference"] > 0.15
        assert f"{pipe.tag}-lender-" not in orjson.dumps(ev).decode(), "no event ids in evidence"


def test_labels_waiting_across_the_restart_were_joined(pipe: Pipeline) -> None:
    t = DetectorStateRecord.__table__
    with pipe.store.engine.connect() as conn:
        rows = conn.execute(select(t.c.state).where(t.c.detector == "fairness")).scalars().all()
    states = [s if isinstance(s, dict) else orjson.loads(s) for s in rows]  # one per state scope
    models = {mid: m for s in states for mid, m in s["models"].items()}
    for model in ("lender", "fairlend"):
        assert models[model]["seen"] == N
        assert models[model]["labelled_seen"] == N, "every label joined its decision"
    assert all("pending_labels" not in s for s in states), "pending entries are saved one by one"
    entries = DetectorStateEntryRecord.__table__
    with pipe.store.engine.connect() as conn:
        left = conn.execute(select(entries.c.key).where(entries.c.detector == "fairness")).all()
    assert left == [], "every waiting decision and label was joined, and its entry deleted"
