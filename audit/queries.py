"""Read-side queries of the audit store: findings with filters, and the store summary."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from audit.models import DeadLetterRecord, EventRecord, FindingRecord

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """'15m', '24h', '7d' (ago) or an ISO 8601 / RFC 3339 time (naive means UTC)."""
    now = now or datetime.now(timezone.utc)
    match = _RELATIVE.match(value.strip())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"--since {value!r}: use a duration like 30m, 24h, 7d or a time like 2026-11-28T12:00:00Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class FindingFilter:
    model: str | None = None
    category: str | None = None
    subcategory: str | None = None
    severity: str | None = None
    since: datetime | None = None
    limit: int | None = 1000


FINDING_COLUMNS = (
    "finding_id", "detected_at", "severity", "category", "subcategory", "model_id",
    "model_version", "detector", "rule_id", "title", "event_id", "regulation_refs",
    "evidence", "remediation", "pack", "pack_version", "source_topic", "source_partition",
    "source_offset",
)


def find_findings(engine: Engine, flt: FindingFilter) -> list[dict[str, Any]]:
    t = FindingRecord.__table__
    query = select(*[t.c[c] for c in FINDING_COLUMNS]).order_by(
        t.c.detected_at.desc(), t.c.finding_id
    )
    for column, value in (
        ("model_id", flt.model),
        ("category", flt.category),
        ("subcategory", flt.subcategory),
        ("severity", flt.severity),
    ):
        if value is not None:
            query = query.where(t.c[column] == value)
    if flt.since is not None:
        query = query.where(t.c.detected_at >= flt.since)
    if flt.limit is not None:
        query = query.limit(flt.limit)
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def _grouped(engine: Engine, column: Any) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(column, func.count()).group_by(column).order_by(column))
        return {str(key): int(n) for key, n in rows}


def summary(engine: Engine) -> dict[str, Any]:
    f, d = FindingRecord.__table__, DeadLetterRecord.__table__
    with engine.connect() as conn:
        events = conn.execute(select(func.count()).select_from(EventRecord.__table__)).scalar_one()
        dead = conn.execute(select(func.count()).select_from(d)).scalar_one()
    return {
        "events": int(events),
        "findings": _grouped(engine, f.c.category),
        "findings_by_subcategory": _grouped(engine, f.c.subcategory),
        "findings_by_severity": _grouped(engine, f.c.severity),
        "dead_letters": int(dead),
        "dead_letters_by_reason": _grouped(engine, d.c.reason),
    }


def count_events_with_prefix(engine: Engine, prefix: str) -> int:
    t = EventRecord.__table__
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).where(t.c.event_id.like(escaped + "%", escape="\\"))
            ).scalar_one()
        )
