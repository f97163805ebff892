"""Policy packs: YAML files of rules, validated with pydantic; errors name file and rule."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.model_registry import RiskTier
from core.taxonomy import SUBCATEGORIES, Category, Severity, Subcategory

BUILTIN_PACKS = Path(__file__).parent / "packs"


class PackError(ValueError):
    """A policy pack is invalid; the message names the file and, where known, the rule."""


class RegulationRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ref: str = Field(min_length=1)
    tiers: list[RiskTier] | None = None  # None: applies to every model
    #: applies only when every key equals the signal's context value (e.g. {region: EU, consent: false})
    when: dict[str, Any] = Field(default_factory=dict)


class Escalation(BaseModel):
    """Raise the severity by ``steps`` when every key of ``when`` equals the signal's context."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    when: dict[str, Any]
    steps: int = Field(1, ge=1, le=4)


_DURATION = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> int:
    """``"30s"``, ``"5m"``, ``"24h"``, ``"7d"`` or a whole number of seconds → seconds (> 0)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and (m := _DURATION.match(value.strip())) and int(m.group(1)) > 0:
        return int(m.group(1)) * _UNITS[m.group(2)]
    raise ValueError(f"{value!r} is not a duration such as 30s, 5m, 24h or 7d")


Aggregate = Literal["count", "sum", "avg", "max", "rate", "distinct", "unique", "p95"]


class WindowSpec(BaseModel):
    """An aggregate of ``of`` over event-time buckets, per ``key``.

    ``size`` is the window, ``bucket`` its step (default: ``size``, a tumbling window); the
    window is the last size/bucket buckets up to the event's. ``history`` buckets before the
    current one give ``baseline`` (their mean per-bucket aggregate). ``rate`` is the share of
    events for which ``of`` is true; ``count`` counts events (``of`` not used); ``unique`` is the
    share of events whose ``of`` (any JSON value) had not been seen before in its bucket, kept as
    hashes (policies/windows.py).

    ``silence`` makes it an absence rule: events still fill the buckets, but the condition is
    evaluated only when a key has sent nothing for ``silence`` seconds of event time (the
    engine's watermark, the latest event time it has seen, is that far past the key's last
    event), once per silence episode; it sees the key's window as it was at its last event and
    ``silent_s``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    aggregate: Aggregate
    of: str | None = None
    key: str = "event.model.id"
    where: str | None = None
    size: int
    bucket: int | None = None
    history: int = Field(0, ge=0, le=1000)
    min_count: int = Field(1, ge=1)
    max_keys: int = Field(10_000, ge=1)
    silence: int | None = None

    @field_validator("size", "bucket", "silence", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)

    @model_validator(mode="after")
    def _consistent(self) -> WindowSpec:
        if self.aggregate != "count" and not self.of:
            raise ValueError(f"aggregate {self.aggregate!r} needs 'of' (the expression aggregated)")
        if self.bucket is not None and (self.bucket > self.size or self.size % self.bucket):
            raise ValueError("size must be a whole multiple of bucket")
        if self.size // (self.bucket or self.size) > 1000:
            raise ValueError("a window may span at most 1000 buckets")
        return self

    @property
    def bucket_s(self) -> int:
        return self.bucket or self.size

    @property
    def buckets(self) -> int:
        return self.size // self.bucket_s


