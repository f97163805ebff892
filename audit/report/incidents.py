"""The report's incidents: the model's incidents seen in the period, each with its state changes
and (behind a details element) its findings."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from audit.incidents.queries import VISIBLE
from audit.incidents.records import EVENTS, INCIDENT_FINDINGS, INCIDENTS
from audit.models import EventRecord, FindingRecord, as_utc, table_of
from audit.report.summary import severity_rank

FINDINGS = table_of(FindingRecord)
OPEN = ("open", "acknowledged")
#: findings listed under each incident (its count covers them all)
MAX_LISTED = 100


@dataclass
class ReportIncidents:
    items: list[dict[str, Any]] = field(default_factory=list)
    by_status: Counter[str] = field(default_factory=Counter)
    #: subcategory -> open incidents
    open_by_subcategory: Counter[str] = field(default_factory=Counter)

    @property
    def open(self) -> int:
        return sum(self.by_status[s] for s in OPEN)

    @property
    def closed(self) -> int:
        return sum(n for s, n in self.by_status.items() if s not in OPEN)

    @property
    def deadlines(self) -> list[dict[str, Any]]:
        """Open incidents with an EU AI Act Art. 73 reporting deadline, the nearest first."""
        due = [i for i in self.items if i["report_deadline"] and i["status"] in OPEN]
        return sorted(due, key=lambda i: i["report_deadline"])


@dataclass
class FleetRow:
    """One model's open incidents per risk subcategory (the report summary's fleet table)."""

    model_id: str
    open_by_subcategory: Counter[str] = field(default_factory=Counter)
    worst: dict[str, str] = field(default_factory=dict)  # subcategory -> worst open severity

    @property
    def open(self) -> int:
        return sum(self.open_by_subcategory.values())


def collect_fleet(conn: Connection, since: datetime, until: datetime) -> list[FleetRow]:
    """Every model with events or incidents in the period, and its open incidents."""
    events = table_of(EventRecord)
    models = set(
        conn.execute(
            select(events.c.model_id)
            .where(events.c.timestamp >= since, events.c.timestamp < until)
            .distinct()
        ).scalars()
    )
    rows: dict[str, FleetRow] = {m: FleetRow(m) for m in models}
    for inc in conn.execute(
        select(INCIDENTS.c.model_id, INCIDENTS.c.subcategory, INCIDENTS.c.severity).where(
            INCIDENTS.c.status.in_(OPEN),
            INCIDENTS.c.first_seen < until,
            INCIDENTS.c.last_seen >= since,
        )
    ):
        row = rows.setdefault(inc.model_id, FleetRow(inc.model_id))
        row.open_by_subcategory[inc.subcategory] += 1
        if severity_rank(inc.severity) > severity_rank(row.worst.get(inc.subcategory)):
            row.worst[inc.subcategory] = inc.severity
    return sorted(rows.values(), key=lambda r: (-r.open, r.model_id))


def _times(row: Any, *names: str) -> dict[str, Any]:
    out = dict(row)
    for name in names:
        if out.get(name) is not None:
            out[name] = as_utc(out[name])
    return out


def collect_incidents(
    conn: Connection, model: str, since: datetime, until: datetime
) -> ReportIncidents:
    rows = conn.execute(
        select(INCIDENTS)
        .where(
            INCIDENTS.c.model_id == model,
            INCIDENTS.c.status.in_(VISIBLE),
            INCIDENTS.c.first_seen < until,
            INCIDENTS.c.last_seen >= since,
        )
        .order_by(INCIDENTS.c.first_seen, INCIDENTS.c.incident_id)
    ).mappings()
    out = ReportIncidents()
    for row in rows:
        item = _times(row, "first_seen", "last_seen", "opened_at", "closed_at", "report_deadline")
        iid = item["incident_id"]
        item["events"] = [
            _times(e, "at")
            for e in conn.execute(
                select(EVENTS).where(EVENTS.c.incident_id == iid).order_by(EVENTS.c.id)
            ).mappings()
        ]
        item["findings"] = [
            _times(f, "detected_at")
            for f in conn.execute(
                select(FINDINGS)
                .join(INCIDENT_FINDINGS, INCIDENT_FINDINGS.c.finding_id == FINDINGS.c.finding_id)
                .where(INCIDENT_FINDINGS.c.incident_id == iid)
                .order_by(INCIDENT_FINDINGS.c.at, FINDINGS.c.finding_id)
                .limit(MAX_LISTED)
            ).mappings()
        ]
        out.items.append(item)
        out.by_status[item["status"]] += 1
        if item["status"] in OPEN:
            out.open_by_subcategory[item["subcategory"]] += 1
    return out
