"""Tamper-evident hash chain over the audit store.

Every finding the store inserts and every lifecycle action is appended, in the transaction that
writes it, as one link of ``audit_chain`` (so is each webhook subscription's creation and removal,
see audit/webhooks/subscriptions.py; each delivery's outcome, audit/webhooks/outbox.py; and each
batch's new events and feedback labels, one link per batch, audit/batchchain.py)::

    content_hash = sha256(canonical JSON of the row: every column, keys sorted, times as UTC "Z")
    entry_hash   = sha256(prev_hash | content_hash | kind | subject | seq)   ("|"-joined, hex)

A finding's canonical JSON holds ``evidence_sha256`` (the SHA-256 of its evidence's canonical
JSON) instead of the evidence itself, so the chain covers the evidence by its hash: a GDPR
erasure (audit/removal/erasure.py) can replace a finding's evidence by an *erased stub* that
keeps that hash, and the chain still verifies. A stub is only accepted when the chained erasure
record listing the finding exists, so evidence cannot be dropped outside an erasure.

The first link's ``prev_hash`` is 64 zeros. ``audit_chain_head`` (one row) holds the last link;
appenders lock it, so links are added one writer at a time:

* SQLite: the head row is updated first, which takes the database's single write lock for the rest
  of the transaction (other writers wait on ``busy_timeout``).
* PostgreSQL: ``SELECT … FOR UPDATE`` on the head row; concurrent appenders queue on the row lock.

These are the primitives every appender uses (the store, lifecycle actions, removals, webhook
subscriptions); this module imports none of them. Checking the chain against the rows it covers
is audit/verify.py, which knows every chained record kind.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from audit.models import (
    ChainEntry,
    ChainHead,
    DataRemoval,
    FindingAction,
    FindingRecord,
    RowData,
    table_of,
)

GENESIS = "0" * 64
CHAIN = table_of(ChainEntry)
HEAD = table_of(ChainHead)
FINDINGS = table_of(FindingRecord)
ACTIONS = table_of(FindingAction)
REMOVALS = table_of(DataRemoval)
#: a removal record's hashed fields; ``removed`` (what it removed of batch-chained rows) only
#: when set, so records made before it existed hash as they did
REMOVAL_FIELDS = tuple(c.name for c in REMOVALS.columns if c.name != "removed")
REMOVAL_KINDS = frozenset({"erasure", "retention"})
FINDING_FIELDS = tuple(c.name for c in FINDINGS.columns)
#: the fields of a finding's hashed document (its evidence is covered by its hash)
HASHED_FINDING_FIELDS = tuple(sorted({*FINDING_FIELDS, "evidence_sha256"} - {"evidence"}))
ACTION_FIELDS = tuple(c.name for c in ACTIONS.columns)
ERASED = "_erased"  # the marker key of an erased-evidence stub
_CHUNK = 500


def canonical_time(value: datetime) -> str:
    """UTC, microseconds, "Z": the same text whether the row was just built or read back."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds") + "Z"


def canonical_json(row: RowData, fields: Sequence[str]) -> bytes:
    """The bytes a content hash is taken of (and the line an export writes for the row)."""
    doc = {f: canonical_time(v) if isinstance(v := row.get(f), datetime) else v for f in fields}
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def content_hash(row: RowData, fields: Sequence[str]) -> str:
    return hashlib.sha256(canonical_json(row, fields)).hexdigest()


