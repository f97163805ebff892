"""The policy engine: signals, events and windows, through the packs' rules, become Findings.

Three kinds of rule (policies/spec.py): a *signal* rule files a detector signal (optionally only
when its condition holds); an *event* rule files one finding per event its condition matches;
a *window* rule aggregates an expression over event-time buckets per key and files one finding
per key and window when the aggregate's condition holds. Window state is saved with the batch
(``state_dict``/``load_state``, under the reserved detector name ``STATE_NAME``).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeGuard

from core.findings import Finding, finding_id_for
from core.model_registry import Registry
from core.signals import ObservedEvent, Signal, SourceRef
from core.taxonomy import Severity
from policies.pack import PackError, load_packs, pack_files
from policies.rules import CompiledRule, compile_rule
from policies.spec import Pack, Rule
from policies.windows import RuleWindows

log = logging.getLogger(__name__)

#: the DetectorState name the processor saves window state under (no detector may use it)
STATE_NAME = "policies"
STATE_VERSION = "1"
#: Finding.detector of event and window rules
POLICY_DETECTOR = "policy"
_NUMERIC = ("sum", "avg", "max", "p95")


def _matches(when: dict[str, Any], context: dict[str, Any]) -> bool:
    return all(key in context and context[key] == value for key, value in when.items())


def _num(v: Any) -> TypeGuard[int | float]:
    return (type(v) is int or type(v) is float) and v == v


def _window_times(size_s: int, bucket_s: int, start_bucket: int, end_bucket: int) -> dict[str, Any]:
    start = datetime.fromtimestamp(start_bucket * bucket_s, UTC)
    end = datetime.fromtimestamp((end_bucket + 1) * bucket_s, UTC)
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "size_s": size_s,
        "bucket_s": bucket_s,
    }


class Rulebook:
    """The compiled rules of a set of packs; raises PackError on conflicts between packs."""

    def __init__(self, packs: Sequence[Pack]) -> None:
        self.packs = list(packs)
        self.signal_rules: dict[str, CompiledRule] = {}
        self.event_rules: list[CompiledRule] = []
        self.window_rules: list[CompiledRule] = []
        ids: dict[str, Pack] = {}
        for pack in packs:
            for rule in pack.rules:
                if rule.id in ids:
                    raise PackError(
                        f"{pack.where(rule.id)} is also defined in {ids[rule.id].where(rule.id)}"
                    )
                ids[rule.id] = pack
                try:
                    compiled = compile_rule(rule, pack)
                except ValueError as exc:
                    raise PackError(f"{pack.where(rule.id)}: {exc}") from exc
                if rule.signal is not None:
                    if rule.signal in self.signal_rules:
                        other = self.signal_rules[rule.signal].id
                        raise PackError(
                            f"{pack.where(rule.id)}: signal {rule.signal!r} has two "
                            f"rules: {other!r} and {rule.id!r}"
                        )
                    self.signal_rules[rule.signal] = compiled
                elif rule.window is not None:
                    self.window_rules.append(compiled)
                else:
                    self.event_rules.append(compiled)

    @property
    def versions(self) -> dict[str, str]:
        return {p.pack: p.version for p in self.packs}


class PolicyEngine:
    def __init__(
        self,
        packs: Sequence[Pack],
        registry: Registry,
        *,
        pack_dir: Path | None = None,
        reload_every_s: float = 2.0,
    ) -> None:
        self.registry = registry
        self._book = Rulebook(packs)
        self._models = {mid: e.model_dump(mode="json") for mid, e in registry.models.items()}
        self._params = dict(registry.policy_params)
        self._windows: dict[str, tuple[str, RuleWindows]] = {}
        #: the stream's event-time watermark: the latest event time this engine has seen
        #: (silence rules measure a key's absence against it; saved with the window state)
        self._watermark: float | None = None
        self._sync_windows()
        self._unmapped_logged: set[str] = set()
        self._pack_dir = pack_dir
        self._reload_every_s = reload_every_s
        self._next_poll = 0.0
        self._snapshot = self._files_snapshot() if pack_dir is not None else {}
        self._bad_snapshot: dict[str, tuple[int, int]] | None = None

    def set_registry(self, registry: Registry) -> None:
        """Use another model registry from now on (hot reload of riskwatch.yaml): the next
        evaluation reads its models and policy_params; window state is kept."""
        self.registry = registry
        self._models = {mid: e.model_dump(mode="json") for mid, e in registry.models.items()}
        self._params = dict(registry.policy_params)

    # --- packs and hot reload
    @property
    def rulebook(self) -> Rulebook:
        return self._book

    def covers(self, signal_name: str) -> bool:
        return signal_name in self._book.signal_rules

    def _files_snapshot(self) -> dict[str, tuple[int, int]]:
        assert self._pack_dir is not None
        out = {}
        for p in pack_files(self._pack_dir):
            try:
                st = p.stat()
            except OSError:  # deleted between glob and stat: the next poll sees it gone
                continue
            out[str(p)] = (st.st_mtime_ns, st.st_size)
        return out

    def reload_if_changed(self, *, force: bool = False) -> bool:
        """Poll the pack folder (at most every ``reload_every_s``); swap in changed packs if they
        all load, else log the error and keep the last good ones. True if packs were swapped."""
        if self._pack_dir is None:
            return False
        now = time.monotonic()
        if not force and now < self._next_poll:
            return False
        self._next_poll = now + self._reload_every_s
        snapshot = self._files_snapshot()
        if snapshot == self._snapshot or snapshot == self._bad_snapshot:
            return False
        try:
            book = Rulebook(load_packs(self._pack_dir))
        except PackError as exc:
            self._bad_snapshot = snapshot
            log.error(
                "policy packs changed but are invalid; still running on the previous packs %s: %s",
                self._book.versions,
                exc,
            )
            return False
        self._book, self._snapshot, self._bad_snapshot = book, snapshot, None
        self._sync_windows()
        log.info("policy packs reloaded: %s", book.versions)
        return True

    def _sync_windows(self) -> None:
        """Keep the state of window rules whose window is unchanged; start the others fresh."""
        kept: dict[str, tuple[str, RuleWindows]] = {}
        for rule in self._book.window_rules:
            old = self._windows.get(rule.id)
            assert rule.rule.window is not None
            if old is not None and old[0] == rule.fingerprint:
                kept[rule.id] = old
            else:
                kept[rule.id] = (rule.fingerprint, RuleWindows(rule.rule.window))
        self._windows = kept

    # --- state
    def state_dict(self) -> dict[str, Any]:
        return {
            "rules": {
                rid: {"fingerprint": fp, "keys": rw.to_json()}
                for rid, (fp, rw) in self._windows.items()
            },
            "watermark": self._watermark,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        saved_mark = state.get("watermark")
        if _num(saved_mark) and (self._watermark is None or saved_mark > self._watermark):
            self._watermark = float(saved_mark)
        for rid, saved in (state.get("rules") or {}).items():
            current = self._windows.get(rid)
            if current is None or current[0] != saved.get("fingerprint"):
                log.info(
                    "policy window rule %s changed or is gone; its saved state is dropped", rid
                )
                continue
            current[1].load_json(saved.get("keys") or {})

    # --- evaluation
    def evaluate(
        self, signals: Sequence[Signal], events: Sequence[ObservedEvent] = ()
    ) -> list[Finding]:
        self.reload_if_changed()
        book = self._book
        now = datetime.now(UTC)
        docs: dict[str, dict[str, Any]] = {}
        if events:
            docs = {o.event.event_id: self._document(o) for o in events}
        findings = []
        for signal in signals:
            name = f"{signal.detector}.{signal.kind}"
            rule = book.signal_rules.get(name)
            if rule is None:
                if name not in self._unmapped_logged:
                    self._unmapped_logged.add(name)
                    log.error("no policy rule for signal %s; it is dropped", name)
                continue
            if rule.condition is not None:
                env = self._env(signal.model_id, docs.get(signal.event_id or ""), None)
                env["signal"] = {
                    "detector": signal.detector,
                    "kind": signal.kind,
                    "severity": str(signal.severity),
                    "evidence": signal.evidence,
                    "context": signal.context,
                    "key": signal.key,
                }
                if rule.condition(env) is not True:
                    continue
            findings.append(self._signal_finding(signal, rule, now))
        if events and (book.event_rules or book.window_rules):
            by_event: dict[str, dict[str, dict[str, int]]] = defaultdict(dict)
            for s in signals:
                if s.event_id is not None:
                    det = by_event[s.event_id].setdefault(s.detector, {"count": 0})
                    det["count"] += 1
                    det[s.kind] = det.get(s.kind, 0) + 1
            silence_rules = [
                r
                for r in book.window_rules
                if r.rule.window is not None and r.rule.window.silence is not None
            ]
            for observed in events:
                ts = observed.event.timestamp.timestamp()
                if self._watermark is None or ts > self._watermark:
                    self._watermark = ts
                    # checked before the event's own rules: a key silent until this event's time
                    # is found whatever the batch boundaries were
                    for rule in silence_rules:
                        findings.extend(self._silence_step(rule, ts, observed.source, now))
                eid = observed.event.event_id
                env = self._env(observed.event.model.id, docs[eid], by_event.get(eid, {}))
                for rule in book.event_rules:
                    assert rule.condition is not None
                    if rule.condition(env) is True:
                        findings.append(self._event_finding(rule, observed, env, now))
                for rule in book.window_rules:
                    finding = self._window_step(rule, observed, ts, env, now)
                    if finding is not None:
                        findings.append(finding)
        return findings

    @staticmethod
    def _document(observed: ObservedEvent) -> dict[str, Any]:
        if observed.document is not None:
            return observed.document
        return observed.event.model_dump(mode="json", by_alias=True, exclude_none=True)

    def _env(
        self, model_id: str, doc: dict[str, Any] | None, signals: dict[str, Any] | None
    ) -> dict[str, Any]:
        model = self._models.get(model_id)
        return {
            "event": doc,
            "model": model,
            "model_registered": model is not None,
            "signals": signals or {},
            "params": self._params,
        }

    # --- findings
    def _severity(
        self, rule: Rule, base: Severity, tier: str | None, context: dict[str, Any]
    ) -> Severity:
        severity = rule.severity or base
        if tier is not None and rule.escalate.get(tier):  # type: ignore[call-overload]
            severity = severity.raised(rule.escalate[tier])  # type: ignore[index]
        for esc in rule.escalate_when:
            if _matches(esc.when, context):
                severity = severity.raised(esc.steps)
        return severity

    def _refs(self, rule: Rule, tier: str | None, context: dict[str, Any]) -> list[str]:
        return [
            r.ref
            for r in rule.regulation
            if (r.tiers is None or tier in r.tiers) and _matches(r.when, context)
        ]

    def _tier(self, model_id: str) -> str | None:
        entry = self.registry.get(model_id)
        return entry.risk_tier if entry is not None else None

    def _signal_finding(self, signal: Signal, compiled: CompiledRule, now: datetime) -> Finding:
        rule, tier = compiled.rule, self._tier(signal.model_id)
        subject = f"{signal.event_id or signal.model_id}|{signal.key}"
        return self._finding(
            compiled,
            finding_id_for(rule.id, signal.detector, signal.kind, subject),
            event_id=signal.event_id,
            model_id=signal.model_id,
            model_version=signal.model_version,
            detector=signal.detector,
            severity=self._severity(rule, signal.severity, tier, signal.context),
            title=signal.title,
            evidence=signal.evidence,
            refs=self._refs(rule, tier, signal.context),
            source=signal.source,
            now=now,
        )

    def _event_context(self, env: dict[str, Any]) -> dict[str, Any]:
        ctx = (env.get("event") or {}).get("context")
        return ctx if isinstance(ctx, dict) else {}

    def _evidence(self, compiled: CompiledRule, env: dict[str, Any]) -> dict[str, Any]:
        return {name: expr(env) for name, expr in compiled.evidence}

    def _event_finding(
        self, compiled: CompiledRule, observed: ObservedEvent, env: dict[str, Any], now: datetime
    ) -> Finding:
        rule, event = compiled.rule, observed.event
        tier, context = self._tier(event.model.id), self._event_context(env)
        assert rule.severity is not None
        return self._finding(
            compiled,
            finding_id_for(rule.id, POLICY_DETECTOR, "event", event.event_id),
            event_id=event.event_id,
            model_id=event.model.id,
            model_version=event.model.version,
            detector=POLICY_DETECTOR,
            severity=self._severity(rule, rule.severity, tier, context),
            title=rule.title,
            evidence=self._evidence(compiled, env),
            refs=self._refs(rule, tier, context),
            source=observed.source,
            now=now,
        )

    def _window_step(
        self,
        compiled: CompiledRule,
        observed: ObservedEvent,
        ts: float,
        env: dict[str, Any],
        now: datetime,
    ) -> Finding | None:
        rule = compiled.rule
        spec = rule.window
        assert spec is not None and compiled.key is not None and compiled.condition is not None
        if compiled.where is not None and compiled.where(env) is not True:
            return None
        key = compiled.key(env)
        if key is None or isinstance(key, (dict, list)):
            return None
        key = "true" if key is True else "false" if key is False else str(key)
        value = compiled.of(env) if compiled.of is not None else None
        if spec.aggregate in _NUMERIC and not _num(value):
            return None
        if spec.aggregate in ("distinct", "unique") and value is None:
            return None
        windows = self._windows[rule.id][1]
        if spec.silence is not None:  # absence rule: the condition waits for the silence
            model = observed.event.model
            windows.add(key, ts, value, (model.id, model.version))
            return None
        view = windows.add(key, ts, value)
        if view is None or view.count < spec.min_count:
            return None
        # the window's times are formatted only if the condition reads them, or it fires
        window = (
            _window_times(spec.size, spec.bucket_s, view.start_bucket, view.end_bucket)
            if "window" in compiled.names
            else None
        )
        # seconds of the window behind this event, and its whole length: for forecasts
        elapsed = ts - view.start_bucket * spec.bucket_s
        wenv = env | {
            "value": view.value,
            "bucket_value": view.bucket_value,
            "previous": view.previous,
            "baseline": view.baseline,
            "count": view.count,
            "key": key,
            "window": window,
            "elapsed_s": elapsed,
            "window_s": spec.size,
            "silent_s": 0.0,
        }
        if compiled.condition(wenv) is not True or not windows.mark_fired(key, view.start_bucket):
            return None
        if window is None:
            window = wenv["window"] = _window_times(
                spec.size, spec.bucket_s, view.start_bucket, view.end_bucket
            )
        event = observed.event
        tier, context = self._tier(event.model.id), self._event_context(env)
        evidence: dict[str, Any] = {
            "key": key,
            "aggregate": spec.aggregate,
            "value": view.value,
            "count": view.count,
            "window": window,
        }
        if spec.history:
            evidence |= {
                "baseline": view.baseline,
                "previous": view.previous,
                "bucket_value": view.bucket_value,
            }
        evidence |= self._evidence(compiled, wenv)
        assert rule.severity is not None
        return self._finding(
            compiled,
            finding_id_for(rule.id, POLICY_DETECTOR, "window", f"{key}|{window['start']}"),
            event_id=None,
            model_id=event.model.id,
            model_version=event.model.version,
            detector=POLICY_DETECTOR,
            severity=self._severity(rule, rule.severity, tier, context),
            title=rule.title,
            evidence=evidence,
            refs=self._refs(rule, tier, context),
            source=observed.source,
            now=now,
        )

    def _silence_step(
        self, compiled: CompiledRule, watermark: float, source: SourceRef | None, now: datetime
    ) -> list[Finding]:
        """Findings of a silence rule for the keys that the watermark has just left ``silence``
        seconds behind (each episode is checked once: the condition decides whether it files)."""
        rule = compiled.rule
        spec = rule.window
        assert spec is not None and spec.silence is not None and compiled.condition is not None
        out = []
        for key, kw, view in self._windows[rule.id][1].silent(watermark):
            if view.count < spec.min_count:
                continue
            model_id, version = kw.model if kw.model is not None else ("?", None)
            window = _window_times(spec.size, spec.bucket_s, view.start_bucket, view.end_bucket)
            silent_s = watermark - kw.last_ts
            env = self._env(model_id, None, None)
            wenv = env | {
                "value": view.value,
                "bucket_value": view.bucket_value,
                "previous": view.previous,
                "baseline": view.baseline,
                "count": view.count,
                "key": key,
                "window": window,
                "elapsed_s": kw.last_ts - view.start_bucket * spec.bucket_s,
                "window_s": spec.size,
                "silent_s": silent_s,
            }
            if compiled.condition(wenv) is not True:
                continue
            last_seen = datetime.fromtimestamp(kw.last_ts, UTC).isoformat()
            evidence: dict[str, Any] = {
                "key": key,
                "aggregate": spec.aggregate,
                "silence_s": spec.silence,
                "silent_s": silent_s,
                "last_seen": last_seen,
                "watermark": datetime.fromtimestamp(watermark, UTC).isoformat(),
                "value": view.value,
                "count": view.count,
                "window": window,
            }
            if spec.history:
                evidence |= {
                    "baseline": view.baseline,
                    "previous": view.previous,
                    "bucket_value": view.bucket_value,
                }
            evidence |= self._evidence(compiled, wenv)
            tier = self._tier(model_id)
            assert rule.severity is not None
            out.append(
                self._finding(
                    compiled,
                    finding_id_for(rule.id, POLICY_DETECTOR, "silence", f"{key}|{last_seen}"),
                    event_id=None,
                    model_id=model_id,
                    model_version=version,
                    detector=POLICY_DETECTOR,
                    severity=self._severity(rule, rule.severity, tier, {}),
                    title=rule.title,
                    evidence=evidence,
                    refs=self._refs(rule, tier, {}),
                    source=source,
                    now=now,
                )
            )
        return out

    def _finding(
        self,
        compiled: CompiledRule,
        finding_id: str,
        *,
        event_id: str | None,
        model_id: str,
        model_version: str | None,
        detector: str,
        severity: Severity,
        title: str,
        evidence: dict[str, Any],
        refs: list[str],
        source: SourceRef | None,
        now: datetime,
    ) -> Finding:
        rule, pack = compiled.rule, compiled.pack
        return Finding(
            finding_id=finding_id,
            event_id=event_id,
            model_id=model_id,
            model_version=model_version,
            detector=detector,
            rule_id=rule.id,
            category=rule.category,
            subcategory=rule.subcategory,
            severity=severity,
            title=title,
            evidence=evidence,
            regulation_refs=refs,
            remediation=rule.remediation,
            pack=pack.pack,
            pack_version=pack.version,
            source_topic=source.topic if source else None,
            source_partition=source.partition if source else None,
            source_offset=source.offset if source else None,
            detected_at=now,
            # a window rule's findings are told apart by their window key (a tenant, a model)
            incident=rule.incident.policy(
                self._tier(model_id), ("key",) if rule.window is not None else ()
            ),
        )
