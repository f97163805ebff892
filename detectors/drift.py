"""Drift detector (technical / model_reliability; policy pack ``reliability``).

Per model id, the columns of each successful call (failed calls, ``usage.error``, are left to the
usage SLO detector): every scalar input feature (``features.<name>``; nested values count as
missing), ``output.prediction``, ``output.score``, the text lengths ``input.text_length`` and
``output.text_length``, and ``usage.latency_ms|input_tokens|output_tokens|cost_usd``.

The model's first ``reference_size`` calls are its reference window (their column set is the
model's column set). After it, the last ``window_size`` calls form the current window, tested
against the reference every ``step`` calls (sliding). Per column, the test, threshold and verdict
are Evidently 0.7's defaults (or ``stattest``/``stattest_threshold`` when set), see
detectors/drift_stats.py; ``column_drift`` is raised per drifted column, ``dataset_drift`` when
the share of drifted columns is >= ``drift_share`` (Evidently's rule).

Signals: key ``{model}:{column}:{offset of the window's last call}`` (``{model}:dataset:...``
for dataset drift), source = that call's Kafka position, evidence = the test, its score and
threshold, and both windows' bounds (first/last timestamp, topic, partition, first/last offset).
A column (or the dataset) is raised only once it has drifted in ``confirm_windows`` consecutive
windows (default 2), then once per window while it stays drifted; ``consecutive_windows`` in the
evidence counts them. Each window's verdict is Evidently's; the confirmation exists because one
test per column per window at p < 0.05 would otherwise file a false finding every few windows on
clean traffic (set ``confirm_windows: 1`` for Evidently's per-window alerts).

Cost on the event path: ~6 us per call (one small row into a ring buffer). A window's tests
(~2-3 ms per column, ~40x cheaper than an Evidently Report, bench/drift.py) run inline when the
window closes; with ``background: true`` they run in a worker thread and their signals come out
of the *next* ``process`` call (always that one: it waits for them, so output is deterministic);
``flush()`` returns them at once. Pending windows are part of the state, so a restart loses none.
Memory and state per model: the reference plus the last ``window_size`` rows. A model's column set
is fixed by its reference; later new columns are ignored, and versions share one reference.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar

from core.events import InferenceEvent
from core.model_registry import ConfigError, Registry
from core.signals import ObservedEvent, Signal, SourceRef
from core.taxonomy import Severity
from detectors import drift_stats as ds
from detectors.base import Detector, detector_settings

DEFAULTS: dict[str, Any] = {
    "reference_size": 1000,
    "window_size": 500,
    "step": 250,
    "stattest": None,
    "stattest_threshold": None,
    "drift_share": 0.5,
    "confirm_windows": 2,
    "background": False,  # not in riskwatch.yaml: run window tests in a worker thread
}
USAGE = ("latency_ms", "input_tokens", "output_tokens", "cost_usd")
MAX_STR = 200  # longer categorical values are cut (bounds state size; such columns are text)
Meta = list[Any]  # [iso timestamp, topic, partition, offset]
DATASET = "(dataset)"  # streak key of the dataset-drift verdict; no column is named so


def extract_row(event: InferenceEvent) -> dict[str, Any] | None:
    """The call's column values (JSON scalars; non-finite numbers and nested values -> None);
    None for a failed call."""
    usage = event.usage
    if usage is not None and usage.error is not None:
        return None
    row: dict[str, Any] = {}
    if event.input is not None:
        for k, v in event.input.features.items():
            row["features." + k] = _scalar(v)
        row["input.text_length"] = None if event.input.text is None else len(event.input.text)
    out = event.output
    row["output.prediction"] = None if out is None else _scalar(out.prediction)
    row["output.score"] = None if out is None else _scalar(out.score)
    row["output.text_length"] = None if out is None or out.text is None else len(out.text)
    for k in USAGE:
        row["usage." + k] = None if usage is None else _scalar(getattr(usage, k))
    return row


def _scalar(v: Any) -> Any:
    """A JSON scalar the state can hold: bool, 64-bit int, finite float, or a string cut to
    MAX_STR characters; anything else (nested, non-finite) counts as missing."""
    if isinstance(v, bool) or (isinstance(v, int) and -(2**63) <= v < 2**63):
        return v
    if isinstance(v, int):
        return float(v)
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    return v[:MAX_STR] if isinstance(v, str) else None


def _meta(observed: ObservedEvent) -> Meta:
    src = observed.source
    return [observed.event.timestamp.isoformat(), src.topic, src.partition, src.offset]


def window_bounds(metas: Sequence[Meta]) -> dict[str, Any]:
    """First/last timestamp and Kafka position of a window, plus the offset range per partition."""
    first, last = metas[0], metas[-1]
    parts: dict[tuple[str, int], list[int]] = {}
    for _, topic, partition, offset in metas:
        r = parts.setdefault((topic, partition), [offset, offset])
        r[0], r[1] = min(r[0], offset), max(r[1], offset)
    return {
        "events": len(metas),
        "first_timestamp": first[0],
        "last_timestamp": last[0],
        "topic": last[1],
        "partition": last[2],
        "first_offset": first[3],
        "last_offset": last[3],
        "sources": [
            {"topic": t, "partition": p, "first_offset": lo, "last_offset": hi}
            for (t, p), (lo, hi) in sorted(parts.items())
        ],
    }


@dataclass
class _Model:
    """One model's state: the reference (rows while collecting, then columns) and the ring
    buffer of its last ``window_size`` rows (aligned with ``columns``)."""

    ref_rows: list[dict[str, Any]] = field(default_factory=list)
    ref_metas: list[Meta] = field(default_factory=list)  # first and last only
    columns: list[str] | None = None
    reference: dict[str, list[Any]] | None = None
    reference_bounds: dict[str, Any] | None = None
    rows: deque[list[Any]] = field(default_factory=deque)
    metas: deque[Meta] = field(default_factory=deque)
    seen: int = 0  # calls since the reference was complete
    streaks: dict[str, int] = field(default_factory=dict)  # consecutive drifted windows


@dataclass
class _Pending:
    """A current window whose tests are running or waiting to run."""

    model: str
    version: str | None
    end: int  # _Model.seen at the window's last call
    rows: list[list[Any]]
    metas: list[Meta]
    future: Future[ds.WindowResult] | None = None


class DriftDetector(Detector):
    name: ClassVar[str] = "drift"
    version: ClassVar[str] = "1"
    signal_kinds: ClassVar[tuple[str, ...]] = ("column_drift", "dataset_drift")
    #: simulated events a contract test feeds before signals can be expected (the busiest
    #: model's 1000-call reference plus a few windows)
    warmup_events: ClassVar[int] = 5000

    def __init__(self, registry: Registry, **overrides: Any) -> None:
        super().__init__(registry)
        cfg = detector_settings(registry, "drift", DEFAULTS, overrides)
        ints = (cfg["reference_size"], cfg["window_size"], cfg["step"], cfg["confirm_windows"])
        thr = cfg["stattest_threshold"]
        if not (
            all(type(v) is int and v > 0 for v in ints)
            and isinstance(cfg["drift_share"], (int, float))
            and 0 <= cfg["drift_share"] <= 1
            and (thr is None or (isinstance(thr, (int, float)) and thr > 0))
            and (cfg["stattest"] is None or isinstance(cfg["stattest"], str))
        ):
            raise ConfigError(f"detectors.drift: invalid settings {cfg}")
        if cfg["stattest"] is not None:
            try:
                ds.check_stattest(cfg["stattest"])
            except ValueError as exc:
                raise ConfigError(f"detectors.drift.stattest: {exc}") from exc
        self.cfg = cfg
        self.reference_size: int = cfg["reference_size"]
        self.window_size: int = cfg["window_size"]
        self.step: int = cfg["step"]
        self._models: dict[str, _Model] = {}
        self._pending: list[_Pending] = []
        self._series: dict[str, dict[str, tuple[Any, Any]]] = {}  # model -> reference series
        self._executor: ThreadPoolExecutor | None = None

    def load(self) -> None:
        ds.evidently()

    # ------------------------------------------------------------------ event path

    def process(self, batch: Sequence[ObservedEvent]) -> list[Signal]:
        signals = self.flush()  # windows handed to the worker thread by the previous call
        for observed in batch:
            row = extract_row(observed.event)
            if row is None:
                continue
            model_id = observed.event.model.id
            m = self._models.get(model_id)
            if m is None:
                m = self._models[model_id] = _Model(
                    rows=deque(maxlen=self.window_size), metas=deque(maxlen=self.window_size)
                )
            if m.columns is None:
                self._collect_reference(m, row, _meta(observed))
                continue
            m.rows.append([row.get(c) for c in m.columns])
            m.metas.append(_meta(observed))
            m.seen += 1
            if m.seen >= self.window_size and (m.seen - self.window_size) % self.step == 0:
                pending = _Pending(
                    model_id, observed.event.model.version, m.seen, list(m.rows), list(m.metas)
                )
                if self.cfg["background"]:
                    self._pending.append(pending)
                    self._submit(pending)
                else:
                    signals += self._signals(pending, self._evaluate(pending))
        return signals

    def _collect_reference(self, m: _Model, row: dict[str, Any], meta: Meta) -> None:
        m.ref_rows.append(row)
        m.ref_metas = [m.ref_metas[0] if m.ref_metas else meta, meta]
        if len(m.ref_rows) < self.reference_size:
            return
        columns = sorted({k for r in m.ref_rows for k in r})
        m.columns = columns
        m.reference = {c: [r.get(c) for r in m.ref_rows] for c in columns}
        m.reference_bounds = window_bounds(m.ref_metas) | {"events": len(m.ref_rows)}
        m.ref_rows, m.ref_metas = [], []

    # ------------------------------------------------------------------ window tests

    def _submit(self, pending: _Pending) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drift")
        pending.future = self._executor.submit(self._evaluate, pending)

    def _evaluate(self, pending: _Pending) -> ds.WindowResult:
        m = self._models[pending.model]
        assert m.columns is not None and m.reference is not None
        series = self._series.get(pending.model)
        if series is None:  # one worker thread at most, or the caller's: no race
            series = self._series[pending.model] = {
                c: ds.reference_series(v) for c, v in m.reference.items()
            }
        return ds.evaluate_window(
            series, m.columns, pending.rows, self.cfg["stattest"], self.cfg["stattest_threshold"]
        )

    def flush(self) -> list[Signal]:
        """Finish every pending window (waiting for the worker thread) and return its signals,
        in the order the windows closed."""
        signals: list[Signal] = []
        pending, self._pending = self._pending, []
        for p in pending:
            result = p.future.result() if p.future is not None else self._evaluate(p)
            signals += self._signals(p, result)
        return signals

    drain = flush

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def _signals(self, p: _Pending, result: ds.WindowResult) -> list[Signal]:
        m = self._models[p.model]
        current = window_bounds(p.metas)
        last = p.metas[-1]
        source = SourceRef(last[1], last[2], last[3])
        end = f"{last[3]}"
        signals: list[Signal] = []
        for c in result.columns:
            m.streaks[c.column] = m.streaks.get(c.column, 0) + 1 if c.drifted else 0
        confirm = self.cfg["confirm_windows"]
        for c in sorted(result.columns, key=lambda c: c.column):
            if not c.drifted or m.streaks[c.column] < confirm:
                continue
            shown = "n/a" if c.score is None else f"{c.score:.3g}"
            evidence: dict[str, Any] = {
                "column": c.column,
                "column_type": c.column_type,
                "stattest": c.stattest,
                "stattest_display": c.stattest_display,
                "score_kind": c.score_kind,
                c.score_kind: c.score,
                "threshold": c.threshold,
                "reference_rows": c.reference_rows,
                "current_rows": c.current_rows,
                "consecutive_windows": m.streaks[c.column],
                "reference_window": m.reference_bounds,
                "current_window": current,
            }
            signals.append(
                self._signal(
                    p,
                    "column_drift",
                    Severity.MEDIUM,
                    f"{p.model}:{c.column}:{end}",
                    source,
                    f"Drift in {c.column} of {p.model}: {c.stattest_display} {shown} "
                    f"(threshold {c.threshold:g})",
                    evidence,
                )
            )
        share = self.cfg["drift_share"]
        dataset_drift = result.dataset_drift(share)
        m.streaks[DATASET] = m.streaks.get(DATASET, 0) + 1 if dataset_drift else 0
        if dataset_drift and m.streaks[DATASET] >= confirm:
            drifted = sorted(result.drifted)
            evidence = {
                "drifted_columns": drifted,
                "number_of_drifted_columns": len(drifted),
                "number_of_columns": len(result.columns),
                "share": round(result.share, 6),
                "drift_share": share,
                "skipped_columns": list(result.skipped),
                "consecutive_windows": m.streaks[DATASET],
                "reference_window": m.reference_bounds,
                "current_window": current,
            }
            signals.append(
                self._signal(
                    p,
                    "dataset_drift",
                    Severity.HIGH,
                    f"{p.model}:dataset:{end}",
                    source,
                    f"Dataset drift in {p.model}: {len(drifted)} of {len(result.columns)} columns "
                    f"drifted (share {result.share:.2f} >= {share:g})",
                    evidence,
                )
            )
        return signals

    def _signal(
        self,
        p: _Pending,
        kind: str,
        severity: Severity,
        key: str,
        source: SourceRef,
        title: str,
        evidence: dict[str, Any],
    ) -> Signal:
        return Signal(
            detector=self.name,
            kind=kind,
            model_id=p.model,
            model_version=p.version,
            title=title,
            severity=severity,
            evidence=evidence,
            source=source,
            key=key,
        )

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        models = {
            mid: {
                "ref_rows": list(m.ref_rows),
                "ref_metas": m.ref_metas,
                "columns": m.columns,
                "reference": m.reference,
                "reference_bounds": m.reference_bounds,
                "rows": list(m.rows),
                "metas": list(m.metas),
                "seen": m.seen,
                "streaks": dict(m.streaks),
            }
            for mid, m in self._models.items()
        }
        pending = [
            {"model": p.model, "version": p.version, "end": p.end, "rows": p.rows, "metas": p.metas}
            for p in self._pending
        ]
        return {"models": models, "pending": pending}

    def load_state(self, state: dict[str, Any]) -> None:
        self._pending, self._series = [], {}
        self._models = {
            mid: _Model(
                ref_rows=list(s["ref_rows"]),
                ref_metas=list(s["ref_metas"]),
                columns=s["columns"],
                reference=s["reference"],
                reference_bounds=s["reference_bounds"],
                rows=deque(s["rows"], maxlen=self.window_size),
                metas=deque(s["metas"], maxlen=self.window_size),
                seen=s["seen"],
                streaks=dict(s["streaks"]),
            )
            for mid, s in state.get("models", {}).items()
        }
        for p in state.get("pending", []):
            pending = _Pending(p["model"], p["version"], p["end"], p["rows"], p["metas"])
            self._pending.append(pending)
            if self.cfg["background"]:
                self._submit(pending)
