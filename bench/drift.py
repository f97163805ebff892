"""Benchmark of the drift detector (detectors/drift.py) against Evidently 0.7's own Report.

(a) Agreement and cost: the same reference/current windows go through riskwatch's check
    (drift_stats.evaluate_window: Evidently's typing, test selection and test functions called
    directly) and through ``Report([DataDriftPreset()])``. Per column: same test, same verdict,
    same score (to 1e-9 relative); per window: same dataset-drift verdict. Windows: synthetic
    columns of every kind (float, int with many/few values, float with 2 or 3 values, strings,
    booleans, missing values) at small sizes (reference <= 1000 rows: K-S, chi-square, Z) and large
    ones (> 1000: Wasserstein, Jensen-Shannon), plus windows the detector cut from the simulator's
    demo traffic. Cost per window: median wall time of each path (reference series cached on our
    side, as the detector does).
(b) Detection: a seeded stream of one model (x1, x2 ~ N(0,1), segment in a/b/c with 50/30/20%,
    score and prediction from them, latency) where at event ``--onset`` x1's mean moves by 0.5 sd
    and segment's mix becomes 30/30/40%. Run through DriftDetector with riskwatch.yaml's settings
    (reference 1000, window 500, step 250). Reported over ``--seeds`` seeds: detection delay in
    events after the onset (per column and for dataset drift) and false alarms before it.

    .venv/bin/python bench/drift.py [--seeds 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core.events import InferenceEvent
from core.model_registry import load_registry
from core.signals import ObservedEvent, SourceRef
from detectors import drift_stats as ds
from detectors.drift import DriftDetector
from riskwatch.simulator import simulate_events
from streams.batch import RawMessage
from streams.codec import EventPolicy
from streams.pipeline import decode_batch

REPO = Path(__file__).resolve().parents[1]
SIZES = [(300, 150), (600, 300), (1000, 500), (2000, 1000), (5000, 2000)]  # (reference, current)


# ---------------------------------------------------------------------------- (a) agreement


def synthetic(rng: np.random.Generator, n: int, s: np.ndarray) -> dict[str, list[Any]]:
    """Columns of every kind; ``s`` holds one shift strength per column (0 = reference)."""

    def pick(values: list[Any], p: list[float], k: float) -> list[Any]:
        q = np.asarray(p) + k * (np.roll(p, 1) - np.asarray(p))
        return [values[i] for i in rng.choice(len(values), n, p=q / q.sum())]

    nan = rng.random(n) < 0.1
    return {
        "num": rng.normal(s[0], 1, n).tolist(),
        "num_int": np.round(rng.normal(100 + 10 * s[1], 15, n)).astype(int).tolist(),
        "int_cat": pick([0, 1, 2, 3], [0.4, 0.3, 0.2, 0.1], s[2]),
        "float_3": pick([0.0, 1.0, 2.0], [0.5, 0.3, 0.2], s[3]),
        "float_bin": pick([0.0, 1.0], [0.7, 0.3], s[4]),
        "cat": pick(["a", "b", "c", "d", "e"], [0.3, 0.25, 0.2, 0.15, 0.1], s[5]),
        "bin_str": pick(["no", "yes"], [0.8, 0.2], s[6]),
        "flag": pick([False, True], [0.6, 0.4], s[7]),
        "with_nan": [
            None if m else v for m, v in zip(nan, rng.lognormal(s[8], 0.5, n), strict=True)
        ],
        "latency": rng.lognormal(5 + 0.5 * s[9], 0.4, n).tolist(),
    }


def report_results(ref: dict[str, list[Any]], cur: dict[str, list[Any]]) -> tuple[dict, bool]:
    """Evidently's Report: {column: (test display name, score, drifted)}, dataset drift."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    snap = Report([DataDriftPreset()], include_tests=True).run(pd.DataFrame(cur), pd.DataFrame(ref))
    out = snap.dict()
    scores = {
        m["config"]["column"]: (m["config"]["method"], m["value"])
        for m in out["metrics"]
        if m["config"]["type"].endswith("ValueDrift")
    }
    drifted, dataset = {}, False
    for t in out["tests"]:
        params = t["metric_config"]["params"]
        if params["type"].endswith("ValueDrift"):
            drifted[params["column"]] = t["status"] == "FAIL"
        elif params["type"].endswith("DriftedColumnsCount"):
            dataset = t["status"] == "FAIL"
    return {c: (*scores[c], drifted[c]) for c in scores}, dataset


