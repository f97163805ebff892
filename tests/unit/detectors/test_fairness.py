"""Fairness detector: fairlearn's values on COMPAS, label joins in any order, windows, state."""

from __future__ import annotations

import csv
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)

from core.datasets import shared_data
from core.model_registry import ConfigError, Registry, load_registry
from core.signals import Signal
from core.taxonomy import Category, Subcategory
from detectors.fairness import FairnessDetector
from policies.engine import PolicyEngine
from policies.pack import load_packs
from riskwatch.simulator import demo_traffic
from streams.batch import RawMessage
from streams.codec import EventPolicy
from streams.pipeline import decode_batch
from tests.unit.paths import REPO

COMPAS = shared_data() / "fairness" / "compas-scores-two-years.csv"
T0 = datetime(2013, 1, 1, tzinfo=UTC)
TOL = 1e-9
EMPTY = Registry()
#: settings under which every window gives a verdict and a signal, so values can be compared
ALWAYS = {
    "min_group_size": 1,
    "min_outcome_count": 1,
    "confirm_windows": 1,
    "parity_ratio_threshold": 1.0,
    "parity_difference_threshold": 0.0,
    "equalized_odds_threshold": 0.0,
}


# --------------------------------------------------------------------------- stream helpers


def _ts(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def event_doc(
    i: int, prediction: Any, protected: dict[str, Any], model: str = "compas", **extra: Any
) -> dict[str, Any]:
    return {
        "event_id": f"{model}-{i}",
        "timestamp": _ts(i),
        "model": {"id": model, "version": "1"},
        "output": {"prediction": prediction},
        "subject": {"protected": protected},
    } | extra


def feedback_doc(
    i: int, label: Any, model: str = "compas", at: float | None = None
) -> dict[str, Any]:
    return {
        "schema": "riskwatch.feedback/v1",
        "event_id": f"{model}-{i}",
        "timestamp": _ts(i + 3600 if at is None else at),
        "model": {"id": model},
        "label": label,
    }


def run(
    det: FairnessDetector, docs: list[dict[str, Any]], batch: int = 100, start: int = 0
) -> list[Signal]:
    """Feed documents from ``start`` as Kafka messages (offset = position) through the real
    codec."""
    raw = [RawMessage("rw.events", 0, k, None, orjson.dumps(d)) for k, d in enumerate(docs)]
    signals: list[Signal] = []
    for k in range(start, len(raw), batch):
        decoded = decode_batch(raw[k : k + batch], EventPolicy())
        assert not decoded.rejected, decoded.rejected
        det.observe_feedback(decoded.feedback)
        signals += det.process(decoded.events)
    return signals


def by(signals: list[Signal], kind: str, attr: str) -> list[Signal]:
    return [s for s in signals if s.kind == kind and s.evidence["attribute"] == attr]


# --------------------------------------------------------------------------- COMPAS replay


@pytest.fixture(scope="module")
def compas() -> list[dict[str, Any]]:
    assert COMPAS.is_file(), (
        f"{COMPAS} is missing: put the shared data beside the repo "
        "(../shared/data) or set RISKWATCH_SHARED_DATA"
    )
    with COMPAS.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        col = {
            name: header.index(name)
            for name in ("decile_score", "score_text", "race", "sex", "two_year_recid")
        }
        rows = [
            {
                "prediction": int(int(r[col["decile_score"]]) > 4),
                "race": r[col["race"]],
                "sex": r[col["sex"]],
                "label": int(r[col["two_year_recid"]]),
                "score_text": r[col["score_text"]],
            }
            for r in reader
        ]
    assert len(rows) == 7214
    # the two definitions of a "high risk" prediction in the brief agree
    assert all(r["prediction"] == (r["score_text"] != "Low") for r in rows)
    return rows


def compas_stream(
    rows: list[dict[str, Any]], seed: int = 4
) -> tuple[list[dict[str, Any]], list[int]]:
    """Events in order; each label 15% of the time up to 300 messages before its event, 70%
    up to 2,000 after it, 15% after the last event (days later). Returns the documents and, per
    document, the row index (events) or -1 - row index (labels)."""
    rng = random.Random(seed)
    slots: dict[float, list[tuple[int, dict[str, Any]]]] = {}
    n = len(rows)
    for i, r in enumerate(rows):
        slots.setdefault(float(i), []).append(
            (i, event_doc(i, r["prediction"], {"race": r["race"], "sex": r["sex"]}))
        )
        roll = rng.random()
        if roll < 0.15:
            pos = rng.uniform(max(0, i - 300), i) - 0.5
        elif roll < 0.85:
            pos = rng.uniform(i, min(n, i + 2000)) + 0.5
        else:
            pos = n + rng.uniform(0, n)
        at = i + (3 * 86400 if pos > n else 3600)
        slots.setdefault(pos, []).append((-1 - i, feedback_doc(i, r["label"], at=at)))
    ordered = [item for key in sorted(slots) for item in slots[key]]
    return [d for _, d in ordered], [k for k, _ in ordered]


def fairlearn_values(rows: list[dict[str, Any]], attr: str) -> dict[str, Any]:
    y_true = np.array([r["label"] for r in rows])
    y_pred = np.array([r["prediction"] for r in rows])
    sf = np.array([r[attr] for r in rows])
    frame = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "tpr": true_positive_rate,
            "fpr": false_positive_rate,
        },
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=sf,
    )
    return {
        "dp_difference": demographic_parity_difference(y_true, y_pred, sensitive_features=sf),
        "dp_ratio": demographic_parity_ratio(y_true, y_pred, sensitive_features=sf),
        "eo_difference": equalized_odds_difference(y_true, y_pred, sensitive_features=sf),
        "eop_difference": equal_opportunity_difference(y_true, y_pred, sensitive_features=sf),
        "by_group": frame.by_group.to_dict(orient="index"),
    }


