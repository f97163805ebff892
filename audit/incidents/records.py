"""The incident tables and the one way to record a state change: an ``incident_events`` row
chained (kind ``incident``, subject its id) in the caller's transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from audit import chain
from audit.models import IncidentEvent, IncidentFinding, IncidentRecord, RowData, table_of

INCIDENTS = table_of(IncidentRecord)
INCIDENT_FINDINGS = table_of(IncidentFinding)
EVENTS = table_of(IncidentEvent)
EVENT_FIELDS = tuple(c.name for c in EVENTS.columns)
CHAIN_KIND = "incident"
#: the actor of the state changes riskwatch makes itself (opened, escalated, recovered)
AUTOMATIC = "riskwatch"
#: the state changes that alert a subscription that alerts on incidents
ALERTING = frozenset({"opened", "escalated", "resolved", "recovered"})


def event_hash(row: RowData) -> str:
    return chain.content_hash(row, EVENT_FIELDS)


def append_event(
    conn: Connection,
    incident: dict[str, Any],
    event: str,
    *,
    actor: str,
    reason: str,
    finding_id: str | None,
    at: datetime,
    head: chain.Head | None = None,
) -> dict[str, Any]:
    """Insert and chain one state change of ``incident`` (its severity and count as they are
    now); returns the event row with its id."""
    row: dict[str, Any] = {
        "incident_id": incident["incident_id"],
        "event": event,
        "actor": actor[:128],
        "reason": reason,
        "severity": incident["severity"],
        "count": incident["count"],
        "finding_id": finding_id,
        "at": at,
    }
    row["id"] = conn.execute(insert(EVENTS).values(**row).returning(EVENTS.c.id)).scalar_one()
    link = chain.Link(CHAIN_KIND, str(row["id"]), event_hash(row))
    chain.append(conn, [link], datetime.now(UTC), head=head)
    return row
