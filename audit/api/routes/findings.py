"""GET /findings, GET /findings/{id} (with its trail), POST /findings/{id}/{action}."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from audit.api.deps import AuditorToken, EngineDep, OperatorToken
from audit.api.schemas.fields import RequestDatetime
from audit.api.schemas.findings import (
    ActionCreate,
    ActionResult,
    FindingsPublic,
    FindingTrailPublic,
    SortOrder,
)
from audit.lifecycle import Action, FindingNotFound, InvalidTransition, Status, record_action
from audit.queries import FindingFilter, count_findings, encode_cursor, find_findings
from audit.trail import finding_trail
from core.taxonomy import Category, Severity, Subcategory

router = APIRouter(prefix="/findings", tags=["findings"])


class ActionPath(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    FALSE_POSITIVE = "false-positive"
    REOPEN = "reopen"


@router.get("", response_model=FindingsPublic)
def list_findings(
    engine: EngineDep,
    _token: AuditorToken,
    model: str | None = None,
    version: Annotated[str | None, Query(description="Model version.")] = None,
    category: Category | None = None,
    subcategory: Subcategory | None = None,
    severity: Annotated[Severity | None, Query(description="Exactly this severity.")] = None,
    min_severity: Annotated[Severity | None, Query(description="This severity or higher.")] = None,
    detector: str | None = None,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    since: Annotated[RequestDatetime | None, Query(description="RFC 3339, inclusive.")] = None,
    until: Annotated[RequestDatetime | None, Query(description="RFC 3339, exclusive.")] = None,
    regulation: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="Substring of a regulation reference, case-insensitive.",
        ),
    ] = None,
    sort: SortOrder = "-detected_at",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
    cursor: Annotated[
        str | None, Query(max_length=512, description="next_cursor of the previous page.")
    ] = None,
) -> dict[str, Any]:
    if cursor is not None and offset:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "give either offset or cursor")
    flt = FindingFilter(
        model=model,
        version=version,
        category=category,
        subcategory=subcategory,
        severity=severity,
        min_severity=min_severity,
        detector=detector,
        status=status_,
        since=since,
        until=until,
        regulation=regulation,
        sort=sort,
        limit=limit,
        offset=offset,
        cursor=cursor,
    )
    try:
        items = find_findings(engine, flt)
    except ValueError as exc:  # a malformed cursor
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    next_cursor = encode_cursor(sort, items[-1]) if len(items) == limit else None
    return {
        "items": items,
        "count": count_findings(engine, flt),
        "limit": limit,
        "offset": offset,
        "next_cursor": next_cursor,
    }


@router.get("/{finding_id}", response_model=FindingTrailPublic)
def get_finding(finding_id: str, engine: EngineDep, _token: AuditorToken) -> dict[str, Any]:
    trail = finding_trail(engine, finding_id)
    if trail is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no finding {finding_id}")
    return trail


@router.post(
    "/{finding_id}/{action}",
    response_model=ActionResult,
    responses={
        404: {"description": "Unknown finding"},
        409: {"description": "Not applicable in the finding's status"},
    },
)
def act_on_finding(
    finding_id: str, action: ActionPath, body: ActionCreate, engine: EngineDep, token: OperatorToken
) -> dict[str, Any]:
    """Acknowledge, resolve, mark false positive or reopen; the actor is the token's name."""
    try:
        return record_action(
            engine,
            finding_id=finding_id,
            action=Action(action.value.replace("-", "_")),
            actor=token.name,
            reason=body.reason,
        )
    except FindingNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no finding {finding_id}") from None
    except InvalidTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
