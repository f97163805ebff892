"""Tamper-evident hash chain over the audit store.

Every finding the store inserts and every lifecycle action is appended, in the transaction that
writes it, as one link of ``audit_chain`` (so is each webhook subscription's creation and removal,
see audit/webhooks.py)::

    content_hash = sha256(canonical JSON of the row: every column, keys sorted, times as UTC "Z")
    entry_hash   = sha256(prev_hash | content_hash | kind | subject | seq)   ("|"-joined, hex)

A finding's canonical JSON holds ``evidence_sha256`` (the SHA-256 of its evidence's canonical
JSON) instead of the evidence itself, so the chain covers the evidence by its hash: a GDPR
erasure (audit/erasure.py) can replace a finding's evidence by an *erased stub* that keeps that
hash, and the chain still verifies. A stub is only accepted when the chained erasure record
listing the finding exists, so evidence cannot be dropped outside an erasure.

The first link's ``prev_hash`` is 64 zeros. ``audit_chain_head`` (one row) holds the last link;
appenders lock it, so links are added one writer at a time:

* SQLite: the head row is updated first, which takes the database's single write lock for the rest
  of the transaction (other writers wait on ``busy_timeout``).
* PostgreSQL: ``SELECT … FOR UPDATE`` on the head row; concurrent appenders queue on the row lock.

``verify`` recomputes every link and every content hash from the current rows and reports the
first break: an edited or deleted finding or action, an edited, deleted or inserted chain row, a
truncated chain (head ahead of the last link), or a finding or action that is not chained at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import String, cast, exists, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from audit.models import ChainEntry, ChainHead, DataRemoval, FindingAction, FindingRecord

GENESIS = "0" * 64
CHAIN = ChainEntry.__table__
HEAD = ChainHead.__table__
FINDINGS = FindingRecord.__table__
ACTIONS = FindingAction.__table__
REMOVALS = DataRemoval.__table__
REMOVAL_FIELDS = tuple(c.name for c in REMOVALS.columns)
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


def canonical_json(row: Mapping[str, Any], fields: Sequence[str]) -> bytes:
    """The bytes a content hash is taken of (and the line an export writes for the row)."""
    doc = {f: canonical_time(v) if isinstance(v := row.get(f), datetime) else v for f in fields}
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def content_hash(row: Mapping[str, Any], fields: Sequence[str]) -> str:
    return hashlib.sha256(canonical_json(row, fields)).hexdigest()


def evidence_digest(evidence: Any) -> str:
    """SHA-256 of the evidence's canonical JSON, or the hash an erased stub kept."""
    if (stub := erased_stub(evidence)) is not None:
        return stub["sha256"]
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


def hashed_finding(row: Mapping[str, Any]) -> dict[str, Any]:
    """The document a finding's content hash is taken of (the export's findings.jsonl line)."""
    doc = {f: row.get(f) for f in FINDING_FIELDS if f != "evidence"}
    doc["evidence_sha256"] = evidence_digest(row.get("evidence"))
    return doc


def finding_json(row: Mapping[str, Any]) -> bytes:
    return canonical_json(hashed_finding(row), HASHED_FINDING_FIELDS)


def finding_hash(row: Mapping[str, Any]) -> str:
    return hashlib.sha256(finding_json(row)).hexdigest()


def legacy_finding_hash(row: Mapping[str, Any]) -> str:
    """Findings chained before evidence was hashed separately: every column as it is."""
    return content_hash(row, FINDING_FIELDS)


def action_hash(row: Mapping[str, Any]) -> str:
    return content_hash(row, ACTION_FIELDS)


def removal_hash(row: Mapping[str, Any]) -> str:
    return content_hash(row, REMOVAL_FIELDS)


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


# --- verification --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Break:
    seq: int | None
    problem: str
    kind: str | None = None
    subject: str | None = None


@dataclass(frozen=True, slots=True)
class Report:
    entries: int
    head: Head
    broken: Break | None

    @property
    def ok(self) -> bool:
        return self.broken is None

    def to_dict(self) -> dict[str, Any]:
        b = self.broken
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head": {"seq": self.head.seq, "entry_hash": self.head.entry_hash},
            "broken": None
            if b is None
            else {"seq": b.seq, "kind": b.kind, "subject": b.subject, "problem": b.problem},
        }