def evidence_digest(evidence: Any) -> str:
    """SHA-256 of the evidence's canonical JSON, or the hash an erased stub kept."""
    if (stub := erased_stub(evidence)) is not None:
        kept: str = stub["sha256"]
        return kept
    return hashlib.sha256(
        orjson.dumps(evidence, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    ).hexdigest()


def erased_stub(evidence: Any) -> dict[str, Any] | None:
    """The evidence if it is an erased stub ({"_erased": true, "removal_id", "sha256"})."""
    if (
        isinstance(evidence, dict)
        and evidence.keys() == {ERASED, "removal_id", "sha256"}
        and evidence[ERASED] is True
    ):
        return evidence
    return None


def erase_evidence(evidence: Any, removal_id: int) -> dict[str, Any]:
    return {ERASED: True, "removal_id": removal_id, "sha256": evidence_digest(evidence)}


def hashed_finding(row: RowData) -> dict[str, Any]:
    """The document a finding's content hash is taken of (the export's findings.jsonl line)."""
    doc = {f: row.get(f) for f in FINDING_FIELDS if f != "evidence"}
    doc["evidence_sha256"] = evidence_digest(row.get("evidence"))
    return doc


def finding_json(row: RowData) -> bytes:
    return canonical_json(hashed_finding(row), HASHED_FINDING_FIELDS)


def finding_hash(row: RowData) -> str:
    return hashlib.sha256(finding_json(row)).hexdigest()


def legacy_finding_hash(row: RowData) -> str:
    """Findings chained before evidence was hashed separately: every column as it is."""
    return content_hash(row, FINDING_FIELDS)


def action_hash(row: RowData) -> str:
    return content_hash(row, ACTION_FIELDS)


def removal_fields(row: RowData) -> tuple[str, ...]:
    return REMOVAL_FIELDS if row.get("removed") is None else (*REMOVAL_FIELDS, "removed")


def removal_hash(row: RowData) -> str:
    return content_hash(row, removal_fields(row))


def entry_hash(prev_hash: str, content: str, kind: str, subject: str, seq: int) -> str:
    return hashlib.sha256(f"{prev_hash}|{content}|{kind}|{subject}|{seq}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Link:
    kind: str
    subject: str
    content_hash: str


@dataclass(frozen=True, slots=True)
class Head:
    seq: int
    entry_hash: str


def lock_head(conn: Connection) -> Head:
    """Lock the chain head for the rest of the transaction and return it."""
    if conn.dialect.name == "postgresql":
        row = conn.execute(
            select(HEAD.c.seq, HEAD.c.entry_hash).where(HEAD.c.id == 1).with_for_update()
        ).first()
        if row is None:
            conn.execute(
                postgresql.insert(HEAD)
                .values(id=1, seq=0, entry_hash=GENESIS)
                .on_conflict_do_nothing(index_elements=["id"])
            )
            row = conn.execute(
                select(HEAD.c.seq, HEAD.c.entry_hash).where(HEAD.c.id == 1).with_for_update()
            ).one()
        return Head(int(row.seq), row.entry_hash)
    # SQLite: a write first, so the transaction holds the write lock before it reads the head.
    if conn.execute(update(HEAD).where(HEAD.c.id == 1).values(seq=HEAD.c.seq)).rowcount == 0:
        conn.execute(
            sqlite.insert(HEAD)
            .values(id=1, seq=0, entry_hash=GENESIS)
            .on_conflict_do_nothing(index_elements=["id"])
        )
    row = conn.execute(select(HEAD.c.seq, HEAD.c.entry_hash).where(HEAD.c.id == 1)).one()
    return Head(int(row.seq), row.entry_hash)


def append(
    conn: Connection, links: Sequence[Link], now: datetime, head: Head | None = None
) -> list[dict[str, Any]]:
    """Append links in this transaction; ``head`` if the caller already holds it (lock_head)."""
    if not links:
        return []
    head = head or lock_head(conn)
    seq, prev, rows = head.seq, head.entry_hash, []
    for link in links:
        seq += 1
        digest = entry_hash(prev, link.content_hash, link.kind, link.subject, seq)
        rows.append(
            {
                "seq": seq,
                "kind": link.kind,
                "subject": link.subject,
                "content_hash": link.content_hash,
                "prev_hash": prev,
                "entry_hash": digest,
                "at": now,
            }
        )
        prev = digest
    conn.execute(insert(CHAIN), rows)
    conn.execute(update(HEAD).where(HEAD.c.id == 1).values(seq=seq, entry_hash=prev))
    return rows


def finding_links(rows: Iterable[Mapping[str, Any]], inserted: Iterable[str]) -> list[Link]:
    """Links for the finding rows that this transaction actually inserted, each once."""
    fresh = set(inserted)
    links = []
    for row in rows:
        if row["finding_id"] in fresh:
            fresh.discard(row["finding_id"])
            links.append(Link("finding", row["finding_id"], finding_hash(row)))
    return links


def read_head(conn: Connection) -> Head:
    row = conn.execute(select(HEAD.c.seq, HEAD.c.entry_hash).where(HEAD.c.id == 1)).first()
    return Head(int(row.seq), row.entry_hash) if row else Head(0, GENESIS)


def entry_for(conn: Connection, kind: str, subject: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(CHAIN).where(CHAIN.c.kind == kind, CHAIN.c.subject == subject)
    ).first()
    return dict(row._mapping) if row else None


def rows_by_id(conn: Connection, table: Any, key: str, ids: list[Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for i in range(0, len(ids), _CHUNK):
        rows = conn.execute(select(table).where(table.c[key].in_(ids[i : i + _CHUNK]))).mappings()
        found.update({str(r[key]): r for r in rows})
    return found
