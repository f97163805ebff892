"""Fairness detector (legal / ethics; policy pack ``ethics``).

Per model id and per protected attribute of the data subject (the model's registry
``protected_attributes``; for a model missing from the registry, every key of
``subject.protected``), over windows of the model's decisions:

* ``demographic_parity``: the last ``window_size`` decisions, every ``step`` decisions (sliding).
  Per group of the attribute, the selection rate (share of ``output.prediction ==
  positive_label``); raised when the demographic parity ratio (lowest / highest rate) is below
  ``parity_ratio_threshold`` (the four-fifths rule, 0.8) and the difference (highest - lowest)
  exceeds ``parity_difference_threshold`` (0.1): at low base rates (fraud, 1-2% selected) the
  ratio of two small rates swings widely on a handful of decisions; set it to 0 for the plain
  four-fifths rule.
* ``equalized_odds``: the last ``window_size`` decisions whose true outcome is known, every
  ``step`` of them, in the order their labels were joined. Labels are riskwatch.feedback/v1 events
  on the same topic (``label`` compared with ``positive_label`` as the prediction is). Per group,
  TPR and FPR; raised when the equalized odds difference (the larger of the TPR and FPR gaps)
  exceeds ``equalized_odds_threshold`` (0.15). The equal opportunity (TPR) difference is in the
  evidence; the window's bounds are those of its decisions, taken in join order.

Metrics are fairlearn's (detectors/fairness_metrics.py; tests compare them to 1e-9). Groups with
fewer than ``min_group_size`` decisions (for TPR/FPR also: fewer than ``min_outcome_count``
positive or negative labels) are listed in the evidence with the reason but not compared; with
fewer than two compared groups no verdict is given. As in detectors/drift.py, a metric is raised
only once it has failed in ``confirm_windows`` consecutive windows of its attribute (default 2;
``consecutive_windows`` in the evidence), then once per window while it fails: one window of a
few hundred decisions still leaves chance gaps between groups of some dozens. Failed calls
(``usage.error``), calls without a scalar prediction and calls without any monitored attribute are
not counted. Defaults are tuned so that the simulator's clean traffic raises nothing over 20 seeds
while its injected bias (credit-scoring, age 18-29) is always found.

Joining labels: a decision waits for its label in ``pending predictions`` and a label that comes
first (its event not yet processed) waits in ``pending labels``; both are part of the state, so a
restart loses neither. They are saved as keyed entries (``saved_state``): a batch writes the
entries it added and deletes those it joined or dropped, not the whole lists (up to
``max_pending`` each) every batch. An entry is dropped once its timestamp is more than
``label_ttl_s`` behind the newest timestamp seen (event time, so a replay drops the same ones),
oldest arrival first, and each list keeps at most ``max_pending`` entries. A label is joined
only to an event of the model it names; the first label of an event is used.

Evidence never holds subject identifiers: group values (cut to 64 characters), counts, rates,
the metric, its threshold and the window's time and Kafka offset bounds. Memory per model: two
windows of ``window_size`` small rows, plus the pending lists.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson

from core.events import InferenceEvent
from core.model_registry import ConfigError, Registry
from core.signals import ObservedEvent, ObservedFeedback, Signal, SourceRef, StateEntries
from core.taxonomy import Severity
from detectors import fairness_metrics as fm
from detectors.base import Detector, detector_settings
from detectors.drift import window_bounds

DEFAULTS: dict[str, Any] = {
    "window_size": 500,
    "step": 250,
    "min_group_size": 30,
    "positive_label": 1,
    "positive_labels": {},
    "parity_ratio_threshold": 0.8,
    "parity_difference_threshold": 0.1,
    "equalized_odds_threshold": 0.15,
    "min_outcome_count": 30,
    "confirm_windows": 2,
    "label_ttl_s": 7 * 86400,
    "max_pending": 100_000,
}
MAX_GROUP = 64  # characters of a group value kept
MAX_VALUE = 256  # characters of a string prediction or label kept (longer ones never match)
Meta = list[Any]  # [iso timestamp, topic, partition, offset]


def _is_scalar(v: Any) -> bool:
    return isinstance(v, (bool, int, float, str))


def _cut(v: Any) -> Any:
    return v[: MAX_VALUE + 1] if isinstance(v, str) else v


def group_value(value: Any) -> str:
    """A protected attribute's value as a group key: strings as they are, others as JSON."""
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text[:MAX_GROUP]