class Rule(BaseModel):
    """One of three kinds: a *signal* rule (``signal``: files a detector signal, optionally only
    when ``condition`` holds), an *event* rule (``condition`` over each event) or a *window* rule
    (``window`` aggregate and a ``condition`` on it). ``evidence`` maps names to expressions
    whose values the finding carries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    signal: str | None = Field(None, pattern=r"^[a-z0-9_]+\.[a-z0-9_]+$")
    condition: str | None = None
    window: WindowSpec | None = None
    evidence: dict[str, str] = Field(default_factory=dict)
    title: str
    description: str = ""
    category: Category
    subcategory: Subcategory
    severity: Severity | None = None  # None: keep the detector's severity (signal rules only)
    escalate: dict[RiskTier, int] = Field(default_factory=dict)
    escalate_when: list[Escalation] = Field(default_factory=list)
    regulation: list[RegulationRef] = Field(default_factory=list)
    remediation: str = ""

    @model_validator(mode="after")
    def _subcategory_in_category(self) -> Rule:
        if self.subcategory not in SUBCATEGORIES[self.category]:
            raise ValueError(
                f"subcategory {self.subcategory.value!r} is not in category {self.category.value!r}"
            )
        if self.signal is not None and self.window is not None:
            raise ValueError("a rule has either 'signal' or 'window', not both")
        if self.signal is None and not self.condition:
            raise ValueError("a rule without 'signal' needs a 'condition'")
        if self.signal is None and self.severity is None:
            raise ValueError("an event or window rule needs a 'severity'")
        return self

    @property
    def kind(self) -> str:
        return "signal" if self.signal else "window" if self.window else "event"


class Pack(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pack: str
    version: str
    rules: list[Rule]
    #: where the pack was read from and the line of each rule (not part of the YAML)
    path: str | None = Field(None, exclude=True)
    lines: dict[str, int] = Field(default_factory=dict, exclude=True)

    def where(self, rule_id: str) -> str:
        """``file:line: rule 'id'`` for messages about a rule."""
        line = self.lines.get(rule_id)
        return f"{self.path or '<pack>'}:{line if line else '?'}: rule {rule_id!r}"


def _rule_lines(text: str) -> tuple[int, list[int]]:
    """Line (1-based) of the ``rules`` key and of each item of the rules list."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return 1, []
    if not isinstance(root, yaml.MappingNode):
        return 1, []
    for key, value in root.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "rules":
            items = value.value if isinstance(value, yaml.SequenceNode) else []
            return key.start_mark.line + 1, [item.start_mark.line + 1 for item in items]
    return 1, []


def load_pack(path: Path) -> Pack:
    """Read, validate and compile a pack; any error names the file, the rule's line and its id."""
    from policies.rules import compile_rule  # rules.py imports this module

    try:
        text = path.read_text(encoding="utf-8")
        raw: Any = yaml.safe_load(text)
    except OSError as exc:
        raise PackError(f"{path}: {exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"{mark.line + 1}:" if mark is not None else ""
        raise PackError(f"{path}:{line} not valid YAML: {exc}") from exc
    rules_line, item_lines = _rule_lines(text)
    if isinstance(raw, dict) and raw.keys() & {"path", "lines"}:
        raise PackError(f"{path}:1: 'path' and 'lines' are set by the loader, not in a pack")
    try:
        pack = Pack.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = err["loc"]
            where = f"{path}:1: " + ".".join(str(p) for p in loc)
            if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
                rules = raw.get("rules") if isinstance(raw, dict) else None
                line = item_lines[loc[1]] if loc[1] < len(item_lines) else rules_line
                rule_id = "?"
                if (
                    isinstance(rules, list)
                    and loc[1] < len(rules)
                    and isinstance(rules[loc[1]], dict)
                ):
                    rule_id = str(rules[loc[1]].get("id", "?"))
                field = ".".join(str(p) for p in loc[2:])
                where = f"{path}:{line}: rule {rule_id!r}: {field}"
            elif loc and loc[0] == "rules":
                where = f"{path}:{rules_line}: rules"
            problems.append(f"{where}: {err['msg']}")
        raise PackError("; ".join(problems)) from exc
    lines = {}
    for rule, line in zip(pack.rules, item_lines):
        lines.setdefault(rule.id, line)
    pack = pack.model_copy(update={"path": str(path), "lines": lines})
    seen: set[str] = set()
    for rule in pack.rules:
        if rule.id in seen:
            raise PackError(f"{pack.where(rule.id)} is defined twice")
        seen.add(rule.id)
        try:
            compile_rule(rule)
        except ValueError as exc:
            raise PackError(f"{pack.where(rule.id)}: {exc}") from exc
    return pack


def pack_files(directory: Path) -> list[Path]:
    """The pack files of a folder: ``*.yaml`` beside it, not ``*_test.yaml`` nor sub-folders."""
    return [p for p in sorted(directory.glob("*.yaml")) if not p.stem.endswith("_test")]


def load_packs(directory: Path = BUILTIN_PACKS) -> list[Pack]:
    """Every pack in a folder (tests, in ``tests/`` or named ``*_test.yaml``, are skipped)."""
    if not directory.is_dir():
        raise PackError(f"{directory}: not a folder of policy packs")
    return [load_pack(p) for p in pack_files(directory)]
