"""Pack tests, as `opa test` does for Rego: example events beside the packs and the rules they must
and must not fire. A test file (``<pack dir>/tests/*.yaml``)::

    registry: {models: {...}, policy_params: {...}}   # as riskwatch.yaml; default: empty
    base_event: {...}                                  # every case's events are merged onto it
    cases:
      - name: EU subject without consent
        event: {context: {region: EU, consent: false}}   # or `events: [...]`, in event-time order;
                                                         # an item {repeat: N, every: 1m,
                                                         # event: {...}} stands for N events
                                                         # `every` apart, "{i}" in its strings
                                                         # replaced by 0..N-1
        signals: [{detector: pii, kind: pii_detected}]   # optional, on the last event
        models: {credit-scoring: {...}}                  # optional registry overrides
        expect: [RW-LP-010]                              # rule ids that must fire
        forbid: [RW-LP-011]                              # rule ids that must not

Every case runs on a fresh engine (fresh window state) over all packs of the folder. Besides the
cases, every rule must be expected by one case and forbidden by another (coverage).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.events import InferenceEvent
from core.model_registry import Registry
from core.signals import ObservedEvent, Signal, SourceRef
from core.taxonomy import Severity
from policies.engine import PolicyEngine
from policies.pack import PackError, load_packs
from policies.spec import Pack, parse_duration


class CaseSignal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    detector: str
    kind: str
    severity: Severity = Severity.LOW
    title: str = "test signal"
    evidence: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)
    key: str = ""
    window: bool = False  # a window-level signal: no event id


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    event: dict[str, Any] | None = None
    events: list[dict[str, Any]] | None = None
    signals: list[CaseSignal] = Field(default_factory=list)
    models: dict[str, dict[str, Any] | None] = Field(default_factory=dict)
    expect: list[str] = Field(default_factory=list)
    forbid: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_source(self) -> Case:
        if (self.event is None) == (self.events is None):
            raise ValueError("give exactly one of 'event' or 'events'")
        if self.events is not None and not self.events:
            raise ValueError("'events' is empty")
        if not self.expect and not self.forbid:
            raise ValueError("a case needs 'expect' or 'forbid' (or both)")
        return self


class PackTestFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    registry: dict[str, Any] = Field(default_factory=dict)
    base_event: dict[str, Any] = Field(default_factory=dict)
    cases: list[Case] = Field(min_length=1)


@dataclass(slots=True)
class Failure:
    where: str  # file and case
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(slots=True)
class Report:
    cases: int = 0
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        elif v is None:  # `field: null` in a case removes the base's field
            out.pop(k, None)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _registry(raw: dict[str, Any], overrides: dict[str, dict[str, Any] | None]) -> Registry:
    models = dict(raw.get("models") or {})
    for mid, entry in overrides.items():
        if entry is None:
            models.pop(mid, None)
        else:
            models[mid] = _merge(models.get(mid) or {}, entry)
    return Registry.model_validate(raw | {"models": models})


def _numbered(value: Any, k: int) -> Any:
    """A deep copy of ``value`` with ``{i}`` in its strings replaced by ``k`` (distinct inputs)."""
    if isinstance(value, str):
        return value.replace("{i}", str(k))
    if isinstance(value, dict):
        return {key: _numbered(v, k) for key, v in value.items()}
    if isinstance(value, list):
        return [_numbered(v, k) for v in value]
    return copy.deepcopy(value)


def _expand(base: dict[str, Any], items: list[dict[str, Any]], index: int) -> list[dict[str, Any]]:
    docs = []
    for i, raw in enumerate(items):
        if "repeat" not in raw:
            doc = _merge(base, raw)
            doc.setdefault("event_id", f"case{index}-{i}")
            docs.append(doc)
            continue
        extra = set(raw) - {"repeat", "every", "event"}
        if extra or not isinstance(raw["repeat"], int) or raw["repeat"] < 1:
            raise ValueError(
                f"event {i + 1}: a repeat item is {{repeat: N >= 1, every: "
                f"duration, event: {{...}}}}, got keys {sorted(raw)}"
            )
        every = parse_duration(raw.get("every", 1))
        doc = _merge(base, raw.get("event") or {})
        start = datetime.fromisoformat(str(doc["timestamp"]).replace("Z", "+00:00"))
        for k in range(raw["repeat"]):
            one = _numbered(doc, k)
            one["event_id"] = f"case{index}-{i}-{k}"
            ts = start + timedelta(seconds=every * k)
            one["timestamp"] = ts.astimezone(UTC).isoformat().replace("+00:00", "Z")
            docs.append(one)
    return docs


def run_case(packs: list[Pack], test: PackTestFile, case: Case, index: int) -> set[str]:
    """The rule ids a case's events and signals fire."""
    registry = _registry(test.registry, case.models)
    engine = PolicyEngine(packs, registry)
    observed = []
    items = case.events if case.events is not None else [case.event or {}]
    for i, doc in enumerate(_expand(test.base_event, items, index)):
        event = InferenceEvent.model_validate(doc)
        observed.append(ObservedEvent(event, SourceRef("pack-test", 0, i), doc))
    last = observed[-1].event
    signals = [
        Signal(
            detector=s.detector,
            kind=s.kind,
            model_id=last.model.id,
            model_version=last.model.version,
            title=s.title,
            severity=s.severity,
            evidence=s.evidence,
            source=observed[-1].source,
            event_id=None if s.window else last.event_id,
            key=s.key,
            context=s.context,
        )
        for s in case.signals
    ]
    return {f.rule_id for f in engine.evaluate(signals, observed)}