def compare(ref: dict[str, list[Any]], cur: dict[str, list[Any]], drift_share: float = 0.5) -> dict:
    columns = list(ref)
    series = {c: ds.reference_series(ref[c]) for c in columns}  # cached by the detector
    rows = [list(r) for r in zip(*(cur[c] for c in columns), strict=True)]
    t0 = time.perf_counter()
    ours = ds.evaluate_window(series, columns, rows, None, None)
    t_ours = time.perf_counter() - t0
    tested = [c.column for c in ours.columns]
    t0 = time.perf_counter()
    theirs, dataset = report_results({c: ref[c] for c in tested}, {c: cur[c] for c in tested})
    t_report = time.perf_counter() - t0
    mismatches, max_rel, tests = [], 0.0, set()
    for c in ours.columns:
        display, score, drifted = theirs[c.column]
        tests.add(c.stattest)
        their_score = float(score)
        same = (c.score is None and not math.isfinite(their_score)) or (
            c.score is not None and math.isclose(c.score, their_score, rel_tol=1e-9, abs_tol=1e-12)
        )
        if c.score is not None and math.isfinite(their_score):
            max_rel = max(max_rel, abs(c.score - their_score) / max(abs(their_score), 1e-300))
        if display != c.stattest_display or drifted != c.drifted or not same:
            mismatches.append(
                (c.column, c.stattest_display, c.score, c.drifted, display, score, drifted)
            )
    if set(theirs) != set(tested):
        mismatches.append(("columns", sorted(theirs), tested))
    if dataset != ours.dataset_drift(drift_share):
        mismatches.append(("dataset_drift", dataset, ours.share))
    return {
        "columns": len(ours.columns),
        "drifted": len(ours.drifted),
        "tests": tests,
        "mismatches": mismatches,
        "max_rel": max_rel,
        "t_ours": t_ours,
        "t_report": t_report,
        "skipped": list(ours.skipped),
    }


