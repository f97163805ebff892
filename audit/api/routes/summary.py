"""GET /summary: finding counts grouped by model, category, subcategory, severity or time."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from audit.api.deps import AuditorToken, EngineDep
from audit.api.schemas.fields import RequestDatetime
from audit.api.schemas.summary import SummaryPublic
from audit.trail import grouped_counts

router = APIRouter(tags=["summary"])


@router.get("/summary", response_model=SummaryPublic)
def summary(
    engine: EngineDep,
    _token: AuditorToken,
    group_by: Literal["model", "category", "subcategory", "severity", "bucket"] = "category",
    bucket: Annotated[
        Literal["hour", "day"], Query(description="With group_by=bucket (UTC).")
    ] = "hour",
    since: RequestDatetime | None = None,
    until: RequestDatetime | None = None,
) -> dict[str, Any]:
    return grouped_counts(engine, group_by=group_by, bucket=bucket, since=since, until=until)
