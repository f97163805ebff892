"""Verifying the hash chain (audit/chain.py) against the rows it covers.

``verify`` recomputes every link and every content hash from the current rows and reports the
first break: an edited or deleted finding, lifecycle action, incident state change, removal
record, text reveal, webhook subscription or API token; an event or feedback label edited,
deleted outside an erasure or purge, or inserted (a batch link, audit/batchchain.py); an edited,
deleted or inserted chain row, a truncated chain (head ahead of the last link), or a record that
is not chained at all.

It knows every chained record kind, so it sits above them: the modules that append links import
audit/chain.py, and this module imports them (for webhooks: audit/webhooks/subscriptions.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, cast, exists, select
from sqlalchemy.engine import Connection, Engine

from audit import batchchain
from audit.chain import (
    ACTIONS,
    CHAIN,
    FINDINGS,
    GENESIS,
    REMOVAL_KINDS,
    REMOVALS,
    Head,
    action_hash,
    entry_hash,
    erased_stub,
    finding_hash,
    legacy_finding_hash,
    read_head,
    removal_hash,
    rows_by_id,
)
from audit.incidents.records import CHAIN_KIND as INCIDENT_KIND
from audit.incidents.records import EVENTS as INCIDENT_EVENTS
from audit.incidents.records import event_hash
from audit.sealing import REVEAL_KIND, REVEALS, reveal_hash
from audit.tokens import CHAIN_KIND as TOKEN_KIND
from audit.tokens import chained_token_problems, unchained_token
from audit.webhooks.outbox import CHAIN_KIND as DELIVERY_KIND
from audit.webhooks.outbox import delivery_problem
from audit.webhooks.subscriptions import chained_content_problems, unchained_subscription


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


def _chunks(conn: Connection, size: int) -> Iterator[Sequence[Any]]:
    last = -1
    while rows := conn.execute(
        select(CHAIN).where(CHAIN.c.seq > last).order_by(CHAIN.c.seq).limit(size)
    ).all():
        yield rows
        last = rows[-1].seq


def _content_problem(
    entry: Any,
    findings: dict[str, Any],
    actions: dict[str, Any],
    removals: dict[str, Any],
    incident_events: dict[str, Any],
    reveals: dict[str, Any],
) -> str | None:
    if entry.kind == "finding":
        row, what, digest = findings.get(entry.subject), "finding", finding_hash
    elif entry.kind == "lifecycle":
        row, what, digest = actions.get(entry.subject), "lifecycle action", action_hash
    elif entry.kind == INCIDENT_KIND:
        row, what, digest = (
            incident_events.get(entry.subject),
            "incident state change",
            event_hash,
        )
    elif entry.kind == REVEAL_KIND and entry.subject.isdigit():
        row, what, digest = reveals.get(entry.subject), "text reveal", reveal_hash
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


def _record_problems(conn: Connection, rows: Sequence[Any]) -> dict[tuple[str, str], str]:
    """(kind, subject) -> the problem of a chained webhook subscription or API token."""
    entries = [r for r in rows if r.kind == "webhook"]
    tokens = [r for r in rows if r.kind == TOKEN_KIND]
    out = {
        ("webhook", s): p
        for s, p in (chained_content_problems(conn, entries) if entries else {}).items()
    }
    tokens_found = chained_token_problems(conn, tokens) if tokens else {}
    out.update({(TOKEN_KIND, s): p for s, p in tokens_found.items()})
    return out


def _check_chunk(
    conn: Connection,
    rows: Sequence[Any],
    prev: Head,
    removed: batchchain.Removals,
) -> tuple[Head, Break | None]:
    findings = rows_by_id(
        conn, FINDINGS, "finding_id", [r.subject for r in rows if r.kind == "finding"]
    )
    actions = rows_by_id(
        conn,
        ACTIONS,
        "id",
        [int(r.subject) for r in rows if r.kind == "lifecycle" and r.subject.isdigit()],
    )
    incident_events = rows_by_id(
        conn,
        INCIDENT_EVENTS,
        "id",
        [int(r.subject) for r in rows if r.kind == INCIDENT_KIND and r.subject.isdigit()],
    )
    reveals = rows_by_id(
        conn,
        REVEALS,
        "id",
        [int(r.subject) for r in rows if r.kind == REVEAL_KIND and r.subject.isdigit()],
    )
    records = _record_problems(conn, rows)
    records.update(batchchain.batch_problems(conn, rows, removed))
    removal_ids = {int(r.subject) for r in rows if r.kind in REMOVAL_KINDS and r.subject.isdigit()}
    removal_ids |= {
        int(stub["removal_id"])
        for f in findings.values()
        if (stub := erased_stub(f["evidence"])) is not None and isinstance(stub["removal_id"], int)
    }
    removals = rows_by_id(conn, REMOVALS, "id", sorted(removal_ids))
    for r in rows:

        def broken(problem: str, r: Any = r, prev: Head = prev) -> tuple[Head, Break]:
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
        if problem := _content_problem(r, findings, actions, removals, incident_events, reveals):
            return broken(problem)
        if problem := records.get((r.kind, r.subject)):
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
    linked = select(CHAIN.c.seq).where(
        CHAIN.c.kind == INCIDENT_KIND, CHAIN.c.subject == cast(INCIDENT_EVENTS.c.id, String)
    )
    eid = conn.execute(select(INCIDENT_EVENTS.c.id).where(~exists(linked)).limit(1)).scalar()
    if eid is not None:
        return Break(
            None, f"incident state change {eid} is not in the chain", INCIDENT_KIND, str(eid)
        )
    linked = select(CHAIN.c.seq).where(
        CHAIN.c.kind == REVEAL_KIND, CHAIN.c.subject == cast(REVEALS.c.id, String)
    )
    vid = conn.execute(select(REVEALS.c.id).where(~exists(linked)).limit(1)).scalar()
    if vid is not None:
        return Break(None, f"text reveal {vid} is not in the chain", REVEAL_KIND, str(vid))
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
    if (tid := unchained_token(conn)) is not None:
        return Break(
            None,
            f"API token {tid} is not in the chain (inserted outside riskwatch)",
            TOKEN_KIND,
            str(tid),
        )
    if (found := delivery_problem(conn)) is not None:
        return Break(None, found[1], DELIVERY_KIND, found[0])
    if (row := batchchain.unchained_row(conn)) is not None:
        kind, event_id = row
        what = batchchain.KINDS[kind].what
        return Break(
            None,
            f"{what} {event_id} is not in the chain (written outside riskwatch)",
            kind,
            event_id,
        )
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
        removed = batchchain.load_removals(conn)
        for rows in _chunks(conn, chunk):
            last, broken = _check_chunk(conn, rows, last, removed)
            if broken is not None:
                return Report(entries + sum(1 for r in rows if r.seq <= last.seq), head, broken)
            entries += len(rows)
        if (last.seq, last.entry_hash) != (head.seq, head.entry_hash):
            return Report(
                entries,
                head,
                Break(
                    last.seq + 1 if head.seq > last.seq else head.seq,
                    f"chain head (seq {head.seq}, {head.entry_hash}) does not match the last "
                    f"entry (seq {last.seq}, {last.entry_hash}): entries were removed from the end "
                    f"or the head was edited",
                ),
            )
        return Report(entries, head, _unchained(conn))
