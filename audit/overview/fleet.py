"""Every model against the nine risk subcategories: its open incidents and their worst severity
per subcategory, and its findings per time bin over the period (the overview's sparkline)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from audit.models import EventRecord, FindingRecord, as_utc, table_of
from audit.report.bins import TimeBins, time_bins
from audit.report.incidents import collect_fleet
from core.taxonomy import SUBCATEGORIES

EVENTS = table_of(EventRecord)
FINDINGS = table_of(FindingRecord)
#: the longest default period (from the first stored record to the latest)
DEFAULT_SPAN = timedelta(days=30)


def default_period(
    conn: Connection, since: datetime | None, until: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """The period asked for; a missing end is the stored records' (events and findings): up to
    just after the latest, from the first but no more than DEFAULT_SPAN before ``until``."""
    if until is None:
        latest = [
            conn.execute(select(func.max(EVENTS.c.timestamp))).scalar_one(),
            conn.execute(select(func.max(FINDINGS.c.detected_at))).scalar_one(),
        ]
        known = [as_utc(t) for t in latest if t is not None]
        until = max(known) + timedelta(seconds=1) if known else now
    until = as_utc(until)
    if since is None:
        earliest = [
            conn.execute(select(func.min(EVENTS.c.timestamp))).scalar_one(),
            conn.execute(select(func.min(FINDINGS.c.detected_at))).scalar_one(),
        ]
        known = [as_utc(t) for t in earliest if t is not None]
        since = max(min(known), until - DEFAULT_SPAN) if known else until - timedelta(days=1)
    since = as_utc(since)
    if since >= until:
        raise ValueError(f"since ({since.isoformat()}) must be before until ({until.isoformat()})")
    return since, until


def period_of(bins: TimeBins, since: datetime, until: datetime) -> dict[str, Any]:
    return {
        "since": since,
        "until": until,
        "bin_seconds": int(bins.width.total_seconds()),
        "bin_starts": list(bins.starts),
        "labels": list(bins.labels),
    }


def fleet_overview(
    engine: Engine,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The overview: the period with its bins, the nine subcategories (with their category),
    and per model its events, findings, open incidents per subcategory and findings trend."""
    with engine.connect() as conn:
        since, until = default_period(conn, since, until, now or datetime.now(UTC))
        bins = time_bins(since, until)
        fleet = {row.model_id: row for row in collect_fleet(conn, since, until)}
        events: dict[str, int] = {
            model_id: n
            for model_id, n in conn.execute(
                select(EVENTS.c.model_id, func.count())
                .where(EVENTS.c.timestamp >= since, EVENTS.c.timestamp < until)
                .group_by(EVENTS.c.model_id)
            )
        }
        trend: dict[str, list[int]] = {}
        for model_id, at in conn.execute(
            select(FINDINGS.c.model_id, FINDINGS.c.detected_at).where(
                FINDINGS.c.detected_at >= since, FINDINGS.c.detected_at < until
            )
        ):
            if (i := bins.index(at)) is not None:
                trend.setdefault(model_id, [0] * len(bins.starts))[i] += 1
    models: list[dict[str, Any]] = []
    for model_id in sorted(set(fleet) | set(events) | set(trend)):
        row = fleet.get(model_id)
        cells = {
            sub: {
                "open": row.open_by_subcategory.get(sub, 0) if row else 0,
                "worst_severity": row.worst.get(sub) if row else None,
            }
            for subs in SUBCATEGORIES.values()
            for sub in subs
        }
        series = trend.get(model_id, [0] * len(bins.starts))
        models.append(
            {
                "model_id": model_id,
                "events": events.get(model_id, 0),
                "findings": sum(series),
                "open_incidents": row.open if row else 0,
                "subcategories": cells,
                "trend": series,
            }
        )
    models.sort(key=lambda m: (-m["open_incidents"], m["model_id"]))
    return {
        "period": period_of(bins, since, until),
        "subcategories": [
            {"subcategory": sub, "category": cat}
            for cat, subs in SUBCATEGORIES.items()
            for sub in subs
        ],
        "models": models,
    }