def _config(registry: Registry, overrides: dict[str, Any]) -> dict[str, Any]:
    cfg = detector_settings(registry, "fairness", DEFAULTS, overrides)
    problems = [
        k
        for k in (
            "window_size",
            "step",
            "min_group_size",
            "max_pending",
            "min_outcome_count",
            "confirm_windows",
        )
        if not (type(cfg[k]) is int and cfg[k] > 0)
    ]
    ratio, odds, ttl = (
        cfg["parity_ratio_threshold"],
        cfg["equalized_odds_threshold"],
        cfg["label_ttl_s"],
    )
    if not (_number(ratio) and 0 < ratio <= 1):
        problems.append("parity_ratio_threshold (a number in (0, 1])")
    if not (
        _number(cfg["parity_difference_threshold"]) and 0 <= cfg["parity_difference_threshold"] < 1
    ):
        problems.append("parity_difference_threshold (a number in [0, 1))")
    if not (_number(odds) and 0 <= odds <= 1):
        problems.append("equalized_odds_threshold (a number in [0, 1])")
    if not (_number(ttl) and ttl > 0):
        problems.append("label_ttl_s (seconds > 0)")
    if not _is_scalar(cfg["positive_label"]):
        problems.append("positive_label (a string, number or boolean)")
    labels = cfg["positive_labels"]
    if not (
        isinstance(labels, dict)
        and all(isinstance(k, str) and _is_scalar(v) for k, v in labels.items())
    ):
        problems.append("positive_labels (model id: string, number or boolean)")
    if problems:
        raise ConfigError(f"detectors.fairness: invalid setting(s): {'; '.join(problems)}")
    return cfg


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@dataclass
class _Model:
    #: decisions: [groups, prediction, version, meta]
    window: deque[list[Any]]
    #: decisions with their label: [groups, prediction, label, version, meta]
    labelled: deque[list[Any]]
    seen: int = 0
    labelled_seen: int = 0
    #: "kind:attribute" -> consecutive windows in which the metric failed
    streaks: dict[str, int] = field(default_factory=dict)


@dataclass
class _Pending:
    """Decisions waiting for labels and labels waiting for decisions, oldest arrival first."""

    #: event_id -> [model, version, groups, prediction, meta, epoch seconds, arrival number]
    predictions: dict[str, list[Any]] = field(default_factory=dict)
    #: event_id -> [model, label, epoch seconds, arrival number]
    labels: dict[str, list[Any]] = field(default_factory=dict)
    dropped: dict[str, int] = field(
        default_factory=lambda: {"expired_predictions": 0, "expired_labels": 0, "model_mismatch": 0}
    )


