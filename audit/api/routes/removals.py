"""Data removals: GDPR Art. 17 erasures (admin) and the record of every erasure and retention
purge (auditor)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status

from audit.api.deps import AdminToken, AuditorToken, EngineDep, RowId
from audit.api.schemas.removals import ErasureCreate, ErasurePublic, RemovalDetail, RemovalsPublic
from audit.keys import KeyFileError
from audit.removal.erasure import erase_subject
from audit.removal.records import get_removal, list_removals

router = APIRouter(tags=["data removals"])


@router.post("/erasures", response_model=ErasurePublic, status_code=status.HTTP_201_CREATED)
def erase(body: ErasureCreate, engine: EngineDep, token: AdminToken) -> dict[str, Any]:
    """Erase one data subject's event content by context.user_ref; recorded as the token's
    name and chained."""
    try:
        result = erase_subject(
            engine, body.user_ref, reason=body.reason, by=token.name, now=datetime.now(UTC)
        )
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    except KeyFileError as exc:  # the server's key file: an operator's problem, not the caller's
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    return result.to_dict()


@router.get("/removals", response_model=RemovalsPublic)
def read_removals(
    engine: EngineDep,
    _token: AuditorToken,
    kind: Literal["erasure", "retention"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> dict[str, Any]:
    """Erasures and retention purges, newest first."""
    items = list_removals(engine, kind=kind, limit=limit, offset=offset)
    return {"items": items, "count": len(items)}


@router.get("/removals/{removal_id}", response_model=RemovalDetail)
def read_removal(removal_id: RowId, engine: EngineDep, _token: AuditorToken) -> dict[str, Any]:
    row = get_removal(engine, removal_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no removal {removal_id}")
    return row
