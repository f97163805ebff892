"""Drift detector: Evidently-identical verdicts, exact alarm positions, evidence, state, memory."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from core.events import InferenceEvent
from core.model_registry import ConfigError, Registry
from core.signals import ObservedEvent, SourceRef
from detectors import drift_stats as ds
from detectors.drift import DriftDetector

REGISTRY = Registry()
T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
TOPIC, PARTITION, OFFSET0 = "rw.events", 3, 10_000


def _event(
    i: int,
    features: dict[str, Any],
    model: str = "m",
    *,
    output: dict | None = None,
    usage: dict | None = None,
) -> ObservedEvent:
    ts = T0 + timedelta(milliseconds=50 * i)
    doc: dict[str, Any] = {
        "event_id": f"{model}-{i}",
        "model": {"id": model, "version": "1"},
        "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "input": {"features": features},
    }
    if output is not None:
        doc["output"] = output
    if usage is not None:
        doc["usage"] = usage
    return ObservedEvent(
        InferenceEvent.model_validate(doc), SourceRef(TOPIC, PARTITION, OFFSET0 + i)
    )


def _run(det: DriftDetector, events: list[ObservedEvent], size: int = 97) -> list:
    out = []
    for k in range(0, len(events), size):
        out += det.process(events[k : k + size])
    return out + det.flush()


# ------------------------------------------------------------------ agreement with Evidently


def _frame(rng: np.random.Generator, n: int, shift: float) -> dict[str, list[Any]]:
    return {
        "num": rng.normal(shift, 1, n).tolist(),  # K-S / Wasserstein
        "cat": [
            ("a", "b", "c")[k] for k in rng.choice(3, n, p=[0.5 - shift / 4, 0.3, 0.2 + shift / 4])
        ],
        "binary": (rng.random(n) < 0.3 + shift / 5).tolist(),  # bool: Z / Jensen-Shannon
        "small_int": rng.integers(0, 4 + int(shift > 0), n).tolist(),  # categorical by inference
        "float_3": rng.choice([0.0, 1.0, 2.0], n, p=[0.5, 0.3, 0.2]).tolist(),  # chi-square
        "missing": [
            None if r < 0.2 else v for r, v in zip(rng.random(n), rng.normal(0, 1, n), strict=True)
        ],
    }


def _evidently_report(ref: dict, cur: dict) -> tuple[dict[str, tuple[str, float, bool]], bool]:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    out = (
        Report([DataDriftPreset()], include_tests=True)
        .run(pd.DataFrame(cur), pd.DataFrame(ref))
        .dict()
    )
    scores = {
        m["config"]["column"]: (m["config"]["method"], m["value"])
        for m in out["metrics"]
        if m["config"]["type"].endswith("ValueDrift")
    }
    verdicts, dataset = {}, None
    for t in out["tests"]:
        params = t["metric_config"]["params"]
        if params["type"].endswith("ValueDrift"):
            verdicts[params["column"]] = t["status"] == "FAIL"
        elif params["type"].endswith("DriftedColumnsCount"):
            dataset = t["status"] == "FAIL"
    return {c: (*scores[c], verdicts[c]) for c in scores}, bool(dataset)


@pytest.mark.parametrize(
    "n_ref,n_cur,tests",
    [
        (1000, 500, {"ks", "chisquare", "z"}),
        (2000, 1200, {"wasserstein", "jensenshannon"}),
    ],
)
def test_verdicts_equal_evidently_report(n_ref: int, n_cur: int, tests: set[str]) -> None:
    rng = np.random.default_rng(n_ref)
    ref, cur = _frame(rng, n_ref, 0.0), _frame(rng, n_cur, 0.3)
    columns = list(ref)
    series = {c: ds.reference_series(ref[c]) for c in columns}
    rows = [list(r) for r in zip(*cur.values(), strict=True)]
    ours = ds.evaluate_window(series, columns, rows, None, None)
    theirs, dataset = _evidently_report(ref, cur)
    assert sorted(c.column for c in ours.columns) == sorted(theirs) == sorted(columns)
    assert {c.stattest for c in ours.columns} == tests
    for c in ours.columns:
        method, score, drifted = theirs[c.column]
        assert (c.stattest_display, c.drifted) == (method, drifted), c
        assert c.score == pytest.approx(score, rel=1e-9, abs=1e-12)
    assert 0 < len(ours.drifted) < len(columns)  # both verdicts are exercised
    assert ours.dataset_drift(0.5) == dataset


@pytest.mark.parametrize(
    "values,n_ref,expected",
    [
        ([0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5], 1000, ("num", "ks")),
        ([0.0, 1.0, 2.0], 1000, ("num", "chisquare")),  # numerical, <= 5 values
        ([0.0, 1.0], 1000, ("num", "z")),
        (list(range(8)), 1000, ("cat", "chisquare")),  # int, <= 10 values: categorical
        (list(range(40)), 1000, ("num", "ks")),
        (["x", "y", "z"], 1000, ("cat", "chisquare")),
        ([True, False], 1000, ("cat", "z")),
        ([0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5], 1001, ("num", "wasserstein")),
        ([0.0, 1.0, 2.0], 1001, ("num", "jensenshannon")),
        (["x", "y", "z"], 1001, ("cat", "jensenshannon")),
    ],
)
def test_default_test_per_type_and_size(values: list, n_ref: int, expected: tuple) -> None:
    rnd = random.Random(1)
    ref = [rnd.choice(values) for _ in range(n_ref)]
    cur = [rnd.choice(values) for _ in range(300)]
    result = ds.column_drift("c", ds.reference_series(ref), cur, None, None)
    assert result is not None and (result.column_type, result.stattest) == expected
    assert result.threshold == (0.1 if expected[1] in ("wasserstein", "jensenshannon") else 0.05)


def test_text_unknown_and_empty_columns_are_skipped() -> None:
    ref = ds.reference_series([f"free text {i}" for i in range(100)])
    assert ds.column_drift("t", ref, [f"other {i}" for i in range(50)], None, None) is None
    assert ds.column_drift("u", ds.reference_series([None] * 100), [None] * 50, None, None) is None
    empty = ds.column_drift("e", ds.reference_series([1.5, 2.5] * 50), [None] * 50, None, None)
    assert empty is None


def test_configured_stattest_and_threshold_apply_to_every_column() -> None:
    det = DriftDetector(
        REGISTRY,
        reference_size=100,
        window_size=50,
        step=50,
        stattest="psi",
        stattest_threshold=0.2,
    )
    events = [_event(i, {"x": (i * 7) % 13 / 3, "k": "abc"[i % 3]}) for i in range(150)]
    _run(det, events)
    result = det._evaluate(_pending_of(det, "m"))
    assert {c.stattest for c in result.columns} == {"psi"}
    assert {c.threshold for c in result.columns} == {0.2}


def _pending_of(det: DriftDetector, model: str) -> Any:
    from detectors.drift import _Pending

    m = det._models[model]
    return _Pending(model, "1", m.seen, list(m.rows), list(m.metas))


def test_invalid_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown"):
        DriftDetector(REGISTRY, windowsize=3)
    with pytest.raises(ConfigError, match="invalid"):
        DriftDetector(REGISTRY, step=0)
    with pytest.raises(ConfigError, match="stattest"):
        DriftDetector(REGISTRY, stattest="no-such-test")


# ------------------------------------------------------------------ alarm positions

REF, WIN, STEP, ONSET, N = 200, 100, 5, 1003, 1300
CYCLE = random.Random(42).sample([float(v) for v in range(50)], 50)  # seeded order, period 50


def _stream() -> list[ObservedEvent]:
    """Before ONSET every window of WIN consecutive calls holds whole cycles of ``u`` (period 50)
    and only "x" in ``mode``: exactly the reference's distributions. From ONSET, u moves by +1000
    and mode is "y". ``const`` never changes (3 tested columns; usage/output absent: skipped)."""
    return [
        _event(
            i,
            {
                "u": CYCLE[i % 50] + (1000.0 if i >= ONSET else 0.0),
                "mode": "y" if i >= ONSET else "x",
                "const": "k",
            },
        )
        for i in range(N)
    ]


def _z_p(k: int) -> float:
    """Evidently's two-proportion Z-test p-value: reference all "x", current k of WIN are "y"."""
    p1, p2 = 0.0, k / WIN
    pooled = (p1 * REF + p2 * WIN) / (REF + WIN)
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / REF + 1 / WIN))
    return 2 * (1 - 0.5 * (1 + math.erf(abs(z) / math.sqrt(2))))


