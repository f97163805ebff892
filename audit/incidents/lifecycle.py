"""What operators do with an incident: acknowledge it, resolve it, or mark it a false positive
(with a reason). Each is a chained ``incident_events`` row with who and why, written with the
new state in one transaction; resolving alerts the subscriptions that alert on incidents."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from audit import chain
from audit.incidents.records import INCIDENTS, append_event
from audit.webhooks import outbox


class IncidentAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    FALSE_POSITIVE = "false_positive"


#: action → (the statuses it applies to, the status after it, the event it records)
_TRANSITIONS: dict[IncidentAction, tuple[frozenset[str], str, str]] = {
    IncidentAction.ACKNOWLEDGE: (frozenset({"open"}), "acknowledged", "acknowledged"),
    IncidentAction.RESOLVE: (frozenset({"open", "acknowledged"}), "resolved", "resolved"),
    IncidentAction.FALSE_POSITIVE: (
        frozenset({"open", "acknowledged"}),
        "false_positive",
        "false_positive",
    ),
}


class IncidentNotFound(LookupError):
    pass


class InvalidIncidentTransition(ValueError):
    pass


def act(
    engine: Engine,
    incident_id: str,
    action: IncidentAction | str,
    *,
    actor: str,
    reason: str,
    at: datetime | None = None,
) -> dict[str, Any]:
    """Apply ``action``; returns the incident as it is now with the chained event.

    Raises IncidentNotFound, or InvalidIncidentTransition when the action does not apply to the
    incident's status (a pending incident has not opened; a closed one stays closed: a new
    breach opens a new incident)."""
    action = IncidentAction(action)
    if not actor.strip():
        raise ValueError("actor must not be empty")
    if not reason.strip():
        raise ValueError("a reason is required")
    at = (at or datetime.now(UTC)).astimezone(UTC)
    allowed, after, event = _TRANSITIONS[action]
    with engine.begin() as conn:
        head = chain.lock_head(conn)  # serialises concurrent actions before the status is read
        row = (
            conn.execute(select(INCIDENTS).where(INCIDENTS.c.incident_id == incident_id))
            .mappings()
            .first()
        )
        if row is None or row["status"] in ("pending", "lapsed"):
            raise IncidentNotFound(incident_id)
        if row["status"] not in allowed:
            raise InvalidIncidentTransition(
                f"cannot {action.value.replace('_', ' ')} an incident that is {row['status']}"
            )
        closing = after != "acknowledged"
        values: dict[str, Any] = {"status": after, "updated_at": at}
        if closing:
            values |= {"live": False, "closed_at": at, "resolution": after}
        conn.execute(
            update(INCIDENTS).where(INCIDENTS.c.incident_id == incident_id).values(**values)
        )
        incident = {**row, **values}
        ev = append_event(
            conn,
            incident,
            event,
            actor=actor,
            reason=reason,
            finding_id=incident["last_finding_id"],
            at=at,
            head=head,
        )
        outbox.enqueue_incident_events(conn, [ev], {incident_id: incident}, at)
    return {**incident, "event": ev}
