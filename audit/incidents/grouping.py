"""Findings into incidents, inside the store's batch transaction.

Each new finding joins the live incident of its group (rule × model × the rule's key values) or
starts one. A new incident is *pending* until ``threshold`` of its findings fall within
``window_s`` of event time; then it opens. While it is open (or acknowledged) a finding of a
higher severity escalates it. When ``quiet_s`` of event time pass without a finding it closes
as recovered (a pending one lapses, unseen). Event time is the finding's event's timestamp, and
the batch's latest event time is the watermark that closes quiet incidents. A finding whose
policy ``ends`` another rule closes that rule's live incident of the same model and key as
recovered (and joins it); with none live it stands alone.

Every state change is an ``incident_events`` row chained in the same transaction, so an incident
opened by a batch commits with the batch or not at all (a replayed batch re-files nothing: only
findings inserted now are grouped).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from audit.incidents.records import AUTOMATIC, INCIDENT_FINDINGS, INCIDENTS, append_event
from audit.models import as_utc
from core.findings import Finding
from core.incidents import art73_deadline
from core.taxonomy import Severity

_NAMESPACE = uuid.UUID("0c7d3b1e-7f6a-4e49-93e2-5a1b8c0d9e21")


def group_key(finding: Finding) -> tuple[str, dict[str, Any]]:
    """The group a finding files into (for an ``ends`` finding: the group it closes), and the
    key values that tell its incidents apart."""
    key = {name: finding.evidence.get(name) for name in finding.incident.key}
    rule = finding.incident.ends or finding.rule_id
    parts = [rule, finding.model_id, *(str(key[n]) for n in finding.incident.key)]
    return "|".join(parts)[:512], key


@dataclass(frozen=True, slots=True)
class Filed:
    """A new finding and its event time."""

    finding: Finding
    at: datetime


def _close_quiet(conn: Connection, watermark: datetime, now: datetime) -> list[dict[str, Any]]:
    """Close every live incident whose quiet time ended before ``watermark``."""
    rows = (
        conn.execute(
            select(INCIDENTS).where(INCIDENTS.c.live.is_(True), INCIDENTS.c.quiet_until < watermark)
        )
        .mappings()
        .all()
    )
    return [e for r in rows if (e := _close(conn, dict(r), now))]


def _close(conn: Connection, inc: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Recover an open incident (or lapse a pending one) at the end of its quiet time; returns
    the chained event, or {} for a lapse (a pending incident was never seen)."""
    pending = inc["status"] == "pending"
    at = as_utc(inc["quiet_until"])
    values = {
        "live": False,
        "status": "lapsed" if pending else "resolved",
        "resolution": None if pending else "recovered",
        "closed_at": at,
        "updated_at": now,
    }
    conn.execute(
        update(INCIDENTS).where(INCIDENTS.c.incident_id == inc["incident_id"]).values(**values)
    )
    inc.update(values)
    if pending:
        return {}
    quiet = timedelta(seconds=inc["quiet_s"])
    return append_event(
        conn,
        inc,
        "recovered",
        actor=AUTOMATIC,
        reason=f"no finding for {quiet} of event time",
        finding_id=inc["last_finding_id"],
        at=at,
    )


def _live_incidents(conn: Connection, groups: Sequence[str]) -> dict[str, dict[str, Any]]:
    live: dict[str, dict[str, Any]] = {}
    for i in range(0, len(groups), 500):
        rows = conn.execute(
            select(INCIDENTS).where(
                INCIDENTS.c.group_key.in_(groups[i : i + 500]), INCIDENTS.c.live.is_(True)
            )
        ).mappings()
        live.update({r["group_key"]: dict(r) for r in rows})
    return live


def _recent_times(conn: Connection, incident_id: str, since: datetime) -> list[datetime]:
    return [
        as_utc(t)
        for t in conn.execute(
            select(INCIDENT_FINDINGS.c.at).where(
                INCIDENT_FINDINGS.c.incident_id == incident_id, INCIDENT_FINDINGS.c.at >= since
            )
        ).scalars()
    ]


def _new_incident(filed: Filed, group: str, key: dict[str, Any], now: datetime) -> dict[str, Any]:
    f, policy = filed.finding, filed.finding.incident
    return {
        "incident_id": str(uuid.uuid5(_NAMESPACE, f"{group}|{f.finding_id}")),
        "group_key": group,
        "rule_id": f.rule_id,
        "model_id": f.model_id,
        "key": key,
        "category": str(f.category),
        "subcategory": str(f.subcategory),
        "title": f.title,
        "status": "pending",
        "live": True,
        "resolution": None,
        "severity": str(f.severity),
        "escalated": False,
        "count": 0,
        "first_seen": filed.at,
        "last_seen": filed.at,
        "opened_at": None,
        "closed_at": None,
        "quiet_until": filed.at + timedelta(seconds=policy.quiet_s),
        "threshold": policy.threshold,
        "window_s": policy.window_s,
        "quiet_s": policy.quiet_s,
        "escalate_at": str(policy.escalate_at) if policy.escalate_at else None,
        "serious": str(policy.serious) if policy.serious else None,
        "report_deadline": None,
        "last_finding_id": f.finding_id,
        "updated_at": now,
    }


