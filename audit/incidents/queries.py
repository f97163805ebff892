"""Reading incidents: the filtered list, one incident with its findings and history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.engine import Connection, Engine

from audit.incidents.records import EVENTS, INCIDENT_FINDINGS, INCIDENTS
from audit.models import FindingRecord, RowData, as_utc, table_of

FINDINGS = table_of(FindingRecord)
#: what an operator sees; pending (below its threshold) and lapsed incidents never opened
VISIBLE = ("open", "acknowledged", "resolved", "false_positive")
STATUSES = VISIBLE
_TIMES = ("first_seen", "last_seen", "opened_at", "closed_at", "report_deadline", "updated_at")


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    status: str | None = None
    model: str | None = None
    category: str | None = None
    subcategory: str | None = None
    since: datetime | None = None  # last seen at or after
    limit: int = 100
    offset: int = 0


def _where(query: Select[Any], flt: IncidentFilter) -> Select[Any]:
    c = INCIDENTS.c
    query = query.where(c.status == flt.status if flt.status else c.status.in_(VISIBLE))
    if flt.model:
        query = query.where(c.model_id == flt.model)
    if flt.category:
        query = query.where(c.category == flt.category)
    if flt.subcategory:
        query = query.where(c.subcategory == flt.subcategory)
    if flt.since:
        query = query.where(c.last_seen >= flt.since)
    return query


def public(row: RowData) -> dict[str, Any]:
    out = dict(row)
    for key in _TIMES:
        if out.get(key) is not None:
            out[key] = as_utc(out[key])
    out.pop("group_key", None)
    out.pop("live", None)
    return out


def list_incidents(engine: Engine, flt: IncidentFilter) -> tuple[list[dict[str, Any]], int]:
    """The page of incidents (the latest seen first) and how many match in all."""
    with engine.connect() as conn:
        rows = conn.execute(
            _where(select(INCIDENTS), flt)
            .order_by(INCIDENTS.c.last_seen.desc(), INCIDENTS.c.incident_id)
            .limit(flt.limit)
            .offset(flt.offset)
        ).mappings()
        items = [public(r) for r in rows]
        count = conn.execute(_where(select(func.count()).select_from(INCIDENTS), flt)).scalar()
    return items, int(count or 0)


def _events(conn: Connection, incident_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(EVENTS).where(EVENTS.c.incident_id == incident_id).order_by(EVENTS.c.id)
    ).mappings()
    return [{**r, "at": as_utc(r["at"])} for r in rows]


def get_incident(engine: Engine, incident_id: str, *, findings: int = 500) -> dict[str, Any] | None:
    """The incident, its state changes and its findings (the latest ``findings`` of them)."""
    with engine.connect() as conn:
        row = (
            conn.execute(
                select(INCIDENTS).where(
                    INCIDENTS.c.incident_id == incident_id, INCIDENTS.c.status.in_(VISIBLE)
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        found = conn.execute(
            select(FINDINGS)
            .join(INCIDENT_FINDINGS, INCIDENT_FINDINGS.c.finding_id == FINDINGS.c.finding_id)
            .where(INCIDENT_FINDINGS.c.incident_id == incident_id)
            .order_by(INCIDENT_FINDINGS.c.at.desc(), FINDINGS.c.finding_id)
            .limit(findings)
        ).mappings()
        return {
            **public(row),
            "events": _events(conn, incident_id),
            "findings": [{**f, "detected_at": as_utc(f["detected_at"])} for f in found],
        }


def incident_of(conn: Connection, finding_id: str) -> str | None:
    """The incident a finding belongs to (None: it was filed before incidents existed)."""
    return conn.execute(
        select(INCIDENT_FINDINGS.c.incident_id).where(INCIDENT_FINDINGS.c.finding_id == finding_id)
    ).scalar()