class FairnessDetector(Detector):
    name: ClassVar[str] = "fairness"
    version: ClassVar[str] = "1"
    signal_kinds: ClassVar[tuple[str, ...]] = ("demographic_parity", "equalized_odds")
    #: simulated events a contract test feeds before signals can be expected (several windows
    #: of the credit-scoring model, whose simulated traffic has a deliberate age skew)
    warmup_events: ClassVar[int] = 6000

    def __init__(self, registry: Registry, **overrides: Any) -> None:
        super().__init__(registry)
        self.cfg = _config(registry, overrides)
        self.window_size: int = self.cfg["window_size"]
        self.step: int = self.cfg["step"]
        self._models: dict[str, _Model] = {}
        self._pending = _Pending()
        self._inbox: list[list[Any]] = []  # [event_id, model, label, epoch]: not yet joined
        self._clock: float | None = None  # newest event or label timestamp seen, epoch seconds
        self._arrivals = 0  # numbers pending entries, so that a restore keeps their order
        #: pending entries changed since the last saved_state: "p:"/"l:" + event_id → entry,
        #: or None when it left; None until the entries are saved (or restored) one by one, so
        #: that a detector used without the worker keeps no such record
        self._changed: dict[str, list[Any] | None] | None = None

    # ------------------------------------------------------------------ inputs

    def observe_feedback(self, items: Sequence[ObservedFeedback]) -> None:
        for item in items:
            fb = item.feedback
            self._inbox.append([fb.event_id, fb.model.id, _cut(fb.label), fb.timestamp.timestamp()])

    def process(self, batch: Sequence[ObservedEvent]) -> list[Signal]:
        signals: list[Signal] = []
        for observed in batch:
            event = observed.event
            self._tick(event.timestamp.timestamp())
            decision = self._decision(event)
            if decision is None:
                continue
            groups, prediction = decision
            meta = [
                event.timestamp.isoformat(),
                observed.source.topic,
                observed.source.partition,
                observed.source.offset,
            ]
            model_id, version = event.model.id, event.model.version
            m = self._model(model_id)
            m.window.append([groups, prediction, version, meta])
            m.seen += 1
            if self._closes(m.seen):
                signals += self._parity_signals(model_id, m)
            label = self._pending.labels.pop(event.event_id, None)
            if label is not None:
                self._mark("l:" + event.event_id, None)
            if label is not None and label[0] == model_id:
                signals += self._join(model_id, m, [groups, prediction, label[1], version, meta])
                continue
            if label is not None:
                self._pending.dropped["model_mismatch"] += 1
            self._add_pending(
                "p:",
                self._pending.predictions,
                event.event_id,
                [model_id, version, groups, prediction, meta, event.timestamp.timestamp()],
            )
        inbox, self._inbox = self._inbox, []
        for event_id, model_id, label, epoch in inbox:
            self._tick(epoch)
            waiting = self._pending.predictions.get(event_id)
            if waiting is None:
                if event_id not in self._pending.labels:
                    self._add_pending(
                        "l:", self._pending.labels, event_id, [model_id, label, epoch]
                    )
            elif waiting[0] != model_id:
                self._pending.dropped["model_mismatch"] += 1
            else:
                del self._pending.predictions[event_id]
                self._mark("p:" + event_id, None)
                version, groups, prediction, meta = waiting[1:5]
                signals += self._join(
                    model_id, self._model(model_id), [groups, prediction, label, version, meta]
                )
        if batch or inbox:
            self._expire()
        return signals

    def _decision(self, event: InferenceEvent) -> tuple[dict[str, str], Any] | None:
        """(group per monitored attribute, prediction) of a call that counts, else None."""
        if event.usage is not None and event.usage.error is not None:
            return None
        prediction = None if event.output is None else event.output.prediction
        if not _is_scalar(prediction) or event.subject is None:
            return None
        protected = event.subject.protected
        entry = self.registry.get(event.model.id)
        attrs = entry.protected_attributes if entry is not None else sorted(protected)
        groups = {a: group_value(protected[a]) for a in attrs if protected.get(a) is not None}
        return (groups, _cut(prediction)) if groups else None

    def _model(self, model_id: str) -> _Model:
        m = self._models.get(model_id)
        if m is None:
            m = self._models[model_id] = _Model(
                deque(maxlen=self.window_size), deque(maxlen=self.window_size)
            )
        return m

    def _closes(self, count: int) -> bool:
        return count >= self.window_size and (count - self.window_size) % self.step == 0

    def _join(self, model_id: str, m: _Model, row: list[Any]) -> list[Signal]:
        m.labelled.append(row)
        m.labelled_seen += 1
        return self._odds_signals(model_id, m) if self._closes(m.labelled_seen) else []

    def _tick(self, epoch: float) -> None:
        self._clock = epoch if self._clock is None else max(self._clock, epoch)

    def _expire(self) -> None:
        assert self._clock is not None
        cutoff, cap = self._clock - self.cfg["label_ttl_s"], self.cfg["max_pending"]
        for kind, prefix, entries, at in (
            ("expired_predictions", "p:", self._pending.predictions, 5),
            ("expired_labels", "l:", self._pending.labels, 2),
        ):
            while entries:
                oldest = next(iter(entries))
                if len(entries) <= cap and entries[oldest][at] >= cutoff:
                    break
                del entries[oldest]
                self._mark(prefix + oldest, None)
                self._pending.dropped[kind] += 1

    def _add_pending(
        self, prefix: str, entries: dict[str, list[Any]], event_id: str, entry: list[Any]
    ) -> None:
        entry.append(self._arrivals)
        self._arrivals += 1
        entries[event_id] = entry
        self._mark(prefix + event_id, entry)

    def _mark(self, key: str, entry: list[Any] | None) -> None:
        if self._changed is not None:
            self._changed[key] = entry

    def _all_pending(self) -> dict[str, list[Any] | None]:
        return {
            **{"p:" + k: v for k, v in self._pending.predictions.items()},
            **{"l:" + k: v for k, v in self._pending.labels.items()},
        }

    # ------------------------------------------------------------------ verdicts

    def positive_label(self, model_id: str) -> Any:
        return self.cfg["positive_labels"].get(model_id, self.cfg["positive_label"])

    def _parity_signals(self, model_id: str, m: _Model) -> list[Signal]:
        positive, rows = self.positive_label(model_id), list(m.window)
        threshold, minimum = self.cfg["parity_ratio_threshold"], self.cfg["min_group_size"]
        gap = self.cfg["parity_difference_threshold"]
        signals: list[Signal] = []
        for attr in sorted({a for r in rows for a in r[0]}):
            groups = fm.count_groups(
                (r[0][attr], r[1] == positive, None) for r in rows if attr in r[0]
            )
            parity = fm.demographic_parity(groups, minimum)
            failed = (
                parity is not None
                and parity.ratio is not None
                and parity.ratio < threshold
                and parity.difference > gap
            )
            streak = self._streak(m, "demographic_parity", attr, failed)
            if parity is None or parity.ratio is None or streak is None:
                continue
            lo, hi = groups[parity.lowest], groups[parity.highest]
            evidence = {
                "attribute": attr,
                "metric": "demographic_parity_ratio",
                "value": parity.ratio,
                "threshold": threshold,
                "demographic_parity_ratio": parity.ratio,
                "demographic_parity_difference": parity.difference,
                "difference_threshold": gap,
                "lowest_group": parity.lowest,
                "highest_group": parity.highest,
                "positive_label": positive,
                "min_group_size": minimum,
                "consecutive_windows": streak,
                "groups": fm.group_evidence(groups, parity.compared, minimum),
                "window": window_bounds([r[-1] for r in rows]),
            }
            signals.append(
                self._signal(
                    model_id,
                    rows[-1],
                    "demographic_parity",
                    attr,
                    evidence,
                    f"Demographic parity of {model_id} by {attr}: selection rate "
                    f"{lo.selection_rate:.2f} ({parity.lowest}) vs {hi.selection_rate:.2f} "
                    f"({parity.highest}), ratio {parity.ratio:.2f} < {threshold:g}",
                )
            )
        return signals

    def _odds_signals(self, model_id: str, m: _Model) -> list[Signal]:
        positive, rows = self.positive_label(model_id), list(m.labelled)
        threshold, minimum = self.cfg["equalized_odds_threshold"], self.cfg["min_group_size"]
        outcomes = self.cfg["min_outcome_count"]
        signals: list[Signal] = []
        for attr in sorted({a for r in rows for a in r[0]}):
            groups = fm.count_groups(
                (r[0][attr], r[1] == positive, r[2] == positive) for r in rows if attr in r[0]
            )
            odds = fm.equalized_odds(groups, minimum, outcomes)
            streak = self._streak(
                m,
                "equalized_odds",
                attr,
                odds is not None and odds.equalized_odds_difference > threshold,
            )
            if odds is None or streak is None:
                continue
            evidence = {
                "attribute": attr,
                "metric": "equalized_odds_difference",
                "value": odds.equalized_odds_difference,
                "threshold": threshold,
                "equalized_odds_difference": odds.equalized_odds_difference,
                "equal_opportunity_difference": odds.equal_opportunity_difference,
                "true_positive_rate_difference": odds.tpr_difference,
                "false_positive_rate_difference": odds.fpr_difference,
                "positive_label": positive,
                "min_group_size": minimum,
                "min_outcome_count": outcomes,
                "consecutive_windows": streak,
                "groups": fm.group_evidence(groups, odds.compared, minimum, outcomes),
                "window": window_bounds([r[-1] for r in rows]),
                "pending_labels": len(self._pending.labels),
                "pending_predictions": len(self._pending.predictions),
            }
            signals.append(
                self._signal(
                    model_id,
                    rows[-1],
                    "equalized_odds",
                    attr,
                    evidence,
                    f"Equalized odds of {model_id} by {attr}: TPR gap {odds.tpr_difference:.2f}, "
                    f"FPR gap {odds.fpr_difference:.2f} > {threshold:g} on labelled decisions",
                )
            )
        return signals

    def _streak(self, m: _Model, kind: str, attr: str, failed: bool) -> int | None:
        """Count a window's verdict; the streak length once it is long enough to raise."""
        key = f"{kind}:{attr}"
        m.streaks[key] = m.streaks.get(key, 0) + 1 if failed else 0
        return m.streaks[key] if failed and m.streaks[key] >= self.cfg["confirm_windows"] else None

    def _signal(
        self,
        model_id: str,
        last: list[Any],
        kind: str,
        attr: str,
        evidence: dict[str, Any],
        title: str,
    ) -> Signal:
        meta, version = last[-1], last[-2]
        return Signal(
            detector=self.name,
            kind=kind,
            model_id=model_id,
            model_version=version,
            title=title,
            severity=Severity.MEDIUM,
            evidence=evidence,
            source=SourceRef(meta[1], meta[2], meta[3]),
            key=f"{model_id}:{attr}:{meta[1]}/{meta[2]}/{meta[3]}",
        )

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        return self._state_without_pending() | {
            # lists, so that the arrival order (the expiry order) survives any JSON store
            "pending_predictions": [[k, *v] for k, v in self._pending.predictions.items()],
            "pending_labels": [[k, *v] for k, v in self._pending.labels.items()],
        }

    def _state_without_pending(self) -> dict[str, Any]:
        return {
            "clock": self._clock,
            "arrivals": self._arrivals,
            "models": {
                mid: {
                    "window": list(m.window),
                    "seen": m.seen,
                    "labelled": list(m.labelled),
                    "labelled_seen": m.labelled_seen,
                    "streaks": dict(m.streaks),
                }
                for mid, m in self._models.items()
            },
            "dropped": dict(self._pending.dropped),
            "inbox": [list(i) for i in self._inbox],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self._clock = state.get("clock")
        self._arrivals = int(state.get("arrivals", 0))
        self._models = {
            mid: _Model(
                deque(s["window"], maxlen=self.window_size),
                deque(s["labelled"], maxlen=self.window_size),
                s["seen"],
                s["labelled_seen"],
                dict(s.get("streaks", {})),
            )
            for mid, s in state.get("models", {}).items()
        }
        self._pending = _Pending(
            {p[0]: list(p[1:]) for p in state.get("pending_predictions", [])},
            {p[0]: list(p[1:]) for p in state.get("pending_labels", [])},
            {**_Pending().dropped, **state.get("dropped", {})},
        )
        self._inbox = [list(i) for i in state.get("inbox", [])]
        for entries, size in ((self._pending.predictions, 7), (self._pending.labels, 4)):
            for entry in entries.values():
                if len(entry) < size:  # saved before entries were numbered
                    entry.append(self._arrivals)
                    self._arrivals += 1

    def saved_state(self) -> tuple[dict[str, Any], StateEntries | None]:
        state = self._state_without_pending()
        # the first save of a detector that was not restored from entries writes them all
        changed = self._all_pending() if self._changed is None else self._changed
        changes = StateEntries(
            upserts={k: v for k, v in changed.items() if v is not None},
            deletes={k for k, v in changed.items() if v is None},
        )
        self._changed = {}
        return state, changes

    def restore_saved(self, state: dict[str, Any], entries: dict[str, Any]) -> None:
        self.load_state(state)
        # a state saved whole (before entries) still holds its lists: they become entries
        self._changed = self._all_pending()
        numbered = sorted(((v[-1], k, v) for k, v in entries.items()), key=lambda t: t[0])
        for arrival, key, value in numbered:
            target = self._pending.predictions if key.startswith("p:") else self._pending.labels
            target[key[2:]] = list(value)
            self._arrivals = max(self._arrivals, int(arrival) + 1)
