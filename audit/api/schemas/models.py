"""Response models of /models: the fleet overview and one model's time series."""

from __future__ import annotations

from sqlmodel import Field, SQLModel

from audit.api.schemas.fields import UtcDatetime
from core.taxonomy import Category, Severity, Subcategory


class PeriodPublic(SQLModel):
    since: UtcDatetime
    until: UtcDatetime
    bin_seconds: int = Field(description="Width of each time bin.")
    bin_starts: list[UtcDatetime]
    labels: list[str] = Field(description="A short label per bin (UTC).")


class SubcategoryPublic(SQLModel):
    subcategory: Subcategory
    category: Category


class CellPublic(SQLModel):
    open: int = Field(description="Open or acknowledged incidents.")
    worst_severity: Severity | None


class ModelOverviewPublic(SQLModel):
    model_id: str
    events: int
    findings: int
    open_incidents: int
    subcategories: dict[Subcategory, CellPublic]
    trend: list[int] = Field(description="Findings per time bin.")


class FleetPublic(SQLModel):
    period: PeriodPublic
    subcategories: list[SubcategoryPublic]
    models: list[ModelOverviewPublic]


class DriftSeriesPublic(SQLModel):
    feature: str
    score_kind: str = Field(description="p_value or distance, as the drift test reports it.")
    threshold: float | None
    values: list[float | None] = Field(description="The bin's highest score; None: no finding.")


class FairnessSeriesPublic(SQLModel):
    attribute: str
    metric: str
    threshold: float | None
    values: list[float | None] = Field(description="The bin's last value; None: no finding.")
    groups: dict[str, dict[str, float]] = Field(description="The latest rates per group.")


class ModelMetricsPublic(SQLModel):
    model_id: str
    period: PeriodPublic
    events: list[int]
    error_rate: list[float | None]
    latency_mean_ms: list[float | None]
    latency_p95_ms: list[float | None]
    cost_usd: list[float]
    daily_budget_usd: float | None
    bin_budget_usd: float | None = Field(description="The daily budget pro rata of one bin.")
    pii_rate: list[float | None] = Field(
        description="PII entities found per event (binned by the event's time)."
    )
    pii_entities: dict[str, int]
    drift: list[DriftSeriesPublic]
    fairness: list[FairnessSeriesPublic]
