"""Batch links: one chain link (audit/chain.py) per batch and table over the rows it inserted.

Events and feedback labels are written by the batch transaction (audit/store.py), hundreds at a
time; a link per row would cost a chain row per event. Instead each batch stamps its new rows with
a batch id (the ``chain_batch`` column), keeps their leaf list, and appends one link per table::

    leaf         = sha256(canonical JSON of the row: every column but chain_batch)
    leaves       = sorted [[event_id, leaf, timestamp], …] of the rows the batch inserted
                   (kept in ``audit_chain_batches``; timestamp is the event time, canonical UTC)
    content_hash = sha256(JSON of leaves)
    kind         = "events" or "feedback",  subject = the batch id

``audit verify`` checks that the kept leaf list still hashes to the link, then that every leaf's
row is stored with that leaf, and that no row carries the batch id without a leaf: an edited,
deleted, moved or inserted row is named. Legitimate removals are accounted for by chained
``data_removals`` records:

* a GDPR erasure (audit/removal/erasure.py) lists, per batch, each row it deleted (a label:
  ``[event_id, leaf, null]``) or rewrote (an event reduced to its skeleton: ``[event_id, old leaf,
  new leaf]``) in ``removed`` = {kind: {batch id: [...]}};
* a retention purge (audit/removal/retention.py) deletes events older than its ``cutoff``: an
  event row missing from its batch is accounted for when a purge chained after the batch has a
  cutoff later than the event's time; the purge lists nothing per row.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import JSON, Float, String, Table, cast, exists, insert, or_, select
from sqlalchemy.engine import Connection

from audit.chain import CHAIN, REMOVALS, Link, canonical_time, content_hash
from audit.models import ChainBatch, EventRecord, FeedbackRecord, RowData, as_utc, table_of

BATCH = "chain_batch"
EVENTS_KIND = "events"
FEEDBACK_KIND = "feedback"
EVENTS = table_of(EventRecord)
FEEDBACK = table_of(FeedbackRecord)
BATCHES = table_of(ChainBatch)
_CHUNK = 500
_NAMED = 10  # rows a problem names at most
_BATCHES_AT_ONCE = 20  # batches whose rows verify reads at a time

Leaves = list[list[Any]]


@dataclass(frozen=True, slots=True)
class Chained:
    """A table whose rows are chained by batch."""

    kind: str
    table: Table
    what: str  # how a problem names one row
    purged: bool  # a retention purge deletes its rows

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.table.columns if c.name != BATCH)

    @property
    def floats(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.table.columns if isinstance(c.type, Float))

    @property
    def json_scalars(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.table.columns if isinstance(c.type, JSON))


KINDS: dict[str, Chained] = {
    EVENTS_KIND: Chained(EVENTS_KIND, EVENTS, "event", purged=True),
    FEEDBACK_KIND: Chained(FEEDBACK_KIND, FEEDBACK, "feedback label of event", purged=False),
}


def leaf(kind: str, row: RowData) -> str:
    """The row's hash, the same for the row as inserted and as read back: a float column's
    integral value is a float (SQLite hands 27 back as 27.0), a JSON column's integral number an
    int (SQLite stores the JSON text 1.0 as the integer 1)."""
    spec, doc = KINDS[kind], dict(row)
    for f in spec.floats:
        if isinstance(v := doc.get(f), int) and not isinstance(v, bool):
            doc[f] = float(v)
    for f in spec.json_scalars:
        if isinstance(v := doc.get(f), float) and v.is_integer():
            doc[f] = int(v)
    return content_hash(doc, spec.fields)


def leaf_entry(kind: str, row: RowData) -> list[str]:
    return [str(row["event_id"]), leaf(kind, row), canonical_time(row["timestamp"])]


def batch_line(leaves: Iterable[Sequence[Any]]) -> bytes:
    """The JSON whose SHA-256 is the batch's content hash (an export's batches.jsonl line)."""
    return orjson.dumps(sorted([str(x) for x in entry] for entry in leaves))


def batch_hash(leaves: Iterable[Sequence[Any]]) -> str:
    return hashlib.sha256(batch_line(leaves)).hexdigest()


def new_batch() -> str:
    return uuid.uuid4().hex


def insert_batch(conn: Connection, kind: str, stmt: Any, rows: list[dict[str, Any]]) -> Link | None:
    """Insert ``rows`` with ``stmt`` (an insert that ignores rows stored before) stamped with a
    new batch id; returns the link over the rows inserted now (hashed as they read back, see
    ``leaf``), or None when every row was stored before (a replayed batch)."""
    spec, batch = KINDS[kind], new_batch()
    for r in rows:
        r[BATCH] = batch
    t = spec.table
    fresh = set(conn.execute(stmt.returning(t.c.event_id), rows).scalars())
    if not fresh:
        return None
    stored = [r for r in rows if r["event_id"] in fresh]
    return record_batch(conn, kind, batch, [leaf_entry(kind, r) for r in stored])


def record_batch(conn: Connection, kind: str, batch: str, leaves: Leaves) -> Link:
    """Keep the batch's leaf list (audit_chain_batches) and return its link."""
    leaves = sorted([str(x) for x in entry] for entry in leaves)
    conn.execute(insert(BATCHES).values(batch=batch, kind=kind, leaves=leaves))
    return Link(kind, batch, batch_hash(leaves))


def changes_by_batch(
    kind: str, before: Iterable[RowData], after: Mapping[str, RowData] | None = None
) -> dict[str, Leaves]:
    """What a removal record lists of the batch-chained rows it deletes (``after`` None) or
    rewrites (``after``: event_id → the row as rewritten): [event_id, old leaf, new leaf|None]."""
    out: dict[str, Leaves] = defaultdict(list)
    for r in before:
        if r[BATCH] is None:
            continue
        new = after.get(r["event_id"]) if after is not None else None
        out[r[BATCH]].append([r["event_id"], leaf(kind, r), leaf(kind, new) if new else None])
    return {b: sorted(v) for b, v in sorted(out.items())}


