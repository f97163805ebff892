"""Read-side queries of the audit store: findings with filters, and the store summary."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import String, and_, case, cast, func, or_, select
from sqlalchemy.engine import Engine

from audit.incidents.queries import VISIBLE
from audit.incidents.records import INCIDENTS
from audit.lifecycle import Status, status_expr
from audit.models import (
    DeadLetterRecord,
    EventRecord,
    FeedbackRecord,
    FindingRecord,
    as_utc,
    table_of,
)
from audit.sealing import conceal
from core.taxonomy import Severity

FINDINGS = table_of(FindingRecord)

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """'15m', '24h', '7d' (ago) or an ISO 8601 / RFC 3339 time (naive means UTC)."""
    now = now or datetime.now(UTC)
    match = _RELATIVE.match(value.strip())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"--since {value!r}: use a duration like 30m, 24h, 7d "
            "or a time like 2026-11-28T12:00:00Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


SORTS = ("-detected_at", "detected_at", "-severity", "severity")
SEVERITIES = tuple(s.value for s in Severity)


@dataclass(frozen=True)
class FindingFilter:
    model: str | None = None
    category: str | None = None
    subcategory: str | None = None
    severity: str | None = None
    since: datetime | None = None
    limit: int | None = 1000
    version: str | None = None
    detector: str | None = None
    status: str | None = None
    until: datetime | None = None
    #: case-insensitive substring of one of the finding's regulation references
    regulation: str | None = None
    min_severity: str | None = None
    offset: int = 0
    sort: str = "-detected_at"
    #: from a previous page's next_cursor (keyset pagination); replaces offset
    cursor: str | None = None


FINDING_COLUMNS = (
    "finding_id",
    "detected_at",
    "severity",
    "category",
    "subcategory",
    "model_id",
    "model_version",
    "detector",
    "rule_id",
    "title",
    "event_id",
    "regulation_refs",
    "evidence",
    "remediation",
    "pack",
    "pack_version",
    "source_topic",
    "source_partition",
    "source_offset",
)


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _severity_rank() -> Any:
    return case({s.value: s.rank for s in Severity}, value=FINDINGS.c.severity, else_=-1)


def _sort_keys(sort: str) -> list[Any]:
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}")
    keys = [FINDINGS.c.detected_at, FINDINGS.c.finding_id]
    return [_severity_rank(), *keys] if sort.endswith("severity") else keys


def _conditions(flt: FindingFilter) -> list[Any]:
    t, where = FINDINGS, []
    for column, value in (
        ("model_id", flt.model),
        ("model_version", flt.version),
        ("category", flt.category),
        ("subcategory", flt.subcategory),
        ("severity", flt.severity),
        ("detector", flt.detector),
    ):
        if value is not None:
            where.append(t.c[column] == value)
    if flt.min_severity is not None:
        floor = Severity(flt.min_severity)
        where.append(t.c.severity.in_([s.value for s in Severity if s.rank >= floor.rank]))
    if flt.since is not None:
        where.append(t.c.detected_at >= as_utc(flt.since))
    if flt.until is not None:
        where.append(t.c.detected_at < as_utc(flt.until))
    if flt.status is not None:
        where.append(status_expr() == Status(flt.status).value)
    if flt.regulation:
        pattern = "%" + _like_escape(flt.regulation) + "%"
        where.append(cast(t.c.regulation_refs, String).ilike(pattern, escape="\\"))
    return where


def encode_cursor(sort: str, row: dict[str, Any]) -> str:
    values: list[Any] = [sort, row["detected_at"].isoformat(), row["finding_id"]]
    if sort.endswith("severity"):
        values.insert(1, Severity(row["severity"]).rank)
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def _after_cursor(flt: FindingFilter) -> Any:
    """Rows after the cursor in the sort order, as (k1 > v1) OR (k1 = v1 AND k2 > v2) OR …"""
    assert flt.cursor is not None
    try:
        values = orjson.loads(base64.urlsafe_b64decode(flt.cursor + "=" * (-len(flt.cursor) % 4)))
        sort, *keys = values
        if sort != flt.sort:
            raise ValueError("the cursor belongs to another sort order")
        keys[-2] = as_utc(datetime.fromisoformat(keys[-2]))
        if len(keys) != len(_sort_keys(sort)) or not isinstance(keys[-1], str):
            raise ValueError("malformed cursor")
    except (ValueError, TypeError, IndexError, orjson.JSONDecodeError, binascii.Error) as exc:
        raise ValueError(f"invalid cursor: {exc}") from None
    columns, desc = _sort_keys(sort), sort.startswith("-")
    clauses = []
    for i, (col, value) in enumerate(zip(columns, keys, strict=True)):
        step = col < value if desc else col > value
        clauses.append(and_(*[c == v for c, v in zip(columns[:i], keys[:i], strict=True)], step))
    return or_(*clauses)


def find_findings(engine: Engine, flt: FindingFilter) -> list[dict[str, Any]]:
    """Findings matching the filter, each with its lifecycle status, in the filter's sort order."""
    t = FINDINGS
    keys = _sort_keys(flt.sort)
    order = [k.desc() if flt.sort.startswith("-") else k.asc() for k in keys]
    query = select(*[t.c[c] for c in FINDING_COLUMNS], status_expr().label("status"))
    query = query.where(*_conditions(flt)).order_by(*order)
    if flt.cursor:
        query = query.where(_after_cursor(flt))
    elif flt.offset:
        query = query.offset(flt.offset)
    if flt.limit is not None:
        query = query.limit(flt.limit)
    with engine.connect() as conn:
        rows = [dict(row) for row in conn.execute(query).mappings()]
    for row in rows:  # sealed quotes of event content: only a reveal opens them
        row["evidence"] = conceal(row["evidence"])
    return rows


