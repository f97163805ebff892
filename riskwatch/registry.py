"""The model registry (``riskwatch.yaml``): what riskwatch knows about each deployed model."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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
            raise ValueError("alert_webhook is not read from the registry; subscribe the URL "
                             "with `riskwatch webhooks add --model <id> --url <url>` (or POST "
                             "/webhooks) and remove this key")
        return None


class Registry(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: int = 1
    models: dict[str, ModelEntry] = Field(default_factory=dict)
    #: per-detector settings (``detectors: {anomaly: {...}, pii: {...}}``), validated by each detector
    detectors: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: values policy pack expressions read as ``params.<name>`` (competitor names, purposes, ...)
    policy_params: dict[str, Any] = Field(default_factory=dict)

    def get(self, model_id: str) -> ModelEntry | None:
        return self.models.get(model_id)

    def detector_config(self, name: str) -> dict[str, Any]:
        return dict(self.detectors.get(name) or {})


def load_registry(path: Path | str) -> Registry:
    """Read and validate a registry file; a missing file means an empty registry."""
    path = Path(path)
    if not path.exists():
        return Registry()
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping with a 'models' key")
    try:
        return Registry.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from exc
