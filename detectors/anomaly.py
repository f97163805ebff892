"""Anomaly detector (technical / model_reliability; policy pack ``reliability``).

View 1, ``event_anomaly``, per (model id, model version): each call's numeric profile (numeric
input features, output.score, latency, tokens, cost; bools and strings are skipped) is
transformed (log1p for skewed non-negative columns) and standardised on a rolling, robust window:
each column's median and IQR over the version's last ``reference_events`` calls (at least a tenth
of the reference scale), so a model whose latency wanders keeps its ordinary calls near zero.
Missing values are imputed (z = 0) and flagged (an indicator column where the reference had gaps;
the evidence lists them). A small denoising autoencoder (anomaly_models) learned on the version's
first ``reference_events`` successful calls (or the model's ``anomaly_reference`` JSON-lines file,
read once at construction; a relative path is relative to the working directory) scores each call;
it is refitted on the last ``reference_events`` calls every ``refit_events`` calls. The threshold
is the Pareto-tail (1 - ``false_alarm_rate``) quantile of the scores of the last calls below it
(a held-back part of the reference at first), refreshed every ``threshold_refresh`` calls; a call
is odd when it is above it and one of its values is at least ``min_event_z`` robust sds from its
recent median. One finding per episode: an odd call within ``event_refractory`` calls of the
previous odd one is counted in the episode, not reported. Failed calls (``usage.error``) are left
to the usage SLO detector and are neither learned nor scored. Everything is chunked at the refresh
and refit points, so the findings do not depend on how the calls are batched.

View 2, ``metric_anomaly``, per model: event-time buckets of ``series_bucket_s`` give three
series (mean latency, cost per call, requests per bucket), each scored by a SeriesScorer (the same
class the NAB benchmark runs) once its first ``series_reference_points`` buckets have been seen.
A bucket is scored when the first event of a later bucket arrives; late events are not counted.
Empty buckets are zero requests only for a dense model (calls in at least ``dense_share`` of its
buckets so far); for a sparse one (a call every few buckets) they are missing data, not zeros.
The scorer raises one alarm per anomalous period (its refractory period); the incident the rule
opens (``incident:`` in policies/packs/reliability.yaml) groups an episode's findings and records
its end when the metric has been quiet for the rule's quiet time.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import orjson
import torch

from core.events import InferenceEvent
from core.model_registry import ConfigError, Registry
from core.signals import ObservedEvent, Signal, SourceRef
from core.taxonomy import Severity
from detectors.anomaly_models import EventProfile, VectorModel, pick_device, seed_of
from detectors.base import Detector, detector_settings
from detectors.series import SeriesScorer

DEFAULTS: dict[str, Any] = {
    "reference_events": 500,
    "holdout_fraction": 0.25,
    "false_alarm_rate": 0.001,
    "series_bucket_s": 60,
    "device": "auto",
    # not in riskwatch.yaml yet; these are the defaults
    "series_reference_points": 240,
    "series_window": 24,
    "min_column_share": 0.05,
    "torch_threads": 1,
    "max_gap_fill": 1440,
    "min_event_z": 6.0,
    "event_refractory": 100,
    "refit_events": 2000,
    "threshold_refresh": 100,
    "dense_share": 0.8,
    "series_options": {},  # further SeriesScorer settings (detectors/series.py)
}
USAGE = ("latency_ms", "input_tokens", "output_tokens", "cost_usd")
METRICS = ("latency_ms_mean", "cost_usd_per_call", "requests")
#: closed buckets of a batch, per model: (metric, bucket start, value, source of the closing event)
_Points = list[tuple[str, float, float, SourceRef]]


def _numeric(event: InferenceEvent) -> dict[str, float]:
    """The event's numeric values by column name; bools, strings and non-finite values skipped."""
    out: dict[str, float] = {}
    if event.input is not None:
        for k, v in event.input.features.items():
            if type(v) is int or type(v) is float:
                out["features." + k] = float(v)
    if event.output is not None and event.output.score is not None:
        out["output.score"] = float(event.output.score)
    usage = event.usage
    if usage is not None:
        for k in USAGE:
            v = getattr(usage, k)
            if v is not None:
                out["usage." + k] = float(v)
    return {k: v for k, v in out.items() if math.isfinite(v)}


def _severity(ratio: float) -> Severity:
    return Severity.HIGH if ratio >= 4 else Severity.MEDIUM if ratio >= 2 else Severity.LOW


