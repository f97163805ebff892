"""Tamper-evident hash chain over the audit store.

Every finding the store inserts and every lifecycle action is appended, in the transaction that
writes it, as one link of ``audit_chain`` (so is each webhook subscription's creation and removal,
see audit/webhooks.py)::

    content_hash = sha256(canonical JSON of the row: every column, keys sorted, times as UTC "Z")
    entry_hash   = sha256(prev_hash | content_hash | kind | subject | seq)   ("|"-joined, hex)

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
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Mapping, Sequence

import orjson
from sqlalchemy import String, cast, exists, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from audit.models import ChainEntry, ChainHead, FindingAction, FindingRecord

GENESIS = "0" * 64
CHAIN = ChainEntry.__table__
HEAD = ChainHead.__table__
FINDINGS = FindingRecord.__table__
ACTIONS = FindingAction.__table__
FINDING_FIELDS = tuple(c.name for c in FINDINGS.columns)
ACTION_FIELDS = tuple(c.name for c in ACTIONS.columns)
_CHUNK = 500


def canonical_time(value: datetime) -> str:
    """UTC, microseconds, "Z": the same text whether the row was just built or read back."""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds") + "Z"


def canonical_json(row: Mapping[str, Any], fields: Sequence[str]) -> bytes:
    """The bytes a content hash is taken of (and the line an export writes for the row)."""
    doc = {f: canonical_time(v) if isinstance(v := row.get(f), datetime) else v for f in fields}
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def content_hash(row: Mapping[str, Any], fields: Sequence[str]) -> str:
    return hashlib.sha256(canonical_json(row, fields)).hexdigest()


def finding_hash(row: Mapping[str, Any]) -> str:
    return content_hash(row, FINDING_FIELDS)


def action_hash(row: Mapping[str, Any]) -> str:
    return content_hash(row, ACTION_FIELDS)


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
        row = conn.execute(select(HEAD.c.seq, HEAD.c.entry_hash).where(HEAD.c.id == 1)
                           .with_for_update()).first()
        if row is None:
            conn.execute(postgresql.insert(HEAD).values(id=1, seq=0, entry_hash=GENESIS)
                         .on_conflict_do_nothing(index_elements=["id"]))
            row = conn.execute(select(HEAD.c.seq, HEAD.c.entry_hash).where(HEAD.c.id == 1)
                               .with_for_update()).one()
        return Head(int(row.seq), row.entry_hash)
    # SQLite: a write first, so the transaction holds the write lock before it reads the head.
    if conn.execute(update(HEAD).where(HEAD.c.id == 1).values(seq=HEAD.c.seq)).rowcount == 0:
        conn.execute(sqlite.insert(HEAD).values(id=1, seq=0, entry_hash=GENESIS)
                     .on_conflict_do_nothing(index_elements=["id"]))
    row = conn.execute(select(HEAD.c.seq, HEAD.c.entry_hash).where(HEAD.c.id == 1)).one()
    return Head(int(row.seq), row.entry_hash)


def append(conn: Connection, links: Sequence[Link], now: datetime,
           head: Head | None = None) -> list[dict[str, Any]]:
    """Append links in this transaction; ``head`` if the caller already holds it (lock_head)."""
    if not links:
        return []
    head = head or lock_head(conn)
    seq, prev, rows = head.seq, head.entry_hash, []
    for link in links:
        seq += 1
        digest = entry_hash(prev, link.content_hash, link.kind, link.subject, seq)
        rows.append({"seq": seq, "kind": link.kind, "subject": link.subject,
                     "content_hash": link.content_hash, "prev_hash": prev,
                     "entry_hash": digest, "at": now})
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
    row = conn.execute(select(CHAIN).where(CHAIN.c.kind == kind, CHAIN.c.subject == subject)).first()
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
        return {"ok": self.ok, "entries": self.entries,
                "head": {"seq": self.head.seq, "entry_hash": self.head.entry_hash},
                "broken": None if b is None else {"seq": b.seq, "kind": b.kind,
                                                  "subject": b.subject, "problem": b.problem}}


def rows_by_id(conn: Connection, table: Any, key: str, ids: list[Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for i in range(0, len(ids), _CHUNK):
        rows = conn.execute(select(table).where(table.c[key].in_(ids[i:i + _CHUNK]))).mappings()
        found.update({str(r[key]): r for r in rows})
    return found


def _chunks(conn: Connection, size: int) -> Iterator[list[Any]]:
    last = -1
    while rows := conn.execute(select(CHAIN).where(CHAIN.c.seq > last)
                               .order_by(CHAIN.c.seq).limit(size)).all():
        yield rows
        last = rows[-1].seq


def _content_problem(entry: Any, findings: dict[str, Any], actions: dict[str, Any]) -> str | None:
    if entry.kind == "finding":
        row, what, digest = findings.get(entry.subject), "finding", finding_hash
    elif entry.kind == "lifecycle":
        row, what, digest = actions.get(entry.subject), "lifecycle action", action_hash
    else:
        return None  # kinds without a row to recompute (e.g. erasure): the link itself is checked
    if row is None:
        return f"{what} {entry.subject} was deleted"
    recomputed = digest(row)
    if recomputed != entry.content_hash:
        return (f"{what} {entry.subject} changed after it was chained: content hash "
                f"{recomputed} != chained {entry.content_hash}")
    return None


def _webhook_problems(conn: Connection, rows: list[Any]) -> dict[str, str]:
    entries = [r for r in rows if r.kind == "webhook"]
    if not entries:
        return {}
    from audit.webhooks import chained_content_problems  # it imports this module

    return chained_content_problems(conn, entries)


def _check_chunk(conn: Connection, rows: list[Any], prev: Head) -> tuple[Head, Break | None]:
    findings = rows_by_id(conn, FINDINGS, "finding_id",
                           [r.subject for r in rows if r.kind == "finding"])
    actions = rows_by_id(conn, ACTIONS, "id",
                          [int(r.subject) for r in rows if r.kind == "lifecycle" and r.subject.isdigit()])
    hooks = _webhook_problems(conn, rows)
    for r in rows:
        def broken(problem: str, r: Any = r) -> tuple[Head, Break]:
            return prev, Break(r.seq, problem, r.kind, r.subject)
        if r.seq != prev.seq + 1:
            return broken(f"sequence gap: expected seq {prev.seq + 1}, found {r.seq} "
                          f"(chain rows {prev.seq + 1}..{r.seq - 1} are missing)")
        if r.prev_hash != prev.entry_hash:
            return broken(f"prev_hash {r.prev_hash} != entry_hash {prev.entry_hash} of seq {prev.seq}")
        if entry_hash(r.prev_hash, r.content_hash, r.kind, r.subject, r.seq) != r.entry_hash:
            return broken("entry_hash does not match the entry's fields (the chain row was edited)")
        if problem := _content_problem(r, findings, actions):
            return broken(problem)
        if r.kind == "webhook" and (problem := hooks.get(r.subject)):
            return broken(problem)
        prev = Head(r.seq, r.entry_hash)
    return prev, None


def _unchained(conn: Connection) -> Break | None:
    linked = select(CHAIN.c.seq).where(CHAIN.c.kind == "finding", CHAIN.c.subject == FINDINGS.c.finding_id)
    fid = conn.execute(select(FINDINGS.c.finding_id).where(~exists(linked)).limit(1)).scalar()
    if fid is not None:
        return Break(None, f"finding {fid} is not in the chain (written outside riskwatch)",
                     "finding", fid)
    linked = select(CHAIN.c.seq).where(CHAIN.c.kind == "lifecycle",
                                       CHAIN.c.subject == cast(ACTIONS.c.id, String))
    aid = conn.execute(select(ACTIONS.c.id).where(~exists(linked)).limit(1)).scalar()
    if aid is not None:
        return Break(None, f"lifecycle action {aid} is not in the chain", "lifecycle", str(aid))
    from audit.webhooks import unchained_subscription  # it imports this module

    if (sid := unchained_subscription(conn)) is not None:
        return Break(None, f"webhook subscription {sid} is not in the chain (written outside "
                     "riskwatch)", "webhook", str(sid))
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
            return Report(entries, head, Break(
                last.seq + 1 if head.seq > last.seq else head.seq,
                f"chain head (seq {head.seq}, {head.entry_hash}) does not match the last entry "
                f"(seq {last.seq}, {last.entry_hash}): entries were removed from the end or the head "
                f"was edited"))
        return Report(entries, head, _unchained(conn))