def _expected_alarms() -> dict[str, list[int]]:
    """Window ends (event index) at which each column drifts, from the setup alone."""
    ref_u = [CYCLE[i % 50] for i in range(REF)]
    out: dict[str, list[int]] = {"features.u": [], "features.mode": [], "dataset": []}
    for end in range(REF + WIN - 1, N, STEP):
        shifted = max(0, min(WIN, end - ONSET + 1))
        cur_u = [
            CYCLE[i % 50] + (1000.0 if i >= ONSET else 0.0) for i in range(end - WIN + 1, end + 1)
        ]
        u = bool(ks_2samp(ref_u, cur_u).pvalue <= 0.05)  # K-S: u has 50 values; drift if p <= 0.05
        mode = shifted > 0 and _z_p(shifted) < 0.05  # 2 values: Z-test; drift if p < 0.05
        out["features.u"] += [end] if u else []
        out["features.mode"] += [end] if mode else []
        out["dataset"] += [end] if (int(u) + int(mode)) / 3 >= 0.5 else []  # share >= drift_share
    return out


def test_alarms_fire_exactly_where_the_setup_says() -> None:
    det = DriftDetector(REGISTRY, reference_size=REF, window_size=WIN, step=STEP, confirm_windows=1)
    signals = _run(det, _stream())
    got: dict[str, list[int]] = {"features.u": [], "features.mode": [], "dataset": []}
    for s in signals:
        name = s.evidence["column"] if s.kind == "column_drift" else "dataset"
        got[name].append(s.source.offset - OFFSET0)
    expected = _expected_alarms()
    assert got == expected
    assert min(min(v) for v in got.values()) >= ONSET  # nothing before the shift
    # the Z-test needs 2 shifted rows of 100: the first window end with >= 2 is ONSET + 1
    assert _z_p(1) >= 0.05 > _z_p(2) and expected["features.mode"][0] == 1004
    assert all(end in expected["features.mode"] for end in range(1004, N, STEP))
    first = next(s for s in signals if s.evidence.get("column") == "features.mode")
    assert first.key == f"m:features.mode:{OFFSET0 + 1004}" and first.severity == "medium"
    assert first.evidence["stattest"] == "z" and first.evidence["p_value"] < 0.05