def _load_test(path: Path) -> PackTestFile:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return PackTestFile.model_validate(raw)
    except (OSError, yaml.YAMLError) as exc:
        raise PackError(f"{path}: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise PackError(f"{path}: {problems}") from exc


def run_pack_tests(pack_dir: Path, test_dir: Path | None = None) -> Report:
    """Run every test file of ``test_dir`` (default ``pack_dir/tests``) against the packs of
    ``pack_dir``; failures name the file and the case."""
    report = Report()
    test_dir = test_dir or pack_dir / "tests"
    try:
        packs = load_packs(pack_dir)
    except PackError as exc:
        report.failures.append(Failure(str(pack_dir), f"packs do not load: {exc}"))
        return report
    known = {r.id for p in packs for r in p.rules}
    expected: set[str] = set()
    forbidden: set[str] = set()
    files = sorted(test_dir.glob("*.yaml"))
    if not files:
        report.failures.append(Failure(str(test_dir), "no test files (*.yaml)"))
    for path in files:
        try:
            test = _load_test(path)
        except PackError as exc:
            report.failures.append(Failure(str(path), str(exc)))
            continue
        for i, case in enumerate(test.cases):
            report.cases += 1
            where = f"{path} case {i + 1} {case.name!r}"
            unknown = sorted((set(case.expect) | set(case.forbid)) - known)
            if unknown:
                report.failures.append(Failure(where, f"names rules no pack defines: {unknown}"))
                continue
            try:
                fired = run_case(packs, test, case, i)
            except (ValidationError, PackError, ValueError) as exc:
                report.failures.append(Failure(where, f"cannot run: {exc}"))
                continue
            expected |= set(case.expect)
            forbidden |= set(case.forbid)
            missing = [r for r in case.expect if r not in fired]
            unwanted = [r for r in case.forbid if r in fired]
            if missing:
                report.failures.append(Failure(where, f"expected {missing}, fired {sorted(fired)}"))
            if unwanted:
                report.failures.append(Failure(where, f"must not fire {unwanted}, but did"))
    for rule_id in sorted(known):
        if rule_id not in expected:
            report.failures.append(
                Failure(str(test_dir), f"rule {rule_id} has no case that fires it")
            )
        if rule_id not in forbidden:
            report.failures.append(
                Failure(str(test_dir), f"rule {rule_id} has no case showing it stays silent")
            )
    return report


__all__ = ["Case", "Failure", "PackTestFile", "Report", "run_case", "run_pack_tests"]
