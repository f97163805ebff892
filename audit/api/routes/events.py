"""GET /events/{event_id}/text: an event's sealed texts in the clear (operator), each reading a
chained record of who read what and when (audit/sealing.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, status

from audit.api.deps import EngineDep, OperatorToken
from audit.keys import KeyFileError, keys_from_settings
from audit.sealing import reveal_event
from core.events import NAME

router = APIRouter(prefix="/events", tags=["events"])


@router.get("/{event_id}/text")
def reveal_text(
    event_id: Annotated[str, Path(min_length=1, max_length=128, pattern=NAME)],
    engine: EngineDep,
    token: OperatorToken,
    reason: Annotated[
        str, Query(min_length=1, max_length=500, description="Why the text is read (recorded).")
    ] = "read through the API",
) -> dict[str, Any]:
    """The event's redacted input/output texts and its findings' quoted evidence, opened with
    their data keys (``<erased>`` where an erasure destroyed the key). Needs the operator role;
    every call is recorded as the token's name and chained (kind ``reveal``)."""
    try:
        keys = keys_from_settings()
        result = reveal_event(
            engine, keys, event_id, actor=token.name, reason=reason, now=datetime.now(UTC)
        )
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    except KeyFileError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    if result is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no event {event_id}")
    return result
