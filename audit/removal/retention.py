"""Event retention: delete stored events older than the retention period; findings are kept.

Each purge is a ``data_removals`` row (kind ``retention``: cutoff, count, who, when), chained in
the purge's transaction (audit/chain.py). Events are not chained themselves, so deleting them
leaves every other link verifiable. The data keys of events without a subject (one per tenant and
UTC day, audit/sealing.py) of the days wholly before the cutoff go too: what findings quoted of
those events is unreadable from then on, as the events are gone."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.engine import Engine

from audit.chain import canonical_time
from audit.models import EventRecord, as_utc, table_of
from audit.periodic import PeriodicJob
from audit.removal.records import record_removal
from audit.sealing import DATA_KEYS, scrub

EVENTS = table_of(EventRecord)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PurgeResult:
    cutoff: str
    deleted: int
    by: str
    at: str
    removal_id: int | None
    chain_seq: int | None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def purge_events(
    engine: Engine, retention_days: int, *, by: str, now: datetime, record_empty: bool = True
) -> PurgeResult:
    """Delete events whose timestamp is before ``now - retention_days``; 0 days purges nothing.
    ``record_empty=False`` (the worker's periodic purge) records nothing when nothing was due."""
    if retention_days < 0:
        raise ValueError(f"retention days must be >= 0, got {retention_days}")
    if not by.strip():
        raise ValueError("purge: --by (who runs it) is empty")
    at = canonical_time(as_utc(now))
    if retention_days == 0:
        return PurgeResult("", 0, by, at, None, None)
    cutoff_dt = as_utc(now) - timedelta(days=retention_days)
    cutoff = canonical_time(cutoff_dt)
    with engine.begin() as conn:
        deleted = conn.execute(delete(EVENTS).where(EVENTS.c.timestamp < cutoff_dt)).rowcount or 0
        day_keys = (
            conn.execute(
                delete(DATA_KEYS).where(
                    DATA_KEYS.c.scope.like("day:%"),
                    DATA_KEYS.c.scope < f"day:{cutoff_dt:%Y-%m-%d}",
                )
            ).rowcount
            or 0
        )
        if deleted == 0 and not record_empty:
            return PurgeResult(cutoff, 0, by, at, None, None)
        removal_id, seq = record_removal(
            conn,
            kind="retention",
            now=as_utc(now),
            requested_by=by,
            cutoff=cutoff_dt,
            reason=f"event retention: {retention_days} days",
            events=deleted,
        )
    if day_keys:
        scrub(engine)
    return PurgeResult(cutoff, deleted, by, at, removal_id, seq)


class RetentionPurger(PeriodicJob):
    """The worker's periodic purge: a daemon thread, off the event path, that applies the
    retention period every ``every_s`` seconds (and once at start). With several workers each
    purges; only a purge that deleted something is recorded."""

    thread_name = "riskwatch-retention"

    def __init__(
        self,
        engine: Engine,
        retention_days: int,
        *,
        every_s: float = 3600.0,
        by: str = "riskwatch-worker",
    ) -> None:
        self.engine, self.retention_days, self.every_s, self.by = (
            engine,
            retention_days,
            every_s,
            by,
        )
        super().__init__()
        self.last: PurgeResult | None = None

    def run_once(self) -> PurgeResult | None:
        try:
            self.last = purge_events(
                self.engine,
                self.retention_days,
                by=self.by,
                now=datetime.now(UTC),
                record_empty=False,
            )
        except Exception as exc:  # the database may be away; the next round tries again
            log.warning("retention purge failed: %s", str(exc)[:300])
            return None
        if self.last.deleted:
            log.info(
                "retention purge: %d events before %s deleted (removal %s)",
                self.last.deleted,
                self.last.cutoff,
                self.last.removal_id,
            )
        return self.last
