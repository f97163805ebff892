"""NAB benchmark of the anomaly detector: the detector path (every category) and its series scorer.

Detector path (issue 12): each NAB series in the shared categories (realKnownCause,
realAdExchange, realTweets, artificialWithAnomaly, artificialNoAnomaly) is played through
AnomalyDetector.process as the worker would: one event per point as one model's
``usage.latency_ms`` (shifted to be non-negative), the point's timestamp as event time, in
batches of 500, with the detector's defaults. Printed per series, per category and overall, each
for the dev series and the held-back ones (every third series of a category, by name, is held
back and was not looked at while developing): false alarms per 1,000 events outside labelled
windows (every finding of both views counts, at the point it names), the worst series, findings
on artificialNoAnomaly (target 0), the NAB score of all findings and of the metric findings
alone, window recall.

Series scorer: each series streams, in order, through the same SeriesScorer the detector uses
for a model's metric (its ``detect``: adaptive threshold, alarm logic). It learns only on NAB's
probationary period (min(floor(0.15 n), 750) points, NAB's own rule) with the detector's
defaults: no per-series tuning. Side by side, on the same data and with the same threshold rule
(the (1 - false_alarm_rate) tail quantile on the held-back last 25% of the probationary period)
and the same alarm logic (one alarm per episode: a new one only after more than a refractory
period below the threshold): a rolling z-score and an IsolationForest over sliding windows.

Scoring follows NAB's sweeper.py (standard profile A_TP=1, A_FP=-0.11, A_FN=-1): an alarm inside
a window earns scaledSigmoid(position) / scaledSigmoid(-1) (only the best, i.e. earliest, counts
per window); an alarm outside earns A_FP * scaledSigmoid(distance past the preceding window /
(its width - 1)), or A_FP * -1 with no preceding window; a window without an alarm costs A_FN;
points of the probationary period are ignored. Normalised score = 100 (raw - null) / (perfect -
null) over the sum of all series (null: never alarm; perfect: every window hit at its start).

Reported: (1) each detector with its own calibrated threshold; (2) NAB-style, one global threshold
per detector chosen to maximise the corpus score (same sweep for every detector), both with the
alarm logic and on raw per-point scores as NAB's sweeper does. Window-level precision/recall: a
window is detected if any alarm falls inside it; alarms outside windows closer than the
refractory period to each other form one false-positive group.

    .venv/bin/python bench/anomaly_nab.py [--data ../shared/data/nab] [--far 0.001]
        [--only detector|scorer] [--split dev|held] [--match REGEX] [--detector-args JSON]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.ensemble import IsolationForest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core.datasets import shared_data
from core.events import InferenceEvent
from core.model_registry import ModelEntry, Registry
from core.signals import ObservedEvent, SourceRef
from detectors.anomaly import AnomalyDetector
from detectors.anomaly_models import pick_device, tail_quantile
from detectors.series import SeriesScorer, alarm_mask

A_TP, A_FP, A_FN = 1.0, 0.11, 1.0  # NAB standard profile cost matrix (fpWeight is applied positive)
HOLDOUT = 0.25
CATEGORIES = (
    "realKnownCause",
    "realAdExchange",
    "realTweets",
    "artificialWithAnomaly",
    "artificialNoAnomaly",
)


def scaled_sigmoid(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.where(x >= 3.0, -1.0, 2.0 / (1.0 + np.exp(5.0 * x)) - 1.0)


def probationary(n: int) -> int:
    return int(min(math.floor(0.15 * n), 0.15 * 5000))


def split_of(names: list[str]) -> dict[str, str]:
    """Dev / held-back split per category: every third series (sorted by name) is held back."""
    return {n: ("held" if i % 3 == 2 else "dev") for i, n in enumerate(sorted(names))}


class Series:
    def __init__(self, path: Path, windows: list[list[str]]) -> None:
        df = pd.read_csv(path)
        self.name = path.stem
        self.category = path.parent.name
        self.split = split_of([p.stem for p in path.parent.glob("*.csv")])[self.name]
        self.ts = pd.DatetimeIndex(pd.to_datetime(df["timestamp"]))
        self.values = df["value"].to_numpy(dtype=np.float64)
        self.n = len(df)
        self.prob = probationary(self.n)
        self.windows = [
            (self.ts.get_loc(pd.Timestamp(a)), self.ts.get_loc(pd.Timestamp(b))) for a, b in windows
        ]
        # per-point sweep scores as in NAB's Sweeper.calcSweepScore
        self.window_of = np.full(self.n, -1)
        self.sweep = np.empty(self.n)
        prev_right, prev_width = None, None
        bounds = sorted(self.windows)
        w_i = 0
        i = 0
        while i < self.n:
            if w_i < len(bounds) and i == bounds[w_i][0]:
                left, right = bounds[w_i]
                width = right - left + 1
                pos = -(right - np.arange(left, right + 1) + 1) / width
                self.sweep[left : right + 1] = scaled_sigmoid(pos) * A_TP / scaled_sigmoid(-1.0)
                self.window_of[left : right + 1] = w_i
                prev_right, prev_width = right, width
                w_i += 1
                i = right + 1
                continue
            past = 3.0 if prev_right is None else abs(prev_right - i) / (prev_width - 1)
            self.sweep[i] = float(scaled_sigmoid(past)) * A_FP
            i += 1
        self.scorable_windows = sorted({int(w) for w in self.window_of[self.prob :] if w >= 0})

    def nab(self, alarms: np.ndarray) -> tuple[float, int, int]:
        """(raw score, detected windows, false-positive alarm points) for a boolean alarm array."""
        hit = np.flatnonzero(alarms[self.prob :]) + self.prob
        score = 0.0
        detected = 0
        for w in self.scorable_windows:
            inside = hit[self.window_of[hit] == w]
            if inside.size:
                score += float(self.sweep[inside].max())
                detected += 1
            else:
                score -= A_FN
        fp = hit[self.window_of[hit] < 0]
        return score + float(self.sweep[fp].sum()), detected, int(fp.size)

    def fp_groups(self, alarms: np.ndarray, gap: int) -> int:
        hit = np.flatnonzero(alarms[self.prob :]) + self.prob
        fp = hit[self.window_of[hit] < 0]
        return int(fp.size and 1 + np.sum(np.diff(fp) > gap))


# ------------------------------------------------------------------------- detectors
SCORER_ARGS: dict = {}  # --scorer-args: SeriesScorer overrides (global, never per series)
DETECTOR_ARGS: dict = {}  # --detector-args: detectors.anomaly settings (global, never per series)


def riskwatch(s: Series, far: float, device: torch.device) -> tuple:
    """The scorer as the detector runs it: ``detect`` (its adaptive threshold and alarm logic)."""
    scorer = SeriesScorer(
        false_alarm_rate=far, holdout_fraction=HOLDOUT, device=device, **SCORER_ARGS
    )
    scorer.fit(s.values[: s.prob])
    t0 = time.perf_counter()
    z, alarms = scorer.detect(s.values[s.prob :])
    dt = time.perf_counter() - t0
    pad = np.zeros(s.prob)
    return (
        np.concatenate([pad, z]),
        scorer.threshold,
        scorer.cfg["refractory"],
        dt,
        np.concatenate([pad.astype(bool), alarms]),
    )


def _baseline_windows(v: np.ndarray, w: int) -> np.ndarray:
    idx = np.arange(w - 1, len(v))[:, None] + np.arange(-w + 1, 1)[None, :]
    return v[idx]


def rolling_z(s: Series, far: float, w: int = 24) -> tuple[np.ndarray, float, int, float]:
    """|x_t - mean| / std over the previous ``long`` points (NAB's windowed Gaussian idea)."""
    long = max(2 * w, s.prob // 2)
    ser = pd.Series(s.values)
    mu = ser.shift(1).rolling(long, min_periods=w).mean().to_numpy()
    sd = ser.shift(1).rolling(long, min_periods=w).std().to_numpy()
    t0 = time.perf_counter()
    z = np.nan_to_num(np.abs(s.values - mu) / np.maximum(sd, 1e-9))
    dt = time.perf_counter() - t0
    n_train = s.prob - round(s.prob * HOLDOUT)
    thr = tail_quantile(z[n_train : s.prob], far)
    return np.where(np.arange(s.n) < s.prob, 0.0, z), thr, w, dt


def iforest(s: Series, far: float, w: int = 24) -> tuple[np.ndarray, float, int, float]:
    n_train = s.prob - round(s.prob * HOLDOUT)
    ref = s.values[:n_train]
    center, scale = np.median(ref), max(np.std(ref), 1e-9)
    win = _baseline_windows((s.values - center) / scale, w)  # row k ends at point k + w - 1
    forest = IsolationForest(n_estimators=100, random_state=0).fit(win[: n_train - w + 1])
    t0 = time.perf_counter()
    score = -forest.score_samples(win)
    dt = time.perf_counter() - t0
    full = np.concatenate([np.full(w - 1, score.min()), score])
    thr = tail_quantile(full[n_train : s.prob], far)
    return np.where(np.arange(s.n) < s.prob, full.min(), full), thr, w, dt


DETECTORS = {"riskwatch": riskwatch, "rolling-z": rolling_z, "iforest": iforest}


# ------------------------------------------------------------------------- detector path
MODEL = "nab"


def play(s: Series, batch: int = 500, device: str = "cpu") -> dict[str, np.ndarray]:
    """The series through AnomalyDetector.process, one event per point as ``usage.latency_ms``
    (shifted to be non-negative, the only change to the data), the point's timestamp as event
    time, in batches of ``batch`` as the worker reads them. Returns, per finding kind, the point
    indices the detector flagged (a metric finding: the point whose timestamp opens its bucket)."""
    registry = Registry(
        models={MODEL: ModelEntry.model_validate({"owner": "bench@example.org"})},
        detectors={"anomaly": {"device": device} | DETECTOR_ARGS},
    )
    det = AnomalyDetector(registry)
    offset = -min(0.0, float(s.values.min()))
    stamps = [t.isoformat() + "Z" for t in s.ts.to_pydatetime()]
    epoch = s.ts.asi8 / 1e9
    out: dict[str, list[int]] = {"event_anomaly": [], "metric_anomaly": [], "latency": []}
    for k in range(0, s.n, batch):
        evs = [
            ObservedEvent(
                InferenceEvent.model_validate(
                    {
                        "event_id": str(i),
                        "timestamp": stamps[i],
                        "model": {"id": MODEL, "version": "1"},
                        "usage": {"latency_ms": float(s.values[i]) + offset},
                    }
                ),
                SourceRef("nab", 0, i),
            )
            for i in range(k, min(k + batch, s.n))
        ]
        for sig in det.process(evs):
            if sig.kind == "event_anomaly":
                assert sig.event_id is not None
                out["event_anomaly"].append(int(sig.event_id))
            else:
                i = int(np.searchsorted(epoch, sig.evidence["bucket_start"]))
                out["metric_anomaly"].append(min(i, s.n - 1))
                if sig.evidence["metric"] == "latency_ms_mean":
                    out["latency"].append(min(i, s.n - 1))
    return {k: np.asarray(v, dtype=np.int64) for k, v in out.items()}


def _add(
    rows: dict[tuple[str, str], list[float]], key: tuple[str, str], vals: tuple, rate: float
) -> None:
    r = rows.setdefault(key, [0.0] * 8)
    for j, v in enumerate(vals):
        r[j] += v
    r[7] = max(r[7], rate)  # the worst series


def pipeline_report(series: list[Series], batch: int, device: str) -> dict[str, dict]:
    """Per category and split: false alarms per 1,000 events outside labelled windows (all
    findings of the detector, both views), findings on artificialNoAnomaly, and the NAB score of
    the findings (all of them, and metric findings alone), window recall."""
    split = {s.name: s.split for s in series}
    rows: dict[tuple[str, str], list[float]] = {}
    per_series = {}
    print("\ndetector path (AnomalyDetector.process, one event per point as usage.latency_ms):")
    print(
        f"{'series':40s} {'split':5s} {'n':>6s} {'ev':>4s} {'met':>4s} {'FA/1k out':>9s} "
        f"{'win hit':>7s} {'NAB raw':>8s}"
    )
    for s in series:
        found = play(s, batch, device)
        alarms = np.zeros(s.n, dtype=bool)
        alarms[found["event_anomaly"]] = True
        alarms[found["metric_anomaly"]] = True
        met = np.zeros(s.n, dtype=bool)
        met[found["metric_anomaly"]] = True
        outside = s.window_of < 0
        fa = int(np.sum(outside[found["event_anomaly"]]) + np.sum(outside[found["metric_anomaly"]]))
        raw, hit, _ = s.nab(alarms)
        raw_m, _, _ = s.nab(met)
        rate = 1000.0 * fa / max(int(outside.sum()), 1)
        n_found = len(found["event_anomaly"]) + len(found["metric_anomaly"])
        per_series[s.name] = {"fa_per_1k": rate, "findings": n_found, "nab_raw": raw}
        print(
            f"{s.name[:40]:40s} {split[s.name]:5s} {s.n:6d} {len(found['event_anomaly']):4d} "
            f"{len(found['metric_anomaly']):4d} {rate:9.2f} "
            f"{hit:3d}/{len(s.scorable_windows):<3d} {raw:+8.3f}"
        )
        vals = (fa, int(outside.sum()), raw, raw_m, hit, len(s.scorable_windows), n_found)
        for key in ((s.category, split[s.name]), (s.category, "all"), ("ALL", split[s.name])):
            _add(rows, key, vals, rate)
        _add(rows, ("ALL", "all"), vals, rate)
    print(
        f"\n{'category':22s} {'split':5s} {'FA/1k out':>9s} {'worst':>6s} {'findings':>8s} "
        f"{'NAB all':>7s} {'NAB met':>7s} {'win rec':>7s}"
    )
    results: dict[str, dict] = {"per_series": per_series}
    for (cat, sp), r in sorted(rows.items(), key=lambda kv: (kv[0][0] == "ALL", kv[0])):
        fa, out_n, raw, raw_m, hit, wins, n_found, worst = r
        res = {
            "fa_per_1k_outside": 1000.0 * fa / max(out_n, 1),
            "worst_series_fa_per_1k": worst,
            "findings": int(n_found),
            "nab": normalised(raw, int(wins)) if wins else None,
            "nab_metric_only": normalised(raw_m, int(wins)) if wins else None,
            "window_recall": hit / wins if wins else None,
        }
        results[f"{cat}/{sp}"] = res
        fmt = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
        print(
            f"{cat:22s} {sp:5s} {res['fa_per_1k_outside']:9.2f} {worst:6.2f} {int(n_found):8d} "
            f"{fmt(res['nab'], '7.1f')} {fmt(res['nab_metric_only'], '7.1f')} "
            f"{fmt(res['window_recall'], '7.2f')}"
        )
    no = [s for s in series if s.category == "artificialNoAnomaly"]
    if no:
        total = sum(per_series[s.name]["findings"] for s in no)
        print(f"\nartificialNoAnomaly: {total} findings on {len(no)} series (target 0)")
        results["no_anomaly_findings"] = total
    return results


# ------------------------------------------------------------------------- report
def normalised(raw: float, windows: int) -> float:
    null, perfect = -A_FN * windows, A_TP * windows
    return 100.0 * (raw - null) / (perfect - null)


def sweep(
    series: list[Series], runs: dict[str, tuple], use_alarm_logic: bool
) -> tuple[float, float]:
    """The global threshold (one per detector, all series) that maximises the corpus raw score."""
    pooled = np.concatenate([runs[s.name][0][s.prob :] for s in series])
    cands = np.unique(
        np.quantile(
            pooled, np.concatenate([np.linspace(0.5, 0.99, 50), 1 - np.logspace(-2, -5, 80)])
        )
    )
    best = (-math.inf, math.inf)
    for thr in cands:
        raw = 0.0
        for s in series:
            scores, _, refr, _, _ = runs[s.name]
            alarms = alarm_mask(scores, thr, refr) if use_alarm_logic else scores >= thr
            raw += s.nab(alarms)[0]
        best = max(best, (raw, thr))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(shared_data() / "nab"))
    ap.add_argument("--far", type=float, default=0.001, help="false-alarm rate for calibration")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--scorer-args", default="{}", help="JSON overrides of SeriesScorer defaults")
    ap.add_argument("--categories", default=",".join(CATEGORIES), help="comma-separated")
    ap.add_argument("--batch", type=int, default=500, help="detector path: events per batch")
    ap.add_argument("--only", choices=("scorer", "detector"), help="run one of the two parts")
    ap.add_argument("--detector-args", default="{}", help="JSON detectors.anomaly settings")
    ap.add_argument("--split", choices=("dev", "held"), help="only the dev or held-back series")
    ap.add_argument("--match", default="", help="only the series whose name matches this regex")
    args = ap.parse_args()
    SCORER_ARGS.update(json.loads(args.scorer_args))
    DETECTOR_ARGS.update(json.loads(args.detector_args))
    torch.set_num_threads(1)
    results: dict[str, dict] = {}
    data = Path(args.data)
    labels = json.loads((data / "labels/combined_windows.json").read_text())
    series = [
        Series(p, labels[f"{cat}/{p.name}"])
        for cat in args.categories.split(",")
        for p in sorted((data / cat).glob("*.csv"))
    ]
    series = [s for s in series if args.split in (None, s.split) and re.search(args.match, s.name)]
    device = pick_device(args.device)
    if args.only != "scorer":
        results["detector_path"] = pipeline_report(series, args.batch, str(device.type))
    if args.only == "detector":
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2, default=float))
        return
    n_windows = sum(len(s.scorable_windows) for s in series)
    print(
        f"\nNAB {args.categories}: {len(series)} series, {sum(s.n for s in series)} points, "
        f"{n_windows} scorable windows; false_alarm_rate={args.far}; riskwatch on {device}\n"
    )
    header = f"{'series':40s} {'n':>6s} {'win':>3s} " + " ".join(f"{d:>22s}" for d in DETECTORS)
    print("own calibrated thresholds: NAB raw score (windows hit/total, FP alarms)")
    print(header)
    runs: dict[str, dict[str, tuple]] = {d: {} for d in DETECTORS}
    totals = {d: [0.0, 0, 0, 0, 0.0, 0] for d in DETECTORS}  # raw, hit, fp pts, fp groups, s, pts
    for s in series:
        cells = []
        for d, fn in DETECTORS.items():
            t0 = time.perf_counter()
            out = fn(s, args.far, device) if d == "riskwatch" else fn(s, args.far)
            scores, thr, refr, dt = out[:4]
            alarms = out[4] if len(out) > 4 else alarm_mask(scores, thr, refr)
            runs[d][s.name] = (scores, thr, refr, time.perf_counter() - t0, alarms)
            raw, hit, fp = s.nab(alarms)
            tot = totals[d]
            tot[0] += raw
            tot[1] += hit
            tot[2] += fp
            tot[3] += s.fp_groups(alarms, refr)
            tot[4] += dt
            tot[5] += s.n - s.prob
            cells.append(f"{raw:+7.3f} ({hit}/{len(s.scorable_windows)}, {fp:3d})")
        print(
            f"{s.name:40s} {s.n:6d} {len(s.scorable_windows):3d} "
            + " ".join(f"{c:>22s}" for c in cells)
        )
    print()
    print(
        f"{'detector':12s} {'NAB(own thr)':>12s} {'NAB(best thr)':>13s} {'NAB(best,raw)':>13s} "
        f"{'win recall':>10s} {'win prec':>8s} {'FP groups':>9s} {'score ev/s':>11s}"
    )
    for d in DETECTORS:
        raw, hit, fp, groups, dt, pts = totals[d]
        best_raw, best_thr = sweep(series, runs[d], True)
        best_raw2, _ = sweep(series, runs[d], False)
        results[d] = {
            "nab_own_threshold": normalised(raw, n_windows),
            "nab_best_threshold": normalised(best_raw, n_windows),
            "best_threshold": best_thr,
            "nab_best_threshold_raw_points": normalised(best_raw2, n_windows),
            "window_recall": hit / n_windows,
            "window_precision": hit / max(hit + groups, 1),
            "fp_groups": groups,
            "fp_points": fp,
            "score_events_per_s": pts / max(dt, 1e-9),
            "per_series": {s.name: s.nab(runs[d][s.name][4])[0] for s in series},
        }
        r = results[d]
        print(
            f"{d:12s} {r['nab_own_threshold']:12.1f} {r['nab_best_threshold']:13.1f} "
            f"{r['nab_best_threshold_raw_points']:13.1f} {r['window_recall']:10.2f} "
            f"{r['window_precision']:8.2f} {groups:9d} {r['score_events_per_s']:11.0f}"
        )
    print("\nseries scorer, own thresholds, NAB score per category (dev / held-back / all):")
    by_cat = {}
    for cat in [*sorted({s.category for s in series}), "ALL"]:
        cells = []
        for sp in ("dev", "held", None):
            sel = [s for s in series if cat in ("ALL", s.category) and sp in (None, s.split)]
            wins = sum(len(s.scorable_windows) for s in sel)
            cells.append(
                normalised(sum(s.nab(runs["riskwatch"][s.name][4])[0] for s in sel), wins)
                if wins
                else None
            )
        by_cat[cat] = cells
        print(f"  {cat:22s} " + " / ".join("-" if c is None else f"{c:.1f}" for c in cells))
    results["riskwatch"]["nab_by_category_dev_held_all"] = by_cat
    print(
        "\nAnchors (NAB scoreboard, standard profile, ALL 58 series): HTM 70.5, "
        "Random Cut Forest 51.7, windowed Gaussian 39.6."
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