@pytest.mark.parametrize("confirm", [2, 3])
def test_confirmed_alarms_need_that_many_drifted_windows_in_a_row(confirm: int) -> None:
    det = DriftDetector(
        REGISTRY, reference_size=REF, window_size=WIN, step=STEP, confirm_windows=confirm
    )
    got: dict[str, list[int]] = {"features.u": [], "features.mode": [], "dataset": []}
    streaks: dict[str, list[int]] = {"features.u": [], "features.mode": [], "dataset": []}
    for s in _run(det, _stream()):
        name = s.evidence["column"] if s.kind == "column_drift" else "dataset"
        got[name].append(s.source.offset - OFFSET0)
        streaks[name].append(s.evidence["consecutive_windows"])
    for name, ends in _expected_alarms().items():
        want = [e for e in ends if all(e - k * STEP in ends for k in range(1, confirm))]
        assert got[name] == want, name
        assert all(n >= confirm for n in streaks[name])
    assert got["features.mode"]  # the shift lasts long enough to be confirmed


def test_dataset_drift_share_rule_is_greater_or_equal() -> None:
    def col(name: str, drifted: bool) -> ds.ColumnResult:
        return ds.ColumnResult(name, "num", "ks", "K-S p_value", 0.5, 0.05, drifted, 100, 50)

    half = ds.WindowResult((col("a", True), col("b", True), col("c", False), col("d", False)), ())
    assert half.share == 0.5 and half.dataset_drift(0.5) and not half.dataset_drift(0.51)
    third = ds.WindowResult((col("a", True), col("b", False), col("c", False)), ())
    assert not third.dataset_drift(0.5)
    assert not ds.WindowResult((), ("t",)).dataset_drift(0.0)
    # through the detector: 2 of 3 columns drifted (u, mode) at the end of the stream
    for share, fires in ((2 / 3, True), (0.7, False)):
        det = DriftDetector(
            REGISTRY, reference_size=REF, window_size=WIN, step=STEP, drift_share=share
        )
        kinds = [s for s in _run(det, _stream()) if s.kind == "dataset_drift"]
        assert bool(kinds) is fires
        if fires:
            ev = kinds[-1].evidence
            assert ev["drifted_columns"] == ["features.mode", "features.u"]
            assert (ev["number_of_columns"], ev["drift_share"]) == (3, share)
            assert kinds[-1].severity == "high"