@dataclass
class _Series:
    """View 2 state of one model: the open bucket and one scorer (or its reference) per metric."""

    start: float | None = None
    calls: int = 0
    lat: list[float] = field(default_factory=lambda: [0.0, 0.0])  # sum, count
    cost: list[float] = field(default_factory=lambda: [0.0, 0.0])
    late: int = 0
    buckets: int = 0  # closed buckets with calls
    empty: int = 0  # buckets without a call between them
    ref: dict[str, list[list[float]]] = field(default_factory=lambda: {m: [] for m in METRICS})
    scorers: dict[str, SeriesScorer] = field(default_factory=dict)


class AnomalyDetector(Detector):
    name: ClassVar[str] = "anomaly"
    version: ClassVar[str] = "2"  # 2: rolling standardisation and threshold, sparse buckets
    signal_kinds: ClassVar[tuple[str, ...]] = ("event_anomaly", "metric_anomaly")
    #: events a contract test must feed before signals can be expected (reference + calibration)
    warmup_events: ClassVar[int] = 3000

    def __init__(self, registry: Registry, **overrides: Any) -> None:
        super().__init__(registry)
        cfg = detector_settings(registry, "anomaly", DEFAULTS, overrides)
        if not (
            0 < cfg["holdout_fraction"] < 1
            and 0 < cfg["false_alarm_rate"] < 1
            and cfg["reference_events"] >= 20
            and cfg["series_bucket_s"] > 0
        ):
            raise ConfigError(f"detectors.anomaly: invalid settings {cfg}")
        self.cfg = cfg
        self.device = pick_device(cfg["device"])
        if cfg["torch_threads"]:
            torch.set_num_threads(max(1, min(int(cfg["torch_threads"]), os.cpu_count() or 1)))
        self._profiles: dict[str, EventProfile] = {}
        self._series: dict[str, _Series] = {}
        self._file_refs = {
            mid: self._load_reference(mid, path)
            for mid, entry in registry.models.items()
            if (path := (entry.model_extra or {}).get("anomaly_reference"))
        }

    @staticmethod
    def _load_reference(model_id: str, path: str) -> list[dict[str, float]]:
        try:
            lines = Path(path).read_bytes().splitlines()
            events = [InferenceEvent.model_validate(orjson.loads(x)) for x in lines if x.strip()]
        except (OSError, ValueError) as exc:
            raise ConfigError(f"models.{model_id}.anomaly_reference: {path}: {exc}") from exc
        rows = [_numeric(e) for e in events if not (e.usage and e.usage.error is not None)]
        if len(rows) < 20:
            raise ConfigError(
                f"models.{model_id}.anomaly_reference: {path}: under 20 usable events"
            )
        return rows

    # ------------------------------------------------------------------ processing
    def process(self, batch: Sequence[ObservedEvent]) -> list[Signal]:
        groups: dict[str, list[tuple[ObservedEvent, dict[str, float]]]] = {}
        pending: dict[str, _Points] = {}
        for observed in batch:
            event = observed.event
            self._bucket(observed, pending)
            if event.usage is not None and event.usage.error is not None:
                continue
            key = f"{event.model.id}\x1f{event.model.version}"
            groups.setdefault(key, []).append((observed, _numeric(event)))
        signals: list[Signal] = []
        for key, items in groups.items():
            signals += self._score_events(key, items)
        signals.sort(key=lambda s: (s.source.partition, s.source.offset) if s.source else (0, 0))
        for model, points in pending.items():
            signals += self._score_series(model, points)
        return signals

    def _profile(self, key: str, event: InferenceEvent) -> EventProfile:
        prof = self._profiles.get(key)
        if prof is None:
            prof = self._profiles[key] = EventProfile(event.model.id, event.model.version)
            if event.model.id in self._file_refs:
                prof.fit(self._file_refs[event.model.id], self.cfg, self.device)
        return prof

    def _score_events(
        self, key: str, items: list[tuple[ObservedEvent, dict[str, float]]]
    ) -> list[Signal]:
        cfg = self.cfg
        prof = self._profile(key, items[0][0].event)
        if prof.net is None:
            need = cfg["reference_events"] - len(prof.ref)
            prof.ref += [row for _, row in items[:need]]
            items = items[need:]
            if len(prof.ref) < cfg["reference_events"]:
                return []
            prof.fit(prof.ref, cfg, self.device)
            prof.ref = []
        signals: list[Signal] = []
        every, refit = int(cfg["threshold_refresh"]), int(cfg["refit_events"])
        while items:  # chunks end where the threshold is refreshed or the model refitted
            n = every - prof.scored % every
            if refit:
                n = min(n, refit - prof.since_refit)
            chunk, items = items[:n], items[n:]
            signals += self._score_chunk(prof, chunk)
            if refit and prof.since_refit >= refit:
                prof.refit(cfg, self.device)
            elif prof.scored % every == 0:
                prof.refresh(cfg)
        return signals

    def _score_chunk(
        self, prof: EventProfile, items: list[tuple[ObservedEvent, dict[str, float]]]
    ) -> list[Signal]:
        cfg = self.cfg
        x, raw, center, scale = prof.matrix([row for _, row in items], cfg["reference_events"])
        assert prof.net is not None and prof.threshold is not None
        recon = prof.net.reconstruct(x)
        err = (recon - x) ** 2
        scores = err.mean(axis=1)
        above = (scores > prof.threshold) & (np.abs(x).max(axis=1) >= cfg["min_event_z"])
        # the calibration window keeps the calls below the threshold (an episode of odd calls
        # must not blind the detector to the next one); the rolling median has them all
        keep = scores[~above].tolist()
        prof.recent = (prof.recent + keep)[-int(cfg["reference_events"]) :]
        prof.scored += len(items)
        prof.since_refit += len(items)
        out = []
        for i in range(len(items)):
            if not above[i]:
                prof.quiet += 1
                continue
            if prof.quiet <= cfg["event_refractory"]:  # the same episode: counted, not reported
                prof.quiet, prof.suppressed = 0, prof.suppressed + 1
                continue
            prof.alarms += 1
            expected = prof.expected(recon[i], center[i], scale[i])
            out.append(
                self._event_signal(
                    prof, items[i][0], float(scores[i]), err[i], x[i], raw[i], expected
                )
            )
            prof.quiet, prof.suppressed = 0, 0
        return out

    def _event_signal(
        self,
        prof: EventProfile,
        observed: ObservedEvent,
        score: float,
        err: np.ndarray,
        x: np.ndarray,
        raw: np.ndarray,
        expected: np.ndarray,
    ) -> Signal:
        assert prof.threshold is not None  # only a fitted profile scores events
        d = len(prof.columns)
        names = prof.columns + [f"{prof.columns[j]} (missing)" for j in prof.flags]
        total = float(err.sum()) or 1.0
        top = []
        for j in np.argsort(-err, kind="stable")[:3]:
            item: dict[str, Any] = {
                "feature": names[j],
                "contribution": round(float(err[j]) / total, 4),
                "z": round(float(x[j]), 3),
            }
            if j < d:
                item["value"] = None if np.isnan(raw[j]) else float(raw[j])
                item["expected"] = float(f"{expected[j]:.6g}")
            top.append(item)
        ratio = score / prof.threshold if prof.threshold else math.inf
        missing = [prof.columns[j] for j in range(d) if np.isnan(raw[j])]
        head = top[0]
        title = (
            f"Anomalous call: {head['feature']}"
            + (
                f" = {head['value']:.6g} (expected ~{head['expected']:.6g})"
                if head.get("value") is not None
                else ""
            )
            + f"; score {score:.3g} vs threshold {prof.threshold:.3g}"
        )
        event = observed.event
        return Signal(
            detector=self.name,
            kind="event_anomaly",
            model_id=event.model.id,
            model_version=event.model.version,
            title=title,
            severity=_severity(ratio),
            evidence={
                "score": round(score, 6),
                "score_name": "autoencoder mean squared error",
                "threshold": round(prof.threshold, 6),
                "ratio": round(ratio, 4),
                "top_features": top,
                "missing_imputed": missing,
                "false_alarm_rate": self.cfg["false_alarm_rate"],
                "reference_size": prof.reference_size,
                "threshold_window": len(prof.recent),
                "refits": prof.refits,
            },
            source=observed.source,
            event_id=event.event_id,
        )

    # ------------------------------------------------------------------ view 2
    def _bucket(self, observed: ObservedEvent, pending: dict[str, _Points]) -> None:
        event, size = observed.event, float(self.cfg["series_bucket_s"])
        ts = event.timestamp.timestamp()
        start = ts - ts % size
        s = self._series.get(event.model.id)
        if s is None:
            s = self._series[event.model.id] = _Series()
        if s.start is not None and start < s.start:
            s.late += 1
            return
        if s.start is not None and start > s.start:
            out = pending.setdefault(event.model.id, [])
            if s.lat[1]:
                out.append(("latency_ms_mean", s.start, s.lat[0] / s.lat[1], observed.source))
            if s.cost[1]:
                out.append(("cost_usd_per_call", s.start, s.cost[0] / s.cost[1], observed.source))
            out.append(("requests", s.start, float(s.calls), observed.source))
            gap = round((start - s.start) / size) - 1
            s.buckets += 1
            # a model with calls in nearly every bucket has an empty bucket as a zero rate; for a
            # sparse one (a call every few buckets) an empty bucket is missing data, not a zero
            dense = s.buckets >= self.cfg["dense_share"] * (s.buckets + s.empty + gap)
            s.empty += gap
            if dense:
                for g in range(1, min(gap, int(self.cfg["max_gap_fill"])) + 1):
                    out.append(("requests", s.start + g * size, 0.0, observed.source))
            s.calls, s.lat, s.cost = 0, [0.0, 0.0], [0.0, 0.0]
        s.start = start
        s.calls += 1
        usage = event.usage
        if usage is not None:
            if usage.latency_ms is not None:
                s.lat[0] += usage.latency_ms
                s.lat[1] += 1
            if usage.cost_usd is not None:
                s.cost[0] += usage.cost_usd
                s.cost[1] += 1

    def _score_series(
        self, model: str, points: list[tuple[str, float, float, SourceRef]]
    ) -> list[Signal]:
        s = self._series[model]
        signals: list[Signal] = []
        n_ref = int(self.cfg["series_reference_points"])
        for metric in METRICS:
            pts = [(b, v, src) for m, b, v, src in points if m == metric]
            if not pts:
                continue
            scorer = s.scorers.get(metric)
            if scorer is None:
                need = n_ref - len(s.ref[metric])
                s.ref[metric] += [[b, v] for b, v, _ in pts[:need]]
                pts = pts[need:]
                if len(s.ref[metric]) < n_ref:
                    continue
                scorer = SeriesScorer(
                    window=int(self.cfg["series_window"]),
                    holdout_fraction=self.cfg["holdout_fraction"],
                    false_alarm_rate=self.cfg["false_alarm_rate"],
                    seed=seed_of(f"{model}/{metric}"),
                    device=self.device,
                    **self.cfg["series_options"],
                )
                scorer.fit(np.array([v for _, v in s.ref[metric]]))
                s.scorers[metric], s.ref[metric] = scorer, []
            if not pts:
                continue
            values = np.array([v for _, v, _ in pts])
            expected = scorer.expected(values)
            z, alarms = scorer.detect(values)
            for i in np.flatnonzero(alarms):
                signals.append(
                    self._metric_signal(
                        model,
                        metric,
                        pts[i],
                        float(expected[i]),
                        float(z[i]),
                        float(scorer.thresholds[i]),
                    )
                )
        return signals

    def _metric_signal(
        self,
        model: str,
        metric: str,
        point: tuple[float, float, SourceRef],
        expected: float,
        z: float,
        threshold: float,
    ) -> Signal:
        start, value, source = point
        size = float(self.cfg["series_bucket_s"])
        stamp = str(int(start)) if float(start).is_integer() else repr(start)
        iso = datetime.fromtimestamp(start, UTC).isoformat().replace("+00:00", "Z")
        ratio = z / threshold if threshold > 0 else math.inf
        version = next((p.version for p in self._profiles.values() if p.model == model), None)
        return Signal(
            detector=self.name,
            kind="metric_anomaly",
            model_id=model,
            model_version=version,
            title=f"{metric} of {model} at {iso}: {value:.6g} (expected ~{expected:.6g})",
            severity=_severity(ratio),
            evidence={
                "metric": metric,
                "bucket_start": start,
                "bucket_end": start + size,
                "bucket_start_iso": iso,
                "value": value,
                "expected": None if math.isnan(expected) else expected,
                "score": round(min(z, 1e3), 6),
                "threshold": round(threshold, 6),
                "score_name": "forecast-error surprise (z)",
            },
            source=source,
            key=f"{model}:{metric}:{stamp}",
        )

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        series = {}
        for model, s in self._series.items():
            series[model] = {
                "start": s.start,
                "calls": s.calls,
                "lat": list(s.lat),
                "cost": list(s.cost),
                "late": s.late,
                "buckets": s.buckets,
                "empty": s.empty,
                "ref": {m: [list(p) for p in v] for m, v in s.ref.items()},
                "scorers": {m: sc.state_dict() for m, sc in s.scorers.items()},
            }
        return {"profiles": {k: p.state() for k, p in self._profiles.items()}, "series": series}

    def load_state(self, state: dict[str, Any]) -> None:
        self._profiles = {}
        for key, p in (state.get("profiles") or {}).items():
            fields = {k: v for k, v in p.items() if k != "net"}
            prof = EventProfile(**fields)
            if p.get("net") is not None:
                prof.net = VectorModel.from_state(p["net"], self.device)
            self._profiles[key] = prof
        self._series = {}
        for model, s in (state.get("series") or {}).items():
            self._series[model] = _Series(
                start=s["start"],
                calls=s["calls"],
                lat=list(s["lat"]),
                cost=list(s["cost"]),
                late=s["late"],
                buckets=s["buckets"],
                empty=s["empty"],
                ref={m: [list(p) for p in v] for m, v in s["ref"].items()},
                scorers={
                    m: SeriesScorer.from_state(sc, self.device) for m, sc in s["scorers"].items()
                },
            )
