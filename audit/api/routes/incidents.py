"""GET /incidents, GET /incidents/{id}, POST /incidents/{id}/{action} (operators act)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from audit.api.deps import AuditorToken, EngineDep, OperatorToken
from audit.api.schemas.fields import RequestDatetime
from audit.api.schemas.incidents import (
    IncidentActionCreate,
    IncidentActionResult,
    IncidentDetailPublic,
    IncidentsPublic,
    IncidentStatus,
)
from audit.incidents.lifecycle import (
    IncidentAction,
    IncidentNotFound,
    InvalidIncidentTransition,
    act,
)
from audit.incidents.queries import IncidentFilter, get_incident, list_incidents, public
from core.taxonomy import Category, Subcategory

router = APIRouter(prefix="/incidents", tags=["incidents"])


class IncidentActionPath(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    FALSE_POSITIVE = "false-positive"


@router.get("", response_model=IncidentsPublic)
def read_incidents(
    engine: EngineDep,
    _token: AuditorToken,
    status_: Annotated[IncidentStatus | None, Query(alias="status")] = None,
    model: Annotated[str | None, Query(max_length=256)] = None,
    category: Category | None = None,
    subcategory: Subcategory | None = None,
    since: Annotated[
        RequestDatetime | None, Query(description="Last seen at or after (RFC 3339).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> dict[str, Any]:
    flt = IncidentFilter(
        status=status_,
        model=model,
        category=category,
        subcategory=subcategory,
        since=since,
        limit=limit,
        offset=offset,
    )
    items, count = list_incidents(engine, flt)
    return {"items": items, "count": count, "limit": limit, "offset": offset}


@router.get("/{incident_id}", response_model=IncidentDetailPublic)
def read_incident(incident_id: str, engine: EngineDep, _token: AuditorToken) -> dict[str, Any]:
    incident = get_incident(engine, incident_id)
    if incident is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no incident {incident_id}")
    return incident


@router.post(
    "/{incident_id}/{action}",
    response_model=IncidentActionResult,
    responses={
        404: {"description": "Unknown incident"},
        409: {"description": "Not applicable in the incident's status"},
    },
)
def act_on_incident(
    incident_id: str,
    action: IncidentActionPath,
    body: IncidentActionCreate,
    engine: EngineDep,
    token: OperatorToken,
) -> dict[str, Any]:
    """Acknowledge, resolve or mark false positive (with a reason); chained with the token's
    name as the actor. Resolving alerts the subscriptions that alert on incidents."""
    try:
        result = act(
            engine,
            incident_id,
            IncidentAction(action.value.replace("-", "_")),
            actor=token.name,
            reason=body.reason,
        )
    except IncidentNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no incident {incident_id}") from None
    except InvalidIncidentTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return {**public(result), "event": result["event"]}
