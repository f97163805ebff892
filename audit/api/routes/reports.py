"""GET /reports: the compliance report of one model and period, HTML or PDF (as
``riskwatch report``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import HTMLResponse, Response

from audit.api.deps import AuditorToken, EngineDep
from audit.api.schemas.fields import RequestDatetime
from audit.report.build import ReportPeriod, build_report
from audit.report.pdf import PdfError, html_to_pdf
from core.model_registry import Registry, load_registry
from core.settings import get_settings

router = APIRouter(prefix="/reports", tags=["reports"])


def _registry() -> Registry | None:
    path = get_settings().config
    return load_registry(path) if path.exists() else None


@router.get(
    "",
    response_class=HTMLResponse,
    responses={
        200: {"content": {"text/html": {}, "application/pdf": {}}, "description": "The report"},
        503: {"description": "format=pdf, and no Chromium to print it"},
    },
)
def get_report(
    engine: EngineDep,
    _token: AuditorToken,
    model: Annotated[str, Query(min_length=1, max_length=256)],
    since: Annotated[RequestDatetime, Query(description="RFC 3339, inclusive.")],
    until: Annotated[
        RequestDatetime | None, Query(description="RFC 3339, exclusive; default now.")
    ] = None,
    format: Literal["html", "pdf"] = "html",
) -> Response:
    try:
        period = ReportPeriod(model, since, until or datetime.now(UTC))
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    html = build_report(engine, period, _registry(), datetime.now(UTC))
    if format == "pdf":
        try:
            pdf = html_to_pdf(html, chromium=get_settings().chromium)
        except PdfError as exc:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
        return Response(pdf, media_type="application/pdf")
    return HTMLResponse(html)
