"""GET /reports: the HTML compliance report of one model and period (as ``riskwatch report``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import HTMLResponse

from audit.api.deps import AuditorToken, EngineDep
from audit.api.schemas.fields import RequestDatetime
from audit.report.build import ReportPeriod, build_report
from core.model_registry import Registry, load_registry
from core.settings import get_settings

router = APIRouter(prefix="/reports", tags=["reports"])


def _registry() -> Registry | None:
    path = get_settings().config
    return load_registry(path) if path.exists() else None


@router.get(
    "",
    response_class=HTMLResponse,
    responses={200: {"content": {"text/html": {}}, "description": "The report"}},
)
def get_report(
    engine: EngineDep,
    _token: AuditorToken,
    model: Annotated[str, Query(min_length=1, max_length=256)],
    since: Annotated[RequestDatetime, Query(description="RFC 3339, inclusive.")],
    until: Annotated[
        RequestDatetime | None, Query(description="RFC 3339, exclusive; default now.")
    ] = None,
) -> HTMLResponse:
    try:
        period = ReportPeriod(model, since, until or datetime.now(UTC))
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    html = build_report(engine, period, _registry(), datetime.now(UTC))
    return HTMLResponse(html)