def test_evidence_has_window_bounds_with_timestamps_and_kafka_offsets() -> None:
    det = DriftDetector(REGISTRY, reference_size=REF, window_size=WIN, step=STEP)
    events = _stream()
    signal = _run(det, events)[0]
    end = signal.source.offset - OFFSET0
    first, last = events[end - WIN + 1], events[end]
    cur = signal.evidence["current_window"]
    assert cur == {
        "events": WIN,
        "first_timestamp": first.event.timestamp.isoformat(),
        "last_timestamp": last.event.timestamp.isoformat(),
        "topic": TOPIC,
        "partition": PARTITION,
        "first_offset": OFFSET0 + end - WIN + 1,
        "last_offset": OFFSET0 + end,
        "sources": [
            {
                "topic": TOPIC,
                "partition": PARTITION,
                "first_offset": OFFSET0 + end - WIN + 1,
                "last_offset": OFFSET0 + end,
            }
        ],
    }
    ref = signal.evidence["reference_window"]
    assert (ref["events"], ref["first_offset"], ref["last_offset"]) == (
        REF,
        OFFSET0,
        OFFSET0 + REF - 1,
    )
    assert ref["first_timestamp"] == events[0].event.timestamp.isoformat()
    assert ref["last_timestamp"] == events[REF - 1].event.timestamp.isoformat()
    assert signal.event_id is None and signal.source == SourceRef(TOPIC, PARTITION, OFFSET0 + end)
    json.dumps(signal.evidence, allow_nan=False)


# ------------------------------------------------------------------ state, background, memory


def _mixed_stream(n: int = 1400) -> list[ObservedEvent]:
    rng = np.random.default_rng(5)
    out = []
    for i in range(n):
        model = ("a", "b")[i % 2]
        shift = 0.8 if i > 900 else 0.0
        out.append(
            _event(
                i,
                {
                    "x": round(float(rng.normal(shift, 1)), 3),
                    "k": ("p", "q", "r")[int(rng.integers(0, 3))],
                    "f": bool(i % 3),
                },
                model,
                output={"score": round(float(rng.random()), 3), "prediction": 1},
                usage={
                    "latency_ms": round(float(rng.lognormal(4, 0.3)), 1),
                    **({"error": "timeout"} if i % 50 == 7 else {}),
                },
            )
        )
    return out


@pytest.mark.parametrize("background", [False, True])
def test_state_round_trip_gives_identical_later_signals(background: bool) -> None:
    cfg = dict(reference_size=200, window_size=100, step=30, background=background)
    events = _mixed_stream()
    straight = DriftDetector(REGISTRY, **cfg)
    cut = 777
    first = [s for k in range(0, cut, 100) for s in straight.process(events[k : min(k + 100, cut)])]
    state = json.loads(json.dumps(straight.state_dict(), allow_nan=False))
    if background:
        assert state["pending"], "windows of the last batch are pending and saved"
    resumed = DriftDetector(REGISTRY, **cfg)
    resumed.load_state(state)
    assert resumed.state_dict() == state
    tail_a = _run(straight, events[cut:], 100)
    tail_b = _run(resumed, events[cut:], 100)
    assert tail_a == tail_b and tail_a
    assert straight.state_dict() == resumed.state_dict()
    inline = DriftDetector(REGISTRY, **{**cfg, "background": False})
    assert _run(inline, events, 100) == first + tail_a  # background changes timing only
    straight.close(), resumed.close()


def test_memory_is_bounded_and_failed_calls_are_ignored() -> None:
    det = DriftDetector(REGISTRY, reference_size=200, window_size=100, step=30)
    events = _mixed_stream()
    for k in range(0, len(events), 50):
        det.process(events[k : k + 50])
        for m in det._models.values():
            assert len(m.rows) <= 100 and len(m.metas) <= 100 and len(m.ref_rows) < 200
        assert not det._pending
    failed = sum(1 for e in events if e.event.usage.error is not None)
    for model in ("a", "b"):
        m = det._models[model]
        assert len(m.reference["features.x"]) == 200 and len(m.rows) == 100
        ok = sum(1 for e in events if e.event.model.id == model and e.event.usage.error is None)
        assert m.seen == ok - 200
    assert failed and sorted(det._models["a"].columns) == det._models["a"].columns
    state = det.state_dict()
    assert all(len(s["rows"]) <= 100 for s in state["models"].values())