def simulated_windows(limit: int) -> list[tuple[dict, dict]]:
    """Windows the detector itself cut from demo traffic (its columns, dtypes and buffers)."""
    registry = load_registry(REPO / "riskwatch.yaml")
    captured: list[Any] = []

    class Recording(DriftDetector):
        def _evaluate(self, pending: Any) -> ds.WindowResult:
            captured.append(pending)
            return super()._evaluate(pending)

    events = simulate_events(8000, registry=registry, seed=11, run_id="b")
    raw = [RawMessage("rw.events", 0, i, None, orjson.dumps(e)) for i, e in enumerate(events)]
    det = Recording(registry)
    det.process(decode_batch(raw, EventPolicy()).events)
    out = []
    for p in captured[:: max(1, len(captured) // limit)][:limit]:
        m = det._models[p.model]
        cur = {c: [row[j] for row in p.rows] for j, c in enumerate(m.columns)}
        out.append((dict(m.reference), cur))
    return out


def agreement(seed: int, per_size: int, sim_windows: int) -> dict:
    rng = np.random.default_rng(seed)
    suites: dict[str, list[tuple[dict, dict]]] = {}
    for n_ref, n_cur in SIZES:
        windows = []
        for _ in range(per_size):
            strength = rng.choice([0.0, 0.0, 0.1, 0.2, 0.5], size=10)
            windows.append((synthetic(rng, n_ref, np.zeros(10)), synthetic(rng, n_cur, strength)))
        suites[f"synthetic ref={n_ref} cur={n_cur}"] = windows
    suites["simulator (detector windows, ref=1000 cur=500)"] = simulated_windows(sim_windows)
    compare(*suites[next(iter(suites))][0])  # warm-up: imports, caches
    print("(a) verdict agreement with Evidently Report([DataDriftPreset()]), per window")
    print(
        f"{'suite':48s} {'win':>3s} {'cols':>5s} {'drift':>5s} {'mism':>4s} {'max rel':>8s} "
        f"{'ours ms':>8s} {'report ms':>9s} {'ratio':>6s}  tests"
    )
    summary: dict[str, Any] = {}
    for name, windows in suites.items():
        rs = [compare(r, c) for r, c in windows]
        t_ours = statistics.median(r["t_ours"] for r in rs)
        t_rep = statistics.median(r["t_report"] for r in rs)
        mism = [m for r in rs for m in r["mismatches"]]
        tests = sorted(set().union(*(r["tests"] for r in rs)))
        cols, drifted = sum(r["columns"] for r in rs), sum(r["drifted"] for r in rs)
        max_rel = max(r["max_rel"] for r in rs)
        print(
            f"{name:48s} {len(rs):3d} {cols:5d} {drifted:5d} {len(mism):4d} {max_rel:8.1e} "
            f"{1e3 * t_ours:8.1f} {1e3 * t_rep:9.1f} {t_rep / t_ours:6.1f}  {','.join(tests)}"
        )
        for m in mism[:5]:
            print("   MISMATCH", m)
        summary[name] = {
            "windows": len(rs),
            "columns": cols,
            "drifted": drifted,
            "mismatches": len(mism),
            "max_rel_score_diff": max_rel,
            "ours_ms": 1e3 * t_ours,
            "report_ms": 1e3 * t_rep,
            "ratio": t_rep / t_ours,
            "tests": tests,
        }
    return summary


# ---------------------------------------------------------------------------- (b) detection


def shifted_stream(seed: int, n: int, onset: int) -> list[ObservedEvent]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        after = i >= onset
        x1, x2 = rng.normal(0.5 if after else 0.0, 1.0), rng.normal(0.0, 1.0)
        segment = "abc"[rng.choice(3, p=[0.3, 0.3, 0.4] if after else [0.5, 0.3, 0.2])]
        score = 1 / (1 + math.exp(-(0.8 * x1 - 0.5 * x2 + rng.normal(0, 1))))
        doc = {
            "event_id": f"s{seed}-{i}",
            "timestamp": f"2026-11-28T09:{i // 1000 % 60:02d}:"
            f"{i % 1000 * 60 // 1000:02d}.{i % 1000:03d}Z",
            "model": {"id": "m", "version": "1"},
            "input": {"features": {"x1": round(x1, 4), "x2": round(x2, 4), "segment": segment}},
            "output": {"prediction": int(score >= 0.5), "score": round(score, 4)},
            "usage": {"latency_ms": round(float(rng.lognormal(4, 0.4)), 1), "cost_usd": 2e-5},
        }
        out.append(ObservedEvent(InferenceEvent.model_validate(doc), SourceRef("bench", 0, i)))
    return out


def detection(seeds: int, n: int, onset: int) -> dict:
    registry = load_registry(REPO / "riskwatch.yaml")
    shifted = ["features.x1", "features.segment", "output.score", "output.prediction"]
    delays: dict[str, list[int]] = {}
    false_alarms: dict[str, int] = {}  # before the onset
    late: dict[str, int] = {}  # after the onset (false ones for unshifted columns)
    pre_windows = n_windows = 0
    t_proc = 0.0
    for seed in range(seeds):
        events = shifted_stream(seed, n, onset)
        det = DriftDetector(registry)
        t0 = time.perf_counter()
        signals = []
        for k in range(0, n, 500):
            signals += det.process(events[k : k + 500])
        t_proc += time.perf_counter() - t0
        cfg = det.cfg
        ends = range(cfg["reference_size"] + cfg["window_size"] - 1, n, cfg["step"])
        pre_windows += sum(1 for e in ends if e < onset)
        n_windows = len(ends)
        first: dict[str, int] = {}
        for s in signals:
            name = s.evidence.get("column", "dataset_drift")
            end = s.source.offset
            if end < onset:
                false_alarms[name] = false_alarms.get(name, 0) + 1
                continue
            late[name] = late.get(name, 0) + 1
            if name not in first:
                first[name] = end - onset + 1  # shifted events seen when the alarm was raised
        for name, d in first.items():
            delays.setdefault(name, []).append(d)
    print(
        f"\n(b) shift at event {onset} of {n} (x1 +0.5 sd, segment 50/30/20 -> 30/30/40), "
        f"{seeds} seeds, reference 1000 / window 500 / step 250; earliest possible delay 250; "
        f"{pre_windows // seeds} windows before the onset, {n_windows - pre_windows // seeds} "
        f"after, per seed"
    )
    print(
        f"{'column':22s} {'detected':>8s} {'median delay':>12s} {'min':>5s} {'max':>5s} "
        f"{'false alarms':>12s} {'per window':>10s}"
    )
    names = sorted(set(delays) | set(false_alarms) | set(late) | set(shifted) | {"dataset_drift"})
    summary: dict[str, Any] = {}
    for name in names:
        if name in shifted or name == "dataset_drift":
            d, fa, windows = delays.get(name, []), false_alarms.get(name, 0), pre_windows
            med = statistics.median(d) if d else float("nan")
            print(
                f"*{name:21s} {len(d):4d}/{seeds:<3d} {med:12.0f} {min(d, default=0):5d} "
                f"{max(d, default=0):5d} {fa:12d} {fa / windows:10.3f}"
            )
            summary[name] = {
                "detected": len(d),
                "seeds": seeds,
                "median_delay": med,
                "delays": d,
                "false_alarms_before_onset": fa,
                "windows_before_onset": windows,
            }
        else:  # never shifted: every alarm, before or after the onset, is a false one
            fa, windows = false_alarms.get(name, 0) + late.get(name, 0), seeds * n_windows
            print(
                f" {name:21s} {'-':>8s} {'-':>12s} {'-':>5s} {'-':>5s} {fa:12d} "
                f"{fa / windows:10.3f}"
            )
            summary[name] = {"false_alarms": fa, "windows": windows}
    rate = seeds * n / t_proc
    print(
        f"(* = shifted, or derived from a shifted column)\ndetector throughput incl. window "
        f"tests: {rate:,.0f} events/s"
    )
    summary["events_per_s"] = rate
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--windows", type=int, default=6, help="windows per synthetic size")
    ap.add_argument("--onset", type=int, default=5000)
    ap.add_argument("--events", type=int, default=10000)
    ap.add_argument("--json")
    args = ap.parse_args()
    results = {
        "agreement": agreement(0, args.windows, args.windows),
        "detection": detection(args.seeds, args.events, args.onset),
    }
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=float))
    if any(s["mismatches"] for s in results["agreement"].values()):
        sys.exit("verdicts differ from Evidently's Report")


if __name__ == "__main__":
    main()