def rows_by_id(conn: Connection, table: Any, key: str, ids: list[Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for i in range(0, len(ids), _CHUNK):
        rows = conn.execute(select(table).where(table.c[key].in_(ids[i : i + _CHUNK]))).mappings()
        found.update({str(r[key]): r for r in rows})
    return found


def _chunks(conn: Connection, size: int) -> Iterator[list[Any]]:
    last = -1
    while rows := conn.execute(
        select(CHAIN).where(CHAIN.c.seq > last).order_by(CHAIN.c.seq).limit(size)
    ).all():
        yield rows
        last = rows[-1].seq


def _content_problem(
    entry: Any, findings: dict[str, Any], actions: dict[str, Any], removals: dict[str, Any]
) -> str | None:
    if entry.kind == "finding":
        row, what, digest = findings.get(entry.subject), "finding", finding_hash
    elif entry.kind == "lifecycle":
        row, what, digest = actions.get(entry.subject), "lifecycle action", action_hash
    elif entry.kind in REMOVAL_KINDS and entry.subject.isdigit():
        row, what, digest = removals.get(entry.subject), f"{entry.kind} record", removal_hash
    else:
        return None  # kinds without a row to recompute: the link itself is checked
    if row is None:
        return f"{what} {entry.subject} was deleted"
    recomputed = digest(row)
    if recomputed != entry.content_hash:
        if (
            entry.kind == "finding"
            and erased_stub(row["evidence"]) is None
            and legacy_finding_hash(row) == entry.content_hash
        ):
            return None
        return (
            f"{what} {entry.subject} changed after it was chained: content hash "
            f"{recomputed} != chained {entry.content_hash}"
        )
    if entry.kind == "finding" and (stub := erased_stub(row["evidence"])) is not None:
        removal = removals.get(str(stub["removal_id"]))
        if (
            removal is None
            or removal["kind"] != "erasure"
            or entry.subject not in (removal["finding_ids"] or [])
        ):
            return (
                f"finding {entry.subject}'s evidence was removed outside an erasure (erasure "
                f"record {stub['removal_id']} does not list it)"
            )
    return None


def _webhook_problems(conn: Connection, rows: list[Any]) -> dict[str, str]:
    entries = [r for r in rows if r.kind == "webhook"]
    if not entries:
        return {}
    from audit.webhooks import chained_content_problems  # it imports this module

    return chained_content_problems(conn, entries)


def _check_chunk(conn: Connection, rows: list[Any], prev: Head) -> tuple[Head, Break | None]:
    findings = rows_by_id(
        conn, FINDINGS, "finding_id", [r.subject for r in rows if r.kind == "finding"]
    )
    actions = rows_by_id(
        conn,
        ACTIONS,
        "id",
        [int(r.subject) for r in rows if r.kind == "lifecycle" and r.subject.isdigit()],
    )
    hooks = _webhook_problems(conn, rows)
    removal_ids = {int(r.subject) for r in rows if r.kind in REMOVAL_KINDS and r.subject.isdigit()}
    removal_ids |= {
        int(stub["removal_id"])
        for f in findings.values()
        if (stub := erased_stub(f["evidence"])) is not None and isinstance(stub["removal_id"], int)
    }
    removals = rows_by_id(conn, REMOVALS, "id", sorted(removal_ids))
    for r in rows:

        def broken(problem: str, r: Any = r) -> tuple[Head, Break]:
            return prev, Break(r.seq, problem, r.kind, r.subject)

        if r.seq != prev.seq + 1:
            return broken(
                f"sequence gap: expected seq {prev.seq + 1}, found {r.seq} "
                f"(chain rows {prev.seq + 1}..{r.seq - 1} are missing)"
            )
        if r.prev_hash != prev.entry_hash:
            return broken(
                f"prev_hash {r.prev_hash} != entry_hash {prev.entry_hash} of seq {prev.seq}"
            )
        if entry_hash(r.prev_hash, r.content_hash, r.kind, r.subject, r.seq) != r.entry_hash:
            return broken("entry_hash does not match the entry's fields (the chain row was edited)")
        if problem := _content_problem(r, findings, actions, removals):
            return broken(problem)
        if r.kind == "webhook" and (problem := hooks.get(r.subject)):
            return broken(problem)
        prev = Head(r.seq, r.entry_hash)
    return prev, None


def _unchained(conn: Connection) -> Break | None:
    linked = select(CHAIN.c.seq).where(
        CHAIN.c.kind == "finding", CHAIN.c.subject == FINDINGS.c.finding_id
    )
    fid = conn.execute(select(FINDINGS.c.finding_id).where(~exists(linked)).limit(1)).scalar()
    if fid is not None:
        return Break(
            None, f"finding {fid} is not in the chain (written outside riskwatch)", "finding", fid
        )
    linked = select(CHAIN.c.seq).where(
        CHAIN.c.kind == "lifecycle", CHAIN.c.subject == cast(ACTIONS.c.id, String)
    )
    aid = conn.execute(select(ACTIONS.c.id).where(~exists(linked)).limit(1)).scalar()
    if aid is not None:
        return Break(None, f"lifecycle action {aid} is not in the chain", "lifecycle", str(aid))
    rid = conn.execute(
        select(REMOVALS.c.id, REMOVALS.c.kind)
        .where(
            ~exists(
                select(CHAIN.c.seq).where(
                    CHAIN.c.kind == REMOVALS.c.kind, CHAIN.c.subject == cast(REMOVALS.c.id, String)
                )
            )
        )
        .limit(1)
    ).first()
    if rid is not None:
        return Break(None, f"{rid.kind} record {rid.id} is not in the chain", rid.kind, str(rid.id))
    from audit.webhooks import unchained_subscription  # it imports this module

    if (sid := unchained_subscription(conn)) is not None:
        return Break(
            None,
            f"webhook subscription {sid} is not in the chain (written outside riskwatch)",
            "webhook",
            str(sid),
        )
    return None


def verify(engine: Engine, chunk: int = 2000) -> Report:
    with engine.connect() as conn:
        head, last, entries = read_head(conn), Head(0, GENESIS), 0
        for rows in _chunks(conn, chunk):
            last, broken = _check_chunk(conn, rows, last)
            if broken is not None:
                return Report(entries + sum(1 for r in rows if r.seq <= last.seq), head, broken)
            entries += len(rows)
        if (last.seq, last.entry_hash) != (head.seq, head.entry_hash):
            return Report(
                entries,
                head,
                Break(
                    last.seq + 1 if head.seq > last.seq else head.seq,
                    f"chain head (seq {head.seq}, {head.entry_hash}) does not match the last entry "
                    f"(seq {last.seq}, {last.entry_hash}): entries were removed from the end or the head "
                    f"was edited",
                ),
            )
        return Report(entries, head, _unchained(conn))
