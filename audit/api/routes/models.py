"""GET /models (every model against the nine risk subcategories) and GET /models/{id}/metrics
(one model's time series): what the web console's overview and model pages draw (auditor)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, status

from audit.api.deps import AuditorToken, EngineDep
from audit.api.schemas.fields import RequestDatetime
from audit.api.schemas.models import FleetPublic, ModelMetricsPublic
from audit.overview.fleet import fleet_overview
from audit.overview.metrics import model_metrics
from core.model_registry import load_registry
from core.settings import get_settings

router = APIRouter(prefix="/models", tags=["models"])
Since = Annotated[
    RequestDatetime | None,
    Query(description="RFC 3339, inclusive; default the first stored record (30 days at most)."),
]
Until = Annotated[
    RequestDatetime | None,
    Query(description="RFC 3339, exclusive; default just after the latest stored record."),
]


def _daily_budget(model: str) -> float | None:
    path = get_settings().config
    entry = load_registry(path).get(model) if path.exists() else None
    return entry.daily_cost_budget_usd if entry else None


@router.get("", response_model=FleetPublic)
def read_models(
    engine: EngineDep, _token: AuditorToken, since: Since = None, until: Until = None
) -> dict[str, Any]:
    """Every model with events, findings or open incidents in the period: open incidents and
    their worst severity per subcategory, and findings per time bin."""
    try:
        return fleet_overview(engine, since, until)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


@router.get("/{model_id}/metrics", response_model=ModelMetricsPublic)
def read_model_metrics(
    engine: EngineDep,
    _token: AuditorToken,
    model_id: Annotated[str, Path(min_length=1, max_length=256)],
    since: Since = None,
    until: Until = None,
) -> dict[str, Any]:
    """Per time bin: events, error rate, latency (mean, p95), cost against the daily budget,
    PII rate, drift score per feature and fairness metrics per attribute."""
    try:
        return model_metrics(
            engine, model_id, since=since, until=until, daily_budget=_daily_budget(model_id)
        )
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
