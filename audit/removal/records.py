"""The ``data_removals`` table: each erasure and retention purge, recorded and chained in the
transaction that removes the data, and the readable list of them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection, Engine

from audit.chain import REMOVALS, Head, Link, append, lock_head, removal_hash

KINDS = ("erasure", "retention")
LIST_COLUMNS = (
    "id",
    "kind",
    "at",
    "requested_by",
    "reason",
    "user_ref_hash",
    "cutoff",
    "events",
    "findings",
    "feedback",
)


def record_removal(
    conn: Connection,
    *,
    kind: str,
    now: datetime,
    requested_by: str,
    reason: str,
    user_ref_hash: str | None = None,
    cutoff: datetime | None = None,
    events: int = 0,
    findings: int = 0,
    feedback: int = 0,
    finding_ids: Sequence[str] = (),
    removed: dict[str, Any] | None = None,
    removal_id: int | None = None,
    head: Head | None = None,
) -> tuple[int, int]:
    """Insert the record and its chain link; returns (record id, chain seq). An erasure passes
    the ``head`` it locked and the ``removal_id`` it reserved with it (next_removal_id), having
    stamped that id into the evidence it erased."""
    if kind not in KINDS:
        raise ValueError(f"removal kind must be one of {', '.join(KINDS)}")
    head = head or lock_head(conn)
    row: dict[str, Any] = {
        "id": removal_id if removal_id is not None else next_removal_id(conn),
        "kind": kind,
        "user_ref_hash": user_ref_hash,
        "cutoff": cutoff,
        "reason": reason,
        "requested_by": requested_by,
        "at": now,
        "events": events,
        "findings": findings,
        "feedback": feedback,
        "finding_ids": sorted(finding_ids),
    }
    if removed is not None:  # absent, not null: a record without it hashes as before
        row["removed"] = removed
    conn.execute(insert(REMOVALS).values(**row))
    stored = conn.execute(select(REMOVALS).where(REMOVALS.c.id == row["id"])).mappings().one()
    links = append(conn, [Link(kind, str(row["id"]), removal_hash(stored))], now, head)
    return row["id"], int(links[0]["seq"])


def next_removal_id(conn: Connection) -> int:
    """The id the next record gets. Ids are given explicitly (never by a sequence), under the
    chain head's lock (lock_head), which every removal takes."""
    return int(conn.execute(select(func.coalesce(func.max(REMOVALS.c.id), 0))).scalar_one()) + 1


def list_removals(
    engine: Engine, kind: str | None = None, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    """Newest first; ``finding_ids`` left out (``get_removal`` has them)."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    query = select(*[REMOVALS.c[c] for c in LIST_COLUMNS])
    if kind is not None:
        query = query.where(REMOVALS.c.kind == kind)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(REMOVALS.c.id.desc()).limit(limit).offset(offset))
        return [dict(r) for r in rows.mappings()]


def get_removal(engine: Engine, removal_id: int) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(REMOVALS).where(REMOVALS.c.id == removal_id)).mappings().first()
        return dict(row) if row else None