def assert_parity_matches(signal: Signal, expected: dict[str, Any]) -> float:
    ev = signal.evidence
    worst = max(
        abs(ev["demographic_parity_difference"] - expected["dp_difference"]),
        abs(ev["demographic_parity_ratio"] - expected["dp_ratio"]),
    )
    for group, values in expected["by_group"].items():
        worst = max(worst, abs(ev["groups"][group]["selection_rate"] - values["selection_rate"]))
    assert worst <= TOL
    return worst


def assert_odds_match(signal: Signal, expected: dict[str, Any]) -> float:
    ev = signal.evidence
    worst = max(
        abs(ev["equalized_odds_difference"] - expected["eo_difference"]),
        abs(ev["equal_opportunity_difference"] - expected["eop_difference"]),
    )
    for group, values in expected["by_group"].items():
        got = ev["groups"][group]
        worst = max(
            worst,
            abs(got["tpr"] - values["tpr"]),
            abs(got["fpr"] - values["fpr"]),
            abs(got["selection_rate"] - values["selection_rate"]),
        )
    assert worst <= TOL
    return worst


@pytest.mark.parametrize("attr", ["race", "sex"])
def test_whole_compas_window_equals_fairlearn(compas: list[dict[str, Any]], attr: str) -> None:
    docs, _ = compas_stream(compas)
    det = FairnessDetector(EMPTY, window_size=len(compas), step=len(compas), **ALWAYS)
    signals = run(det, docs, batch=250)
    expected = fairlearn_values(compas, attr)
    (parity,) = by(signals, "demographic_parity", attr)
    (odds,) = by(signals, "equalized_odds", attr)
    assert_parity_matches(parity, expected)
    assert_odds_match(odds, expected)
    assert parity.evidence["window"]["events"] == odds.evidence["window"]["events"] == len(compas)
    assert odds.evidence["pending_labels"] == odds.evidence["pending_predictions"] == 0
    assert det.state_dict()["dropped"] == {
        "expired_predictions": 0,
        "expired_labels": 0,
        "model_mismatch": 0,
    }