class _Batch:
    """The incidents one batch touches, kept in memory and written once at the end."""

    def __init__(self, conn: Connection, now: datetime) -> None:
        self.conn, self.now = conn, now
        self.live: dict[str, dict[str, Any]] = {}
        self.created: set[str] = set()
        self.touched: dict[str, dict[str, Any]] = {}
        self.times: dict[str, list[datetime]] = {}  # pending incidents: their findings' times
        self.links: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []

    def file(self, filed: Filed) -> None:
        f = filed.finding
        group, key = group_key(f)
        inc = self.live.get(group)
        if f.incident.ends:
            self._end(filed, group, inc)
            return
        if inc is not None and as_utc(inc["quiet_until"]) < filed.at:
            self._flush_one(inc)
            if event := _close(self.conn, inc, self.now):
                self.events.append(event)
            del self.live[group]
            inc = None
        if inc is None:
            inc = _new_incident(filed, group, key, self.now)
            self.live[group] = inc
            self.created.add(inc["incident_id"])
            self.times[inc["incident_id"]] = []
        iid = inc["incident_id"]
        self.touched[iid] = inc
        self.links.append({"finding_id": f.finding_id, "incident_id": iid, "at": filed.at})
        inc["count"] += 1
        inc["last_seen"] = max(as_utc(inc["last_seen"]), filed.at)
        inc["quiet_until"] = as_utc(inc["last_seen"]) + timedelta(seconds=inc["quiet_s"])
        inc["last_finding_id"] = f.finding_id
        inc["updated_at"] = self.now
        before = Severity(inc["severity"])
        if f.severity.rank > before.rank:
            inc["severity"] = str(f.severity)
        if inc["status"] == "pending":
            self._maybe_open(inc, filed)
        elif f.severity.rank > before.rank and self._escalates(inc, f.severity):
            inc["escalated"] = True
            self._event(inc, "escalated", f"a {f.severity} finding (was {before})", f.finding_id)

    def _end(self, filed: Filed, group: str, inc: dict[str, Any] | None) -> None:
        """The episode behind a live incident ended (the detector saw it): the finding joins
        the incident and closes it as recovered (a pending one lapses, never seen)."""
        if inc is None:
            return
        f = filed.finding
        iid = inc["incident_id"]
        self.touched[iid] = inc
        self.links.append({"finding_id": f.finding_id, "incident_id": iid, "at": filed.at})
        pending = inc["status"] == "pending"
        inc.update(
            count=inc["count"] + 1,
            last_seen=max(as_utc(inc["last_seen"]), filed.at),
            last_finding_id=f.finding_id,
            updated_at=self.now,
            live=False,
            status="lapsed" if pending else "resolved",
            resolution=None if pending else "recovered",
            closed_at=filed.at,
        )
        del self.live[group]
        if not pending:
            self._event(inc, "recovered", f"{f.rule_id}: {f.title}", f.finding_id)

    def _maybe_open(self, inc: dict[str, Any], filed: Filed) -> None:
        iid = inc["incident_id"]
        since = filed.at - timedelta(seconds=inc["window_s"])
        if iid not in self.created and iid not in self.times:
            self.times[iid] = _recent_times(self.conn, iid, since)
        times = [t for t in self.times[iid] if t >= since] + [filed.at]
        self.times[iid] = times
        if len(times) < inc["threshold"]:
            return
        inc["status"], inc["opened_at"] = "open", filed.at
        if inc["serious"]:
            inc["report_deadline"] = art73_deadline(inc["serious"], self.now)
        reason = (
            f"{len(times)} findings within {timedelta(seconds=inc['window_s'])}"
            if inc["threshold"] > 1
            else "first finding"
        )
        self._event(inc, "opened", reason, filed.finding.finding_id)

    @staticmethod
    def _escalates(inc: dict[str, Any], severity: Severity) -> bool:
        at = inc["escalate_at"]
        return at is None or severity.rank >= Severity(at).rank

    def _event(self, inc: dict[str, Any], event: str, reason: str, finding_id: str) -> None:
        self._flush_one(inc)
        self.events.append(
            append_event(
                self.conn,
                inc,
                event,
                actor=AUTOMATIC,
                reason=reason,
                finding_id=finding_id,
                at=as_utc(inc["last_seen"]),
            )
        )

    def _flush_one(self, inc: dict[str, Any]) -> None:
        """Write an incident's row now (a chained event names it; the event's content is its
        own, so only the row must exist)."""
        iid = inc["incident_id"]
        if iid in self.created:
            self.conn.execute(insert(INCIDENTS).values(**inc))
            self.created.discard(iid)
        else:
            values = {k: v for k, v in inc.items() if k != "incident_id"}
            self.conn.execute(
                update(INCIDENTS).where(INCIDENTS.c.incident_id == iid).values(**values)
            )

    def flush(self) -> None:
        for inc in self.touched.values():
            self._flush_one(inc)
        if self.links:
            self.conn.execute(insert(INCIDENT_FINDINGS), self.links)


def file_findings(
    conn: Connection, filed: Sequence[Filed], watermark: datetime | None, now: datetime
) -> list[dict[str, Any]]:
    """Group the batch's new findings; returns the chained incident events it made, in order
    (the caller enqueues their alerts)."""
    events: list[dict[str, Any]] = []
    if watermark is not None:
        events.extend(_close_quiet(conn, watermark, now))
    if not filed:
        return events
    batch = _Batch(conn, now)
    ordered = sorted(filed, key=lambda x: x.at)
    batch.live = _live_incidents(conn, sorted({group_key(x.finding)[0] for x in ordered}))
    for item in ordered:
        batch.file(item)
    batch.flush()
    events.extend(batch.events)
    return events