def count_findings(engine: Engine, flt: FindingFilter) -> int:
    query = select(func.count()).select_from(FINDINGS).where(*_conditions(flt))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def _grouped(engine: Engine, column: Any, *where: Any) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(column, func.count()).where(*where).group_by(column).order_by(column)
        )
        return {str(key): int(n) for key, n in rows}


def summary(engine: Engine) -> dict[str, Any]:
    f, d, i = table_of(FindingRecord), table_of(DeadLetterRecord), INCIDENTS
    with engine.connect() as conn:
        events = conn.execute(select(func.count()).select_from(table_of(EventRecord))).scalar_one()
        dead = conn.execute(select(func.count()).select_from(d)).scalar_one()
        labels = conn.execute(
            select(func.count()).select_from(table_of(FeedbackRecord))
        ).scalar_one()
    return {
        "events": int(events),
        "feedback": int(labels),
        "findings": _grouped(engine, f.c.category),
        "findings_by_subcategory": _grouped(engine, f.c.subcategory),
        "findings_by_severity": _grouped(engine, f.c.severity),
        "incidents_by_status": _grouped(engine, i.c.status, i.c.status.in_(VISIBLE)),
        "open_incidents_by_subcategory": _grouped(
            engine, i.c.subcategory, i.c.status.in_(("open", "acknowledged"))
        ),
        "dead_letters": int(dead),
        "dead_letters_by_reason": _grouped(engine, d.c.reason),
    }


def count_events_with_prefix(engine: Engine, prefix: str) -> int:
    t = table_of(EventRecord)
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).where(t.c.event_id.like(escaped + "%", escape="\\"))
            ).scalar_one()
        )


def busiest_model(engine: Engine) -> tuple[str, datetime, datetime] | None:
    """The model with the most stored events and its first and last event time (UTC); None when
    the store holds no events."""
    events = table_of(EventRecord)
    with engine.connect() as conn:
        row = conn.execute(
            select(events.c.model_id, func.min(events.c.timestamp), func.max(events.c.timestamp))
            .group_by(events.c.model_id)
            .order_by(func.count().desc())
            .limit(1)
        ).first()
    if row is None:
        return None
    model, first, last = row
    return model, as_utc(first), as_utc(last)
