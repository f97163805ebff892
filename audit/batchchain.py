"""Batch links: one chain link (audit/chain.py) per batch over the rows it inserted in bulk.

Feedback labels are written by the batch transaction (audit/store.py), hundreds at a time; a link
per row would cost a chain row per label. Instead each batch stamps its rows with a new batch id
(the ``chain_batch`` column) and appends one link::

    leaf         = sha256(canonical JSON of the row: every column but chain_batch)
    content_hash = sha256(JSON of the sorted [[event_id, leaf], …] of the rows it inserted)
    kind         = "feedback",  subject = the batch id

``audit verify`` recomputes each batch's hash from the rows stored with its id, so an edited,
deleted or moved row breaks its batch's link, and a row with no batch id, or one no link has, is
reported as written outside riskwatch. A legitimate removal (a GDPR erasure deletes the subject's
labels, audit/removal/erasure.py) lists the leaves of the rows it deleted in its chained
``data_removals`` record (``removed``: {kind: {batch id: [[event_id, leaf], …]}}), and verify
adds them back: a removal can only be accounted for by a record that is itself chained.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Table, exists, insert, or_, select
from sqlalchemy.engine import Connection

from audit.chain import CHAIN, REMOVALS, Link, content_hash
from audit.models import ChainBatch, FeedbackRecord, RowData, table_of

BATCH = "chain_batch"
FEEDBACK_KIND = "feedback"
FEEDBACK = table_of(FeedbackRecord)
BATCHES = table_of(ChainBatch)
_CHUNK = 500
_NAMED = 10  # event ids a problem names at most

Leaves = list[list[str]]


@dataclass(frozen=True, slots=True)
class Chained:
    """A table whose rows are chained by batch."""

    kind: str
    table: Table
    what: str  # how a problem names one row

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.table.columns if c.name != BATCH)


KINDS: dict[str, Chained] = {
    FEEDBACK_KIND: Chained(FEEDBACK_KIND, FEEDBACK, "feedback label"),
}


def leaf(kind: str, row: RowData) -> str:
    return content_hash(row, KINDS[kind].fields)


def batch_hash(leaves: Iterable[Sequence[str]]) -> str:
    return hashlib.sha256(batch_line(leaves)).hexdigest()


def new_batch() -> str:
    return uuid.uuid4().hex


def insert_batch(conn: Connection, kind: str, stmt: Any, rows: list[dict[str, Any]]) -> Link | None:
    """Insert ``rows`` with ``stmt`` (an insert that ignores rows stored before) stamped with a
    new batch id; returns the link over the rows inserted now, hashed as stored (read back with
    RETURNING), or None when every row was stored before (a replayed batch)."""
    spec, batch = KINDS[kind], new_batch()
    for r in rows:
        r[BATCH] = batch
    stored = conn.execute(stmt.returning(*spec.table.c), rows).mappings().all()
    if not stored:
        return None
    return record_batch(conn, kind, batch, [[r["event_id"], leaf(kind, r)] for r in stored])


def record_batch(conn: Connection, kind: str, batch: str, leaves: Leaves) -> Link:
    """Keep the batch's leaf list (audit_chain_batches) and return its link."""
    leaves = sorted([str(e), str(h)] for e, h in leaves)
    conn.execute(insert(BATCHES).values(batch=batch, kind=kind, leaves=leaves))
    return Link(kind, batch, batch_hash(leaves))


def leaves_by_batch(kind: str, rows: Iterable[RowData]) -> dict[str, Leaves]:
    """What a removal record lists of the batch-chained rows it deletes."""
    out: dict[str, Leaves] = defaultdict(list)
    for r in rows:
        if r[BATCH] is not None:
            out[r[BATCH]].append([r["event_id"], leaf(kind, r)])
    return {b: sorted(v) for b, v in sorted(out.items())}


# --- verification (called by audit/verify.py) -----------------------------------------------------


def removed_leaves(conn: Connection) -> dict[tuple[str, str], Leaves]:
    """(kind, batch id) → the leaves that chained removal records account for."""
    out: dict[tuple[str, str], Leaves] = defaultdict(list)
    for removed in conn.execute(select(REMOVALS.c.removed)).scalars():
        if not isinstance(removed, Mapping):
            continue
        for kind, batches in removed.items():
            if isinstance(batches, Mapping):
                for batch, leaves in batches.items():
                    out[(str(kind), str(batch))].extend(leaves)
    return out


