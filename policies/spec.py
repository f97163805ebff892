"""What a policy pack is: its rules (signal, event and window rules) and their window, escalation
and regulation specs, as pydantic models; ``parse_duration`` for the durations they use."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.incidents import IncidentPolicy, SeriousKind
from core.model_registry import RiskTier
from core.taxonomy import SUBCATEGORIES, Category, Severity, Subcategory


class RegulationRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ref: str = Field(min_length=1)
    tiers: list[RiskTier] | None = None  # None: applies to every model
    #: applies only when every key equals the signal's context value (e.g. {region: EU,
    #: consent: false})
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


class IncidentSpec(BaseModel):
    """How the rule's findings are grouped into incidents (core/incidents.py): by rule, model and
    the evidence values named in ``key``; opened once ``threshold`` findings fall within
    ``window``; closed as recovered after ``quiet`` without one; escalated when a finding reaches
    ``escalate_at``. ``serious`` marks a possible serious incident (EU AI Act Art. 73) for models
    of the high-risk tier: it carries the reporting deadline of its kind. ``ends`` (a rule id):
    this rule's findings report the end of that rule's episodes and close its live incident of
    the same model and key as recovered, filing none of their own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: list[str] = Field(default_factory=list, max_length=4)
    threshold: int = Field(1, ge=1, le=10_000)
    window: int = 600
    quiet: int = 1800
    escalate_at: Severity | None = None
    serious: SeriousKind | None = None
    ends: str | None = Field(None, min_length=1, max_length=64)

    @field_validator("window", "quiet", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value)

    def policy(self, tier: str | None, default_key: tuple[str, ...] = ()) -> IncidentPolicy:
        return IncidentPolicy(
            key=tuple(self.key) or default_key,
            threshold=self.threshold,
            window_s=self.window,
            quiet_s=self.quiet,
            escalate_at=self.escalate_at,
            serious=self.serious if tier == "high" else None,
            ends=self.ends,
        )


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
    incident: IncidentSpec = Field(default_factory=IncidentSpec)

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
