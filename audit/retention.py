"""Event retention: delete stored events older than the retention period; findings are kept.

Each purge is a link of the audit chain (kind ``retention``) written in the purge's transaction.
Events are not chained themselves, so deleting them leaves every other link verifiable; the link's
subject says what was purged (cutoff and count) and its content hash covers who ran it and when."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import orjson
from sqlalchemy import delete
from sqlalchemy.engine import Engine

from audit.chain import Link, append, canonical_time
from audit.models import EventRecord
from audit.queries import as_utc

EVENTS = EventRecord.__table__


@dataclass(frozen=True)
class PurgeResult:
    cutoff: str
    deleted: int
    by: str
    at: str
    chain_seq: int | None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def purge_events(engine: Engine, retention_days: int, *, by: str, now: datetime) -> PurgeResult:
    """Delete events whose timestamp is before ``now - retention_days``; 0 days purges nothing."""
    if retention_days < 0:
        raise ValueError(f"retention days must be >= 0, got {retention_days}")
    if not by.strip():
        raise ValueError("purge: --by (who runs it) is empty")
    at = canonical_time(as_utc(now))
    if retention_days == 0:
        return PurgeResult("", 0, by, at, None)
    cutoff_dt = as_utc(now) - timedelta(days=retention_days)
    cutoff = canonical_time(cutoff_dt)
    with engine.begin() as conn:
        deleted = conn.execute(delete(EVENTS).where(EVENTS.c.timestamp < cutoff_dt)).rowcount or 0
        doc = {"action": "retention_purge", "cutoff": cutoff, "deleted": deleted, "by": by, "at": at}
        digest = hashlib.sha256(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest()
        rows = append(conn, [Link("retention", f"purge:{cutoff}:{deleted}", digest)], as_utc(now))
    return PurgeResult(cutoff, deleted, by, at, rows[0]["seq"])
