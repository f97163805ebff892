"""Drift detector (technical / model_reliability; policy pack ``reliability``).

Per model id, the columns of each successful call (detectors/drift/rows.py). The model's first
``reference_size`` calls are its reference (their column set is the model's column set). After
it, the last ``window_size`` calls form the current window, tested every ``step`` calls
(sliding): K-S for numerical columns, chi-square for categorical ones (detectors/drift/
stattests.py), each on the whole window and on its newest ``step`` calls (a shift that began
inside the window is clearest there: a 0.5 sd shift is named by the second window after its
onset with probability >= 0.93 at any phase, README "Data drift"), and Benjamini-Hochberg
across all the window's tests at ``false_alarm_rate``: when nothing drifts, a window names a
column with probability at most ``false_alarm_rate`` (1e-4: one false episode per 10,000
windows, 2.5 million calls at step 250, expected).

One episode, one finding. A column that BH rejects opens an episode: one ``column_drift`` signal
(key ``{model}:{column}:{offset}``, the offset of the opening window's last call). While the
episode lasts the detector emits nothing for that column; it counts the episode's windows and
keeps its worst p-value. The episode lasts while the column's p-value stays at or below
``hold_p_value`` (hysteresis: drift already found needs less evidence to persist), and ends:

* recovered, after ``end_windows`` windows in a row above ``hold_p_value``; or
* reference refitted, when it has lasted ``refit_windows`` windows: the column's latest
  ``reference_size`` values become its new reference (the population moved for good; a
  reference that never adapts would keep the column drifted forever) and the column is tested
  again once ``window_size`` calls newer than that reference have arrived.

Either end emits one info ``column_drift_ended`` signal (key ``...:ended``) with the episode's
windows, worst p-value and reason. ``dataset_drift`` / ``dataset_drift_ended`` do the same for
the model: open while the share of tested columns with an open episode is >= ``drift_share``.

Evidence: the test, statistic, p-value, BH-adjusted p-value and level, what it covered (the
window or its newest calls) and the bounds (time, topic, partition, offsets) of those calls and
of the reference. Episodes are part of the
saved state (format 2; a format-1 state keeps its reference and buffer, episodes start empty).
Memory per model: the reference plus the last max(reference_size, window_size) rows.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from core.model_registry import ConfigError, Registry
from core.signals import ObservedEvent, Signal, SourceRef
from core.taxonomy import Severity
from detectors.base import Detector, detector_settings
from detectors.drift import stattests as st
from detectors.drift.rows import Meta, extract_row, meta, window_bounds

DEFAULTS: dict[str, Any] = {
    "reference_size": 1000,
    "window_size": 500,
    "step": 250,
    "false_alarm_rate": 1e-4,
    "hold_p_value": 0.01,
    "end_windows": 2,
    "refit_windows": 8,
    "drift_share": 0.5,
}
STATE_FORMAT = 2
DATASET = "(dataset)"  # episode key of the model's dataset drift; no column is named so
WINDOW, RECENT = "window", "recent"  # what a test covers: the window, or its newest step calls


@dataclass
class _Model:
    """One model's state: the reference (rows while collecting, then columns), the ring buffer of
    its last rows (aligned with ``columns``) and its open episodes."""

    ref_rows: list[dict[str, Any]] = field(default_factory=list)
    ref_metas: list[Meta] = field(default_factory=list)  # first and last only
    columns: list[str] | None = None
    reference: dict[str, list[Any]] | None = None
    reference_bounds: dict[str, Any] | None = None
    column_bounds: dict[str, dict[str, Any]] = field(default_factory=dict)  # refitted columns
    tested_from: dict[str, int] = field(default_factory=dict)  # refitted: ``seen`` at the refit
    rows: deque[list[Any]] = field(default_factory=deque)
    metas: deque[Meta] = field(default_factory=deque)
    seen: int = 0  # calls since the reference was complete
    episodes: dict[str, dict[str, Any]] = field(default_factory=dict)  # column or DATASET

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref_rows": list(self.ref_rows),
            "ref_metas": self.ref_metas,
            "columns": self.columns,
            "reference": self.reference,
            "reference_bounds": self.reference_bounds,
            "column_bounds": self.column_bounds,
            "tested_from": dict(self.tested_from),
            "rows": list(self.rows),
            "metas": list(self.metas),
            "seen": self.seen,
            "episodes": {k: dict(v) for k, v in self.episodes.items()},
        }

    @classmethod
    def from_dict(cls, s: dict[str, Any], buffer: int) -> _Model:
        return cls(
            ref_rows=list(s["ref_rows"]),
            ref_metas=list(s["ref_metas"]),
            columns=s["columns"],
            reference=s["reference"],
            reference_bounds=s["reference_bounds"],
            column_bounds=dict(s.get("column_bounds", {})),
            tested_from=dict(s.get("tested_from", {})),
            rows=deque(s["rows"], maxlen=buffer),
            metas=deque(s["metas"], maxlen=buffer),
            seen=s["seen"],
            episodes={k: dict(v) for k, v in s.get("episodes", {}).items()},
        )


class DriftDetector(Detector):
    name: ClassVar[str] = "drift"
    version: ClassVar[str] = "2"  # 2: episodes, refitted references, in-house tests with BH
    signal_kinds: ClassVar[tuple[str, ...]] = (
        "column_drift",
        "dataset_drift",
        "column_drift_ended",
        "dataset_drift_ended",
    )
    #: simulated events a contract test feeds before signals can be expected (the busiest
    #: model's 1000-call reference plus a few windows)
    warmup_events: ClassVar[int] = 5000
    #: ...and where the simulator's data drift starts in them: stable traffic raises nothing
    simulated_drift_from: ClassVar[float] = 0.5

    def __init__(self, registry: Registry, **overrides: Any) -> None:
        super().__init__(registry)
        cfg = detector_settings(registry, "drift", DEFAULTS, overrides)
        ints = ("reference_size", "window_size", "step", "end_windows", "refit_windows")
        rates = ("false_alarm_rate", "hold_p_value")
        if not (
            all(type(cfg[k]) is int and cfg[k] > 0 for k in ints)
            and all(isinstance(cfg[k], (int, float)) and 0 < cfg[k] < 1 for k in rates)
            and isinstance(cfg["drift_share"], (int, float))
            and 0 < cfg["drift_share"] <= 1
        ):
            raise ConfigError(f"detectors.drift: invalid settings {cfg}")
        self.cfg = cfg
        self.reference_size: int = cfg["reference_size"]
        self.window_size: int = cfg["window_size"]
        self.step: int = cfg["step"]
        self.buffer = max(self.reference_size, self.window_size)
        self.q: float = cfg["false_alarm_rate"]
        self._models: dict[str, _Model] = {}
        self._prepared: dict[str, dict[str, st.Prepared]] = {}  # model -> column -> reference

    # ------------------------------------------------------------------ event path

    def process(self, batch: Sequence[ObservedEvent]) -> list[Signal]:
        signals: list[Signal] = []
        for observed in batch:
            row = extract_row(observed.event)
            if row is None:
                continue
            model_id = observed.event.model.id
            m = self._models.get(model_id)
            if m is None:
                m = self._models[model_id] = _Model(
                    rows=deque(maxlen=self.buffer), metas=deque(maxlen=self.buffer)
                )
            if m.columns is None:
                self._collect_reference(m, row, meta(observed))
                continue
            m.rows.append([row.get(c) for c in m.columns])
            m.metas.append(meta(observed))
            m.seen += 1
            if m.seen >= self.window_size and (m.seen - self.window_size) % self.step == 0:
                signals += self._window(model_id, observed.event.model.version, m)
        return signals

    def flush(self) -> list[Signal]:
        """Windows are tested as they close: nothing is ever pending."""
        return []

    drain = flush

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

    def _prepared_reference(self, model_id: str, m: _Model, column: str) -> st.Prepared:
        cache = self._prepared.setdefault(model_id, {})
        if column not in cache:
            assert m.reference is not None
            cache[column] = st.prepare(m.reference[column])
        return cache[column]

    # ------------------------------------------------------------------ window tests

    def _window(self, model_id: str, version: str | None, m: _Model) -> list[Signal]:
        w = self.window_size
        rows, metas = list(m.rows)[-w:], list(m.metas)[-w:]
        verdicts = self._test_columns(model_id, m, rows)
        ctx = _Window(model_id, version, window_bounds(metas), metas[-1], len(verdicts))
        recent = window_bounds(metas[-self.step :])
        signals: list[Signal] = []
        for v in verdicts:
            column, p_value = v.test.column, v.test.p_value
            ep = m.episodes.get(column)
            if ep is None:
                if v.rejected:
                    bounds = recent if v.span == RECENT else ctx.bounds
                    m.episodes[column] = _open(ctx, p_value, bounds)
                    signals.append(self._drift_signal(ctx, m, v, bounds))
                continue
            reason = self._advance(ep, v.min_p, v.rejected)
            if reason == "reference_refitted":
                self._refit(model_id, m, column)
            if reason is not None:
                del m.episodes[column]
                signals.append(self._ended_signal(ctx, column, ep, reason))
        signals += self._dataset(ctx, m, [v.test.column for v in verdicts])
        return signals

    def _test_columns(self, model_id: str, m: _Model, rows: list[list[Any]]) -> list[_Verdict]:
        """Each column's tests, on the whole window and on its newest ``step`` calls (a shift
        that began inside the window shows there first), with BH across all of them; per
        column (sorted), the test with the smallest adjusted p-value."""
        assert m.columns is not None
        w, step = self.window_size, self.step
        tests: list[tuple[st.ColumnTest, str]] = []
        for j, c in enumerate(m.columns):
            if m.seen - m.tested_from.get(c, 0) < w:  # refitted: the window overlaps it
                continue
            ref, values = self._prepared_reference(model_id, m, c), [x[j] for x in rows]
            whole = st.column_test(c, ref, values)
            if whole is None:
                continue
            tests.append((whole, WINDOW))
            if step < w and (newest := st.column_test(c, ref, values[-step:])) is not None:
                tests.append((newest, RECENT))
        rejected, adjusted = st.benjamini_hochberg([t.p_value for t, _ in tests], self.q)
        best: dict[str, _Verdict] = {}
        for (t, span), rej, adj in zip(tests, rejected, adjusted, strict=True):
            v = best.get(t.column)
            if v is None or adj < v.adjusted:
                best[t.column] = _Verdict(
                    t, span, adj, rej or (v is not None and v.rejected), len(tests)
                )
            else:
                v.rejected = v.rejected or rej
            best[t.column].min_p = min(t.p_value, v.min_p if v is not None else 1.0)
        return [best[c] for c in sorted(best)]

    def _advance(self, ep: dict[str, Any], p_value: float, rejected: bool) -> str | None:
        """One more window of an open episode; the reason it ends now, if it does."""
        ep["windows"] += 1
        ep["worst_p_value"] = min(ep["worst_p_value"], p_value)
        ep["last_p_value"] = p_value
        calm = not rejected and p_value > self.cfg["hold_p_value"]
        ep["calm_windows"] = ep["calm_windows"] + 1 if calm else 0
        if ep["calm_windows"] >= self.cfg["end_windows"]:
            return "recovered"
        if ep["windows"] >= self.cfg["refit_windows"]:
            return "reference_refitted"
        return None

    def _refit(self, model_id: str, m: _Model, column: str) -> None:
        """The column's latest ``reference_size`` values become its reference."""
        assert m.columns is not None and m.reference is not None
        j = m.columns.index(column)
        rows, metas = list(m.rows)[-self.reference_size :], list(m.metas)[-self.reference_size :]
        m.reference[column] = [x[j] for x in rows]
        m.column_bounds[column] = window_bounds(metas)
        m.tested_from[column] = m.seen
        self._prepared.get(model_id, {}).pop(column, None)

    def _dataset(self, ctx: _Window, m: _Model, tested: list[str]) -> list[Signal]:
        drifting = sorted(c for c in tested if c in m.episodes)
        share = len(drifting) / len(tested) if tested else 0.0
        now = bool(tested) and share >= self.cfg["drift_share"]
        ep = m.episodes.get(DATASET)
        evidence = {
            "drifted_columns": drifting,
            "number_of_drifted_columns": len(drifting),
            "number_of_columns": len(tested),
            "share": round(share, 6),
            "drift_share": self.cfg["drift_share"],
            "current_window": ctx.bounds,
        }
        if ep is None and now:
            m.episodes[DATASET] = _open(ctx, 0.0, ctx.bounds)
            title = (
                f"Dataset drift in {ctx.model}: {len(drifting)} of {len(tested)} columns drifted "
                f"(share {share:.2f} >= {self.cfg['drift_share']:g})"
            )
            key = f"{ctx.model}:dataset:{ctx.last[3]}"
            evidence["reference_window"] = m.reference_bounds
            return [self._signal(ctx, "dataset_drift", Severity.HIGH, key, title, evidence)]
        if ep is None:
            return []
        ep["windows"] += 1
        if now:
            return []
        del m.episodes[DATASET]
        evidence |= {"windows": ep["windows"], "started_window": ep["started_window"]}
        key = f"{ctx.model}:dataset:{ep['started_offset']}:ended"
        title = f"Dataset drift in {ctx.model} ended after {ep['windows']} windows"
        return [self._signal(ctx, "dataset_drift_ended", Severity.INFO, key, title, evidence)]

    # ------------------------------------------------------------------ signals

    def _drift_signal(self, ctx: _Window, m: _Model, v: _Verdict, bounds: dict[str, Any]) -> Signal:
        r, q = v.test, self.q
        evidence: dict[str, Any] = {
            "column": r.column,
            "column_type": r.column_type,
            "stattest": r.stattest,
            "stattest_display": r.stattest_display,
            "score_kind": "p_value",
            "statistic": r.statistic,
            "p_value": r.p_value,
            "adjusted_p_value": v.adjusted,
            "threshold": q,
            "correction": "benjamini-hochberg",
            "tested": "newest calls of the window" if v.span == RECENT else "window",
            "columns_tested": ctx.tested,
            "tests": v.tests,
            "reference_rows": r.reference_rows,
            "current_rows": r.current_rows,
            "reference_window": m.column_bounds.get(r.column, m.reference_bounds),
            "current_window": bounds,
        }
        title = (
            f"Drift in {r.column} of {ctx.model}: {r.stattest_display} {r.p_value:.3g} "
            f"(BH-adjusted {v.adjusted:.3g} <= {q:g})"
        )
        key = f"{ctx.model}:{r.column}:{ctx.last[3]}"
        return self._signal(ctx, "column_drift", Severity.MEDIUM, key, title, evidence)

    def _ended_signal(self, ctx: _Window, column: str, ep: dict[str, Any], reason: str) -> Signal:
        evidence = {
            "column": column,
            "reason": reason,
            "windows": ep["windows"],
            "worst_p_value": ep["worst_p_value"],
            "last_p_value": ep["last_p_value"],
            "started_window": ep["started_window"],
            "current_window": ctx.bounds,
        }
        how = "the reference was refitted to it" if reason == "reference_refitted" else reason
        title = f"Drift in {column} of {ctx.model} ended after {ep['windows']} windows: {how}"
        key = f"{ctx.model}:{column}:{ep['started_offset']}:ended"
        return self._signal(ctx, "column_drift_ended", Severity.INFO, key, title, evidence)

    def _signal(
        self,
        ctx: _Window,
        kind: str,
        severity: Severity,
        key: str,
        title: str,
        evidence: dict[str, Any],
    ) -> Signal:
        return Signal(
            detector=self.name,
            kind=kind,
            model_id=ctx.model,
            model_version=ctx.version,
            title=title,
            severity=severity,
            evidence=evidence,
            source=SourceRef(ctx.last[1], ctx.last[2], ctx.last[3]),
            key=key,
        )

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        models = {mid: m.to_dict() for mid, m in self._models.items()}
        return {"format": STATE_FORMAT, "models": models}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore a saved state; a format-1 state (version 1: no episodes) keeps its reference
        and buffer, and its drifting columns open new episodes when they drift again."""
        self._prepared = {}
        self._models = {
            mid: _Model.from_dict(s, self.buffer) for mid, s in state.get("models", {}).items()
        }


@dataclass(frozen=True, slots=True)
class _Window:
    model: str
    version: str | None
    bounds: dict[str, Any]
    last: Meta
    tested: int


@dataclass(slots=True)
class _Verdict:
    """A column's verdict in a window: its test with the smallest BH-adjusted p-value, on the
    whole window or its newest calls; rejected if any of its tests is."""

    test: st.ColumnTest
    span: str
    adjusted: float
    rejected: bool
    tests: int  # hypotheses in the window's BH
    min_p: float = 1.0


def _open(ctx: _Window, p_value: float, bounds: dict[str, Any]) -> dict[str, Any]:
    return {
        "started_offset": ctx.last[3],
        "started_window": bounds,
        "windows": 1,
        "calm_windows": 0,
        "worst_p_value": p_value,
        "last_p_value": p_value,
    }