def stored_leaves(conn: Connection, kind: str, batches: Sequence[str]) -> dict[str, Leaves]:
    """batch id → the leaves of the rows stored now with that batch id."""
    spec, out = KINDS[kind], defaultdict(list)
    batches = sorted(set(batches))
    for i in range(0, len(batches), _CHUNK):
        for r in conn.execute(
            select(spec.table).where(spec.table.c[BATCH].in_(batches[i : i + _CHUNK]))
        ).mappings():
            out[r[BATCH]].append([r["event_id"], leaf(kind, r)])
    return out


def batch_line(leaves: Iterable[Sequence[str]]) -> bytes:
    """The JSON whose SHA-256 is the batch's content hash (an export's batches.jsonl line)."""
    return orjson.dumps(sorted([str(e), str(h)] for e, h in leaves))


def batch_problems(
    conn: Connection, entries: Sequence[Any], removed: Mapping[tuple[str, str], Leaves]
) -> dict[tuple[str, str], str]:
    """(kind, subject) → why a batch link no longer matches its rows: the batch's hash is taken
    again over the rows stored with its id and the leaves removal records account for; when it
    differs, the batch's leaf list (when it still hashes to the link) names the rows."""
    problems: dict[tuple[str, str], str] = {}
    for kind in KINDS:
        chained = {e.subject: e.content_hash for e in entries if e.kind == kind}
        if not chained:
            continue
        stored = stored_leaves(conn, kind, list(chained))
        broken = {
            b: d
            for b, d in chained.items()
            if batch_hash([*stored.get(b, []), *removed.get((kind, b), [])]) != d
        }
        if not broken:
            continue
        recorded = dict(
            conn.execute(
                select(BATCHES.c.batch, BATCHES.c.leaves).where(BATCHES.c.batch.in_(sorted(broken)))
            ).all()
        )
        for batch, digest in broken.items():
            problems[(kind, batch)] = _describe(
                kind,
                batch,
                stored.get(batch, []),
                removed.get((kind, batch), []),
                recorded.get(batch) if batch_hash(recorded.get(batch) or []) == digest else None,
            )
    return problems


def _describe(kind: str, batch: str, stored: Leaves, gone: Leaves, recorded: Leaves | None) -> str:
    what = KINDS[kind].what
    if recorded is None:
        return (
            f"{what}s of batch {batch} changed after they were chained (a {what} was edited, "
            f"deleted outside an erasure or inserted; the batch's leaf list is gone or edited, "
            f"so which one is not known; {len(stored)} stored now)"
        )
    now, was, erased = dict(stored), dict(recorded), dict(gone)
    found = [
        *(f"{what} of event {e} was edited" for e in sorted(now) if e in was and now[e] != was[e]),
        *(
            f"{what} of event {e} was deleted outside an erasure"
            for e in sorted(was)
            if e not in now and e not in erased
        ),
        *(f"{what} of event {e} was inserted" for e in sorted(now) if e not in was),
        *(
            f"an erasure record lists a {what} of event {e} that the batch did not hold"
            for e in sorted(erased)
            if was.get(e) != erased[e]
        ),
    ]
    if not found:
        return f"batch {batch} no longer hashes to its chained content hash"
    more = f" (and {len(found) - _NAMED} more)" if len(found) > _NAMED else ""
    return f"batch {batch} changed after it was chained: " + "; ".join(found[:_NAMED]) + more


def unchained_row(conn: Connection) -> tuple[str, str] | None:
    """(kind, event_id) of a row no batch link covers (inserted outside riskwatch), or None."""
    for kind, spec in KINDS.items():
        t = spec.table
        linked = select(CHAIN.c.seq).where(CHAIN.c.kind == kind, CHAIN.c.subject == t.c[BATCH])
        eid = conn.execute(
            select(t.c.event_id).where(or_(t.c[BATCH].is_(None), ~exists(linked))).limit(1)
        ).scalar()
        if eid is not None:
            return kind, str(eid)
    return None