def _join_order(index: list[int], batch: int) -> list[int]:
    """Row indices in the order the detector joins them (see FairnessDetector.process: within a
    batch, events first, then labels)."""
    where: dict[int, int] = {}
    for pos, k in enumerate(index):
        where[k] = pos
    keys = []
    for row in range(len([k for k in index if k >= 0])):
        ev, lab = where[row], where[-1 - row]
        if lab // batch < ev // batch:
            keys.append(((ev // batch, 0, ev), row))
        else:
            keys.append(((lab // batch, 1, lab), row))
    return [row for _, row in sorted(keys)]


def test_sliding_windows_equal_fairlearn_on_the_same_rows(compas: list[dict[str, Any]]) -> None:
    size, step, batch, minimum = 2000, 1000, 100, 50
    docs, index = compas_stream(compas, seed=9)
    cfg = ALWAYS | {"min_group_size": minimum, "min_outcome_count": 5}
    det = FairnessDetector(EMPTY, window_size=size, step=step, **cfg)
    signals = run(det, docs, batch=batch)
    joined = _join_order(index, batch)
    worst = 0.0
    parity = by(signals, "demographic_parity", "race")
    odds = by(signals, "equalized_odds", "race")
    assert len(parity) == len(odds) == (len(compas) - size) // step + 1
    for w, signal in enumerate(parity):
        rows = compas[w * step : w * step + size]
        compared = signal.evidence["groups"]
        kept = [r for r in rows if compared[r["race"]]["compared"]]
        assert {r["race"] for r in rows} - {r["race"] for r in kept}, "some group is too small"
        for g in compared.values():
            assert g["compared"] == (g["n"] >= minimum)
            if not g["compared"]:
                assert "min_group_size=50" in g["not_compared_because"]
        worst = max(worst, assert_parity_matches(signal, fairlearn_values(kept, "race")))
        assert signal.evidence["window"]["first_offset"] == docs.index(
            next(d for d in docs if d.get("event_id") == f"compas-{w * step}")
        )
    for w, signal in enumerate(odds):
        rows = [compas[i] for i in joined[w * step : w * step + size]]
        groups = signal.evidence["groups"]
        kept = [r for r in rows if groups[r["race"]]["compared"]]
        worst = max(worst, assert_odds_match(signal, fairlearn_values(kept, "race")))
    assert worst <= TOL


def test_state_round_trip_mid_stream_loses_no_pending_label(compas: list[dict[str, Any]]) -> None:
    docs, _ = compas_stream(compas[:3000], seed=2)
    cfg = ALWAYS | {"min_group_size": 20, "min_outcome_count": 5}
    straight = FairnessDetector(EMPTY, window_size=800, step=400, **cfg)
    expected = run(straight, docs)
    first = FairnessDetector(EMPTY, window_size=800, step=400, **cfg)
    signals = run(first, docs[:2500])
    state = json.loads(json.dumps(first.state_dict(), allow_nan=False))
    assert state["pending_labels"] and state["pending_predictions"]
    restarted = FairnessDetector(EMPTY, window_size=800, step=400, **cfg)
    restarted.load_state(state)
    assert restarted.state_dict() == first.state_dict()
    signals += run(restarted, docs, start=2500)
    assert signals == expected
    assert restarted.state_dict() == straight.state_dict()


def test_saved_entries_restore_mid_stream_and_each_batch_writes_only_its_changes(
    compas: list[dict[str, Any]],
) -> None:
    """What the worker saves (saved_state: the state without the pending lists, plus the pending
    entries each batch changed), applied like the store applies it, restores the detector."""
    docs, _ = compas_stream(compas[:3000], seed=2)
    cfg = ALWAYS | {"min_group_size": 20, "min_outcome_count": 5}
    straight = FairnessDetector(EMPTY, window_size=800, step=400, **cfg)
    expected = run(straight, docs)
    first = FairnessDetector(EMPTY, window_size=800, step=400, **cfg)
    raw = [RawMessage("rw.events", 0, k, None, orjson.dumps(d)) for k, d in enumerate(docs)]
    table: dict[str, Any] = {}  # the store's entries of this detector
    saved: dict[str, Any] = {}
    signals: list[Signal] = []
    most_pending = 0
    for k in range(0, 2500, 100):
        decoded = decode_batch(raw[k : k + 100], EventPolicy())
        first.observe_feedback(decoded.feedback)
        signals += first.process(decoded.events)
        state, entries = first.saved_state()
        assert entries is not None and "pending_predictions" not in state
        # a batch's writes are bounded by its own messages, not by what is pending
        assert len(entries.upserts) + len(entries.deletes) <= 2 * 100
        saved = json.loads(json.dumps(state, allow_nan=False))
        for key in entries.deletes:
            table.pop(key, None)
        table.update(json.loads(json.dumps(entries.upserts, allow_nan=False)))
        most_pending = max(most_pending, len(table))
    assert most_pending > 200, "entries pile up over batches: the test saves more than one"
    restarted = FairnessDetector(EMPTY, window_size=800, step=400, **cfg)
    restarted.restore_saved(saved, dict(reversed(table.items())))  # a store keeps no order
    assert restarted.state_dict() == first.state_dict()
    signals += run(restarted, docs, start=2500)
    assert signals == expected
    assert restarted.state_dict() == straight.state_dict()


def test_the_first_save_writes_every_pending_entry(compas: list[dict[str, Any]]) -> None:
    """A detector run without saving (not restored from entries) records no changes as it goes;
    its first save writes what is pending, and later saves only what changed since."""
    docs, _ = compas_stream(compas[:3000], seed=2)
    det = FairnessDetector(EMPTY, window_size=800, step=400, **ALWAYS)
    run(det, docs[:2500])
    whole = det.state_dict()
    _, first = det.saved_state()
    assert first is not None and not first.deletes
    assert set(first.upserts) == {"p:" + p[0] for p in whole["pending_predictions"]} | {
        "l:" + p[0] for p in whole["pending_labels"]
    }
    assert len(first.upserts) > 200
    run(det, docs[:2600], start=2500)
    _, later = det.saved_state()
    assert later is not None and 0 < len(later.upserts) + len(later.deletes) <= 200


def test_a_state_saved_whole_is_restored_and_its_lists_become_entries(
    compas: list[dict[str, Any]],
) -> None:
    docs, _ = compas_stream(compas[:3000], seed=2)
    old = FairnessDetector(EMPTY, window_size=800, step=400, **ALWAYS)
    run(old, docs[:2500])
    whole = json.loads(json.dumps(old.state_dict()))
    assert whole["pending_predictions"] and whole["pending_labels"]
    for entry in whole["pending_predictions"] + whole["pending_labels"]:
        entry.pop()  # as saved before pending entries were numbered
    del whole["arrivals"]
    restored = FairnessDetector(EMPTY, window_size=800, step=400, **ALWAYS)
    restored.restore_saved(whole, {})
    now, before = restored.state_dict(), old.state_dict()
    for state in (now, before):  # numbered afresh, in the same order
        for entry in state["pending_predictions"] + state["pending_labels"]:
            entry.pop()
        del state["arrivals"]
    assert now == before
    _, entries = restored.saved_state()
    assert entries is not None and not entries.deletes
    assert set(entries.upserts) == {"p:" + p[0] for p in whole["pending_predictions"]} | {
        "l:" + p[0] for p in whole["pending_labels"]
    }


# --------------------------------------------------------------------------- joins, bounds


def _labelled_pair(det: FairnessDetector) -> list[list[Any]]:
    return [row for m in det._models.values() for row in m.labelled]


def test_label_before_and_after_its_event_and_in_the_same_batch() -> None:
    det = FairnessDetector(EMPTY, **ALWAYS)
    docs = [
        feedback_doc(0, 1),
        event_doc(0, 1, {"sex": "F"}),  # label first
        event_doc(1, 0, {"sex": "M"}),
        feedback_doc(1, 0),
    ]  # label after, same batch
    run(det, docs, batch=2)
    run(det, [event_doc(2, 1, {"sex": "F"})])
    run(det, [feedback_doc(2, 0, at=10 * 3600)])  # hours later
    assert [(r[0], r[1], r[2]) for r in _labelled_pair(det)] == [
        ({"sex": "F"}, 1, 1),
        ({"sex": "M"}, 0, 0),
        ({"sex": "F"}, 1, 0),
    ]
    state = det.state_dict()
    assert state["pending_labels"] == [] and state["pending_predictions"] == []


def test_a_label_naming_another_model_is_not_joined() -> None:
    det = FairnessDetector(EMPTY, **ALWAYS)
    run(
        det,
        [
            event_doc(0, 1, {"sex": "F"}),
            feedback_doc(0, 1, model="other") | {"event_id": "compas-0"},
        ],
    )
    assert _labelled_pair(det) == []
    assert det.state_dict()["dropped"]["model_mismatch"] == 1


def test_pending_entries_expire_by_event_time_and_by_count() -> None:
    det = FairnessDetector(EMPTY, label_ttl_s=100, max_pending=3, **ALWAYS)
    run(det, [feedback_doc(90, 1, at=0)])  # waits at t=0
    run(det, [event_doc(i, 1, {"sex": "F"}) for i in range(5)])  # 5 waiting, cap 3
    state = det.state_dict()
    assert [p[0] for p in state["pending_predictions"]] == ["compas-2", "compas-3", "compas-4"]
    assert state["dropped"]["expired_predictions"] == 2
    run(det, [event_doc(150, 0, {"sex": "M"})])  # clock 150: label old
    state = det.state_dict()
    assert state["pending_labels"] == [] and state["dropped"]["expired_labels"] == 1
    assert [p[0] for p in state["pending_predictions"]] == ["compas-150"]  # 2..4 older than 50


def test_failed_calls_and_calls_without_prediction_or_group_are_not_counted() -> None:
    det = FairnessDetector(EMPTY, window_size=2, step=1, **ALWAYS)
    docs = [
        event_doc(0, 1, {"sex": "F"}, usage={"error": "timeout"}),
        event_doc(1, None, {"sex": "F"}),
        event_doc(2, [1], {"sex": "F"}),
        event_doc(3, 1, {}),
        event_doc(4, 1, {"sex": None}),
        event_doc(5, 1, {"sex": "F"}),
        event_doc(6, 0, {"sex": "M"}),
    ]
    signals = run(det, docs)
    assert det._models["compas"].seen == 2
    (s,) = signals
    assert s.evidence["groups"]["F"]["n"] == 1 and s.evidence["window"]["first_offset"] == 5


def test_registered_model_groups_only_by_its_protected_attributes() -> None:
    registry = Registry.model_validate(
        {"models": {"compas": {"owner": "o", "protected_attributes": ["sex"]}}}
    )
    det = FairnessDetector(registry, window_size=2, step=2, **ALWAYS)
    signals = run(
        det,
        [event_doc(0, 1, {"sex": "F", "race": "A"}), event_doc(1, 0, {"sex": "M", "race": "B"})],
    )
    assert [s.evidence["attribute"] for s in signals] == ["sex"]


# --------------------------------------------------------------------------- verdicts


def _groups_stream(rates: dict[str, tuple[int, int]], start: int = 0) -> list[dict[str, Any]]:
    """Per group (selected, n) decisions, interleaved."""
    docs, i = [], start
    pools = {g: [1] * sel + [0] * (n - sel) for g, (sel, n) in rates.items()}
    while any(pools.values()):
        for g, pool in pools.items():
            if pool:
                docs.append(event_doc(i, pool.pop(), {"sex": g}))
                i += 1
    return docs


def test_four_fifths_rule_and_small_groups() -> None:
    det = FairnessDetector(EMPTY, window_size=229, step=229, confirm_windows=1)
    # F 30/100 = 0.3, M 50/100 = 0.5: ratio 0.6 < 0.8, difference 0.2 > 0.1; X (29) is too small
    (s,) = run(det, _groups_stream({"F": (30, 100), "M": (50, 100), "X": (0, 29)}))
    ev = s.evidence
    assert s.kind == "demographic_parity" and s.model_id == "compas" and s.event_id is None
    assert ev["demographic_parity_ratio"] == pytest.approx(0.6)
    assert ev["demographic_parity_difference"] == pytest.approx(0.2)
    assert (ev["lowest_group"], ev["highest_group"], ev["threshold"]) == ("F", "M", 0.8)
    assert ev["groups"]["X"] == {
        "n": 29,
        "selected": 0,
        "selection_rate": 0.0,
        "compared": False,
        "not_compared_because": "fewer than min_group_size=30 rows",
    }
    # within the four-fifths rule: no signal
    fair = FairnessDetector(EMPTY, window_size=200, step=200, confirm_windows=1)
    assert run(fair, _groups_stream({"F": (41, 100), "M": (50, 100)})) == []


def test_no_verdict_with_fewer_than_two_groups_of_min_size() -> None:
    det = FairnessDetector(EMPTY, window_size=129, step=129, confirm_windows=1)
    assert run(det, _groups_stream({"F": (0, 100), "M": (29, 29)})) == []
    assert det._models["compas"].streaks == {"demographic_parity:sex": 0}


def test_confirm_windows_needs_consecutive_failing_windows() -> None:
    det = FairnessDetector(EMPTY, window_size=200, step=200, confirm_windows=2)
    docs = _groups_stream({"F": (30, 100), "M": (50, 100)})
    assert run(det, docs) == []
    docs2 = _groups_stream({"F": (30, 100), "M": (50, 100)}, start=200)
    (s,) = run(det, docs2)
    assert s.evidence["consecutive_windows"] == 2


def test_equalized_odds_signal_and_evidence_has_no_identifiers() -> None:
    det = FairnessDetector(
        EMPTY, window_size=200, step=200, confirm_windows=1, parity_ratio_threshold=0.01
    )
    docs = []
    for i in range(200):
        group = "F" if i % 2 else "M"
        label = int(i % 4 < 2)
        # M: always right; F: right on positives only half the time
        pred = label if group == "M" or label == 0 else int(i % 8 < 4)
        docs += [event_doc(i, pred, {"sex": group}), feedback_doc(i, label)]
    (s,) = run(det, docs)
    ev = s.evidence
    assert s.kind == "equalized_odds"
    assert ev["groups"]["M"]["tpr"] == 1.0 and ev["groups"]["F"]["tpr"] == 0.5
    assert ev["equal_opportunity_difference"] == ev["equalized_odds_difference"] == 0.5
    text = orjson.dumps(ev).decode()
    assert "compas-" not in text, "evidence must not carry event or subject ids"
    finding = PolicyEngine(load_packs(), EMPTY).evaluate([s])[0]
    assert (finding.category, finding.subcategory) == (Category.LEGAL, Subcategory.ETHICS)
    assert "EU AI Act Art. 10(2)(f)" not in finding.regulation_refs  # high-risk models only
    assert "EU Charter of Fundamental Rights Art. 21" in finding.regulation_refs


def test_positive_label_per_model() -> None:
    det = FairnessDetector(
        EMPTY, window_size=200, step=200, confirm_windows=1, positive_labels={"hr": "advance"}
    )
    docs = [
        event_doc(
            i,
            "advance" if (i % 2 == 0 or i % 5 == 0) else "reject",
            {"sex": "MF"[i % 2]},
            model="hr",
        )
        for i in range(200)
    ]
    (s,) = run(det, docs)
    assert s.evidence["positive_label"] == "advance"
    assert s.evidence["groups"]["M"]["selection_rate"] == 1.0


# --------------------------------------------------------------------------- config, demo


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("window_size", 0),
        ("step", 1.5),
        ("min_group_size", True),
        ("parity_ratio_threshold", 0),
        ("parity_ratio_threshold", 1.2),
        ("equalized_odds_threshold", -0.1),
        ("label_ttl_s", 0),
        ("positive_label", None),
        ("positive_label", [1]),
        ("positive_labels", {"m": {"x": 1}}),
        ("confirm_windows", 0),
        ("max_pending", -1),
        ("parity_difference_threshold", 1),
    ],
)
def test_invalid_settings_are_config_errors_naming_them(setting: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=setting):
        FairnessDetector(EMPTY, **{setting: value})


def test_unknown_setting_is_rejected() -> None:
    registry = Registry.model_validate({"detectors": {"fairness": {"windw_size": 10}}})
    with pytest.raises(ConfigError, match="windw_size"):
        FairnessDetector(registry)


def test_shipped_config_is_the_default() -> None:
    registry = load_registry(REPO / "riskwatch.yaml")
    assert FairnessDetector(registry).cfg == FairnessDetector(EMPTY).cfg | {
        "positive_labels": {"fraud-detection": "fraud", "resume-screener": "advance"}
    }


def test_demo_traffic_raises_only_the_injected_bias() -> None:
    registry = load_registry(REPO / "riskwatch.yaml")
    traffic = demo_traffic(
        8000,
        registry=registry,
        seed=3,
        run_id="d",
        feedback_fraction=0.8,
        start=datetime(2026, 11, 28, 9, tzinfo=UTC),
    )
    assert traffic.feedback > 2000
    det = FairnessDetector(registry)
    raw = [RawMessage("t", 0, k, None, m.value) for k, m in enumerate(traffic.messages)]
    signals: list[Signal] = []
    for k in range(0, len(raw), 500):
        decoded = decode_batch(raw[k : k + 500], EventPolicy())
        det.observe_feedback(decoded.feedback)
        signals += det.process(decoded.events)
    found = {(s.model_id, s.kind, s.evidence["attribute"]) for s in signals}
    assert found == {
        ("credit-scoring", "demographic_parity", "age_band"),
        ("credit-scoring", "equalized_odds", "age_band"),
    }
    assert all(
        s.evidence["lowest_group"] == "18-29" for s in signals if s.kind == "demographic_parity"
    )
