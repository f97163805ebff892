"""The model registry (``riskwatch.yaml``): what riskwatch knows about each deployed model."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

log = logging.getLogger(__name__)

RiskTier = Literal["minimal", "limited", "high"]


class ConfigError(ValueError):
    """The registry file is missing or invalid; the message names the file and the field."""


class ModelEntry(BaseModel):
    """One model id's registry entry. Unknown keys are kept for later detectors and policies."""

    model_config = ConfigDict(extra="allow", frozen=True)

    owner: str
    risk_tier: RiskTier = "minimal"
    region: str | None = None
    latency_slo_ms: float | None = Field(None, gt=0)
    error_rate_slo: float = Field(0.05, ge=0, le=1)
    daily_cost_budget_usd: float | None = Field(None, ge=0)
    release_date: date | None = None
    protected_attributes: list[str] = Field(default_factory=list)
    # read by policy packs (policies/packs/*.yaml) as `model.<field>`
    deprecated_versions: list[str] = Field(default_factory=list)
    max_age_days: int | None = Field(None, gt=0)  # allowed age of a version since release_date
    max_cost_per_call_usd: float | None = Field(None, ge=0)
    min_human_review_rate: float | None = Field(None, ge=0, le=1)
    competitor_latency_p95_ms: float | None = Field(None, gt=0)
    #: share of failed calls of the competing offer we benchmark against (RW-CP-003)
    competitor_error_rate: float | None = Field(None, ge=0, le=1)
    #: Rejected, not silently kept as an unknown key: alerts go through webhook subscriptions
    #: (`riskwatch webhooks add --model ID --url URL`), which have a signing secret shown to
    #: whoever adds them and are chained as admin actions; a URL in this file would have neither.
    alert_webhook: None = None

    @field_validator("alert_webhook", mode="before")
    @classmethod
    def _no_registry_webhooks(cls, value: Any) -> None:
        if value is not None:
            raise ValueError(
                "alert_webhook is not read from the registry; subscribe the URL "
                "with `riskwatch webhooks add --model <id> --url <url>` (or POST "
                "/webhooks) and remove this key"
            )
        return None


class Registry(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: int = 1
    models: dict[str, ModelEntry] = Field(default_factory=dict)
    #: per-detector settings (``detectors: {anomaly: {...}, pii: {...}}``), validated by each
    #: detector
    detectors: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: values policy pack expressions read as ``params.<name>`` (competitor names, purposes, ...)
    policy_params: dict[str, Any] = Field(default_factory=dict)

    def get(self, model_id: str) -> ModelEntry | None:
        return self.models.get(model_id)

    def detector_config(self, name: str) -> dict[str, Any]:
        return dict(self.detectors.get(name) or {})


def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the YAML node at ``loc`` (the deepest one that exists)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = [
                (k, v)
                for k, v in node.value
                if isinstance(k, yaml.ScalarNode) and k.value == str(part)
            ]
            if not match:
                break
            line, node = match[0][0].start_mark.line + 1, match[0][1]
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def load_registry(path: Path | str) -> Registry:
    """Read and validate a registry file; a missing file means an empty registry. Errors name the
    file and, where known, the line: ``riskwatch.yaml:42: models.m.risk_tier: ...``."""
    path = Path(path)
    if not path.exists():
        return Registry()
    try:
        text = path.read_text(encoding="utf-8")
        raw: Any = yaml.safe_load(text) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"{mark.line + 1}:" if mark is not None else ""
        raise ConfigError(f"{path}:{line} not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}:1: the top level must be a mapping with a 'models' key")
    try:
        return Registry.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            at = _line_of(text, tuple(err["loc"]))
            where = f"{path}:{at}" if at else str(path)
            problems.append(f"{where}: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}")
        raise ConfigError("; ".join(problems)) from exc


class RegistryWatcher:
    """The registry file, re-read when it changes (hot reload, as the policy packs are).

    ``poll()`` looks at the file at most every ``every_s`` seconds (its mtime and size) and returns
    the registry to use: the new one once it loads, else the last good one, the error logged once
    per broken version of the file and kept in ``last_error`` (``failures`` counts them). A file
    that disappears is treated as broken, not as an empty registry. Detector settings
    (``detectors:``) take effect at the next restart: the detectors were built with them and hold
    state; models and ``policy_params`` take effect at once.
    """

    def __init__(
        self,
        path: Path | str,
        registry: Registry | None = None,
        *,
        every_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self.registry = registry if registry is not None else load_registry(self.path)
        self.every_s = every_s
        self._clock = clock
        self._next = clock() + every_s
        self._snapshot = self._stat()
        self._bad: tuple[int, int] | None = None
        self.last_error: str | None = None
        self.failures = 0
        self.reloads = 0

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def poll(self, *, force: bool = False) -> Registry:
        now = self._clock()
        if not force and now < self._next:
            return self.registry
        self._next = now + self.every_s
        snapshot = self._stat()
        if snapshot == self._snapshot or (snapshot is not None and snapshot == self._bad):
            return self.registry
        try:
            if snapshot is None:
                raise ConfigError(f"{self.path}: the registry file is gone")
            registry = load_registry(self.path)
        except ConfigError as exc:
            log.error(
                "model registry changed but is invalid; still running on the last good "
                "one (%d models): %s",
                len(self.registry.models),
                exc,
            )
            self.failures += 1
            self.last_error = str(exc)
            if snapshot is None:
                self._snapshot = None  # reported once; the file coming back is a change
            else:
                self._bad = snapshot
            return self.registry
        if registry.detectors != self.registry.detectors:
            log.warning(
                "%s: detector settings changed; they take effect when the worker "
                "restarts (models and policy_params are reloaded now)",
                self.path,
            )
        self.registry, self._snapshot, self._bad, self.last_error = registry, snapshot, None, None
        self.reloads += 1
        log.info("model registry reloaded from %s: %d models", self.path, len(registry.models))
        return registry
