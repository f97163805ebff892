"""A finding's audit trail, and finding counts grouped for the summary endpoint."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from audit import chain
from audit.lifecycle import history, status_of
from audit.models import EventRecord, FindingRecord, as_utc, table_of
from audit.queries import FINDING_COLUMNS
from audit.sealing import conceal

FINDINGS = table_of(FindingRecord)
EVENTS = table_of(EventRecord)
GROUPS = {
    "model": FINDINGS.c.model_id,
    "category": FINDINGS.c.category,
    "subcategory": FINDINGS.c.subcategory,
    "severity": FINDINGS.c.severity,
}
BUCKETS = ("hour", "day")


def finding_trail(engine: Engine, finding_id: str) -> dict[str, Any] | None:
    """The finding, its status and everything that explains it: the stored (redacted) event (sealed
    texts concealed: audit/sealing.py reveal_event opens them), the
    rule and policy pack, the Kafka coordinates, the lifecycle history and its chain link."""
    with engine.connect() as conn:
        row = (
            conn.execute(
                select(*[FINDINGS.c[c] for c in FINDING_COLUMNS]).where(
                    FINDINGS.c.finding_id == finding_id
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        finding = dict(row)
        finding["evidence"] = conceal(finding["evidence"])
        event = None
        if finding["event_id"] is not None:
            ev = conn.execute(
                select(EVENTS).where(EVENTS.c.event_id == finding["event_id"])
            ).first()
            if ev is not None:
                event = {
                    "event_id": ev.event_id,
                    "timestamp": ev.timestamp,
                    "model_id": ev.model_id,
                    "model_version": ev.model_version,
                    "payload": conceal(ev.payload),
                    "stored_at": ev.stored_at,
                    "kafka": {
                        "topic": ev.source_topic,
                        "partition": ev.source_partition,
                        "offset": ev.source_offset,
                        "timestamp_ms": ev.kafka_timestamp_ms,
                    },
                }
        link = chain.entry_for(conn, "finding", finding_id)
        return {
            **finding,
            "status": status_of(conn, finding_id).value,
            "rule": {
                "id": finding["rule_id"],
                "pack": finding["pack"],
                "pack_version": finding["pack_version"],
            },
            "kafka": {
                "topic": finding["source_topic"],
                "partition": finding["source_partition"],
                "offset": finding["source_offset"],
            },
            "event": event,
            "lifecycle": history(conn, finding_id),
            "chain": None
            if link is None
            else {k: link[k] for k in ("seq", "entry_hash", "content_hash", "prev_hash")},
        }


def _bucket_expr(dialect: str, bucket: str) -> Any:
    if bucket not in BUCKETS:
        raise ValueError(f"bucket must be one of {', '.join(BUCKETS)}")
    if dialect == "postgresql":
        return func.to_char(
            func.date_trunc(bucket, func.timezone("UTC", FINDINGS.c.detected_at)),
            'YYYY-MM-DD"T"HH24:00:00"Z"',
        )
    fmt = "%Y-%m-%dT%H:00:00Z" if bucket == "hour" else "%Y-%m-%dT00:00:00Z"
    return func.strftime(fmt, FINDINGS.c.detected_at)


def grouped_counts(
    engine: Engine,
    *,
    group_by: str,
    bucket: str = "hour",
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """Finding counts per model, category, subcategory, severity or time bucket (UTC)."""
    if group_by == "bucket":
        key = _bucket_expr(engine.dialect.name, bucket)
    elif group_by in GROUPS:
        key = GROUPS[group_by]
    else:
        raise ValueError(f"group_by must be one of {', '.join([*GROUPS, 'bucket'])}")
    where = []
    if since is not None:
        where.append(FINDINGS.c.detected_at >= as_utc(since))
    if until is not None:
        where.append(FINDINGS.c.detected_at < as_utc(until))
    query = select(key.label("key"), func.count().label("n")).where(*where)
    with engine.connect() as conn:
        rows = conn.execute(query.group_by(key).order_by(key)).all()
    groups = [{"key": str(r.key), "count": int(r.n)} for r in rows]
    return {
        "group_by": group_by,
        "bucket": bucket if group_by == "bucket" else None,
        "since": since,
        "until": until,
        "total": sum(g["count"] for g in groups),
        "groups": groups,
    }