# --- verification (called by audit/verify.py) -----------------------------------------------------


@dataclass(slots=True)
class Removals:
    """What chained removal records account for: (kind, batch) → event_id → (old leaf, new leaf
    or None when deleted); and the retention purges as (chain seq, cutoff)."""

    changed: dict[tuple[str, str], dict[str, tuple[str, str | None]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    purges: list[tuple[int, datetime]] = field(default_factory=list)

    def cutoff_after(self, seq: int) -> datetime | None:
        """The latest cutoff of the purges chained after ``seq``."""
        cutoffs = [c for s, c in self.purges if s > seq]
        return max(cutoffs) if cutoffs else None


def load_removals(conn: Connection) -> Removals:
    out = Removals()
    for removed in conn.execute(select(REMOVALS.c.removed)).scalars():
        if not isinstance(removed, Mapping):
            continue
        for kind, batches in removed.items():
            if not isinstance(batches, Mapping):
                continue
            for batch, entries in batches.items():
                for e in entries:
                    if isinstance(e, list) and len(e) == 3:
                        out.changed[(str(kind), str(batch))][str(e[0])] = (str(e[1]), e[2])
    purges = conn.execute(
        select(CHAIN.c.seq, REMOVALS.c.cutoff).where(
            REMOVALS.c.kind == "retention",
            REMOVALS.c.cutoff.is_not(None),
            CHAIN.c.kind == "retention",
            CHAIN.c.subject == cast(REMOVALS.c.id, String),
        )
    ).all()
    out.purges = [(int(seq), as_utc(cutoff)) for seq, cutoff in purges]
    return out


def _stored(conn: Connection, kind: str, batches: Sequence[str]) -> dict[str, dict[str, str]]:
    """batch id → event_id → leaf, of the rows stored now with those batch ids."""
    spec, ids = KINDS[kind], sorted(set(batches))
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for i in range(0, len(ids), _CHUNK):
        for r in conn.execute(
            select(spec.table).where(spec.table.c[BATCH].in_(ids[i : i + _CHUNK]))
        ).mappings():
            out[r[BATCH]][r["event_id"]] = leaf(kind, r)
    return out


def recorded_leaves(conn: Connection, batches: Sequence[str]) -> dict[str, Leaves]:
    ids, out = sorted(set(batches)), dict[str, Leaves]()
    for i in range(0, len(ids), _CHUNK):
        out.update(
            conn.execute(
                select(BATCHES.c.batch, BATCHES.c.leaves).where(
                    BATCHES.c.batch.in_(ids[i : i + _CHUNK])
                )
            ).all()
        )
    return out


def batch_problems(
    conn: Connection, entries: Sequence[Any], removals: Removals
) -> dict[tuple[str, str], str]:
    """(kind, subject) → why a batch link no longer matches its rows."""
    problems: dict[tuple[str, str], str] = {}
    for kind in KINDS:
        links = [e for e in entries if e.kind == kind]
        for i in range(0, len(links), _BATCHES_AT_ONCE):  # bounded memory: a few batches' rows
            problems.update(_group_problems(conn, kind, links[i : i + _BATCHES_AT_ONCE], removals))
    return problems


def _group_problems(
    conn: Connection, kind: str, links: Sequence[Any], removals: Removals
) -> dict[tuple[str, str], str]:
    problems: dict[tuple[str, str], str] = {}
    if links:
        stored = _stored(conn, kind, [e.subject for e in links])
        recorded = recorded_leaves(conn, [e.subject for e in links])
        for e in links:
            problem = _check_batch(
                kind,
                e,
                recorded.get(e.subject),
                stored.get(e.subject, {}),
                removals.changed.get((kind, e.subject), {}),
                removals.cutoff_after(e.seq) if KINDS[kind].purged else None,
            )
            if problem:
                problems[(kind, e.subject)] = problem
    return problems


def _check_batch(
    kind: str,
    entry: Any,
    recorded: Leaves | None,
    stored: dict[str, str],
    changed: dict[str, tuple[str, str | None]],
    cutoff: datetime | None,
) -> str | None:
    what, batch = KINDS[kind].what, entry.subject
    if recorded is None:
        return f"the leaf list of batch {batch} was deleted ({len(stored)} rows carry its id)"
    if batch_hash(recorded) != entry.content_hash:
        return f"the leaf list of batch {batch} was edited: it no longer hashes to its link"
    found, listed = [], set()
    for eid, was, ts in recorded:
        listed.add(eid)
        old_new = changed.get(eid)
        now = stored.get(eid)
        if old_new is not None and old_new[0] == was:
            expected = old_new[1]  # what the erasure left: the rewritten row, or none
        else:
            expected = was
        if now is not None:
            if now != expected:
                found.append(f"{what} {eid} was edited after it was chained")
        elif expected is not None and not (cutoff and as_utc(datetime.fromisoformat(ts)) < cutoff):
            found.append(f"{what} {eid} was deleted outside an erasure or retention purge")
    found += [f"{what} {eid} was inserted" for eid in sorted(stored) if eid not in listed]
    held = {(r[0], r[1]) for r in recorded}
    found += [
        f"an erasure record lists {what} {eid}, which the batch does not hold as listed"
        for eid, (old, _) in sorted(changed.items())
        if (eid, old) not in held
    ]
    if not found:
        return None
    more = f" (and {len(found) - _NAMED} more)" if len(found) > _NAMED else ""
    return f"batch {batch}: " + "; ".join(found[:_NAMED]) + more


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
