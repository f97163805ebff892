"""GDPR Art. 17 erasure by ``context.user_ref``: remove one data subject's event content.

In one transaction, for every stored event whose ``user_ref_hash`` is the ref's HMAC-SHA256 under
any key of the key file (audit/keys.py; rotated keys are kept for this) or its legacy plain SHA-256
(stores written before keyed references):

* the event keeps only what is not about the subject (id, time, model, service, tenant, usage
  figures, Kafka coordinates); its payload becomes a skeleton marked ``erased`` and its
  prediction, score, error and user_ref_hash are cleared (the record lists each event's row hash
  before and after, so its batch link still verifies, audit/batchchain.py);
* each finding about such an event has its evidence replaced by an erased stub that keeps the
  evidence's SHA-256 (audit/chain.py), so the finding's chain link still verifies;
* the events' feedback labels are deleted (the record lists the leaves of their batch links,
  audit/batchchain.py, so those links still verify), and so are detector-state entries of those
  events (the fairness detector's pending decisions and labels: protected attributes,
  predictions); a label that arrives for an erased event later is not stored (audit/store.py)
  and reaches no detector (streams/pipeline.py);
* the subject's data keys (audit/sealing.py, scope ``subject:<ref HMAC>`` under every HMAC key)
  are deleted: every text sealed under them, wherever a copy of it lies (a free page, the WAL, a
  backup, an export), is unreadable from then on (crypto-shredding); after the commit the WAL is
  truncated (SQLite, with ``secure_delete`` on) or ``data_keys`` vacuumed (PostgreSQL);
* a ``data_removals`` row (kind ``erasure``: the ref's HMAC under the current key, reason,
  who, when, counts and the findings erased) is written and chained: the erasure is itself an
  audit entry.

Findings chained before evidence was hashed separately keep their evidence (erasing it would
break their link); the result counts them as ``findings_kept``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.engine import Connection, Engine

from audit import batchchain, chain
from audit.keys import KeyRing, keys_from_settings
from audit.models import (
    DetectorStateEntryRecord,
    EventRecord,
    FeedbackRecord,
    as_utc,
    table_of,
)
from audit.removal.records import next_removal_id, record_removal
from audit.sealing import scrub, shred, subject_scope
from core.events import NAME

EVENTS = table_of(EventRecord)
ENTRIES = table_of(DetectorStateEntryRecord)
#: keyed detector-state entries of one event: the fairness detector's pending decision
#: (protected attributes, prediction) and pending label
EVENT_ENTRY_PREFIXES = ("p:", "l:")
FEEDBACK = table_of(FeedbackRecord)
_CHUNK = 500
_NAME = re.compile(NAME)


@dataclass(frozen=True)
class ErasureResult:
    removal_id: int
    chain_seq: int
    user_ref_hash: str
    events: int
    findings: int
    findings_kept: int
    feedback: int
    by: str
    reason: str
    at: str
    data_keys: int = 0  # the subject's data keys destroyed

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _check(user_ref: str, reason: str, by: str) -> None:
    if not user_ref or len(user_ref) > 256 or not _NAME.match(user_ref):
        raise ValueError("erase: user_ref must be 1 to 256 characters without control characters")
    if not reason.strip():
        raise ValueError("erase: --reason is empty (say which request this answers)")
    if not by.strip() or len(by) > 128:
        raise ValueError("erase: --by (who runs it) must be 1 to 128 characters")


def _skeleton(row: Any, removal_id: int, at: str) -> dict[str, Any]:
    payload = row.payload if isinstance(row.payload, dict) else {}
    keep = {k: payload[k] for k in ("schema", "event_id", "timestamp", "model") if k in payload}
    return {**keep, "erased": {"removal_id": removal_id, "at": at, "basis": "GDPR Art. 17"}}


def _erase_events(
    conn: Connection, candidates: list[str], removal_id: int, at: str
) -> tuple[list[str], dict[str, Any]]:
    """Reduce the subject's events to their skeletons; returns their ids and, by batch, their
    leaves before and after (audit/batchchain.py), which the erasure record lists."""
    rows = conn.execute(select(EVENTS).where(EVENTS.c.user_ref_hash.in_(candidates))).all()
    if not rows:
        return [], {}
    conn.execute(
        update(EVENTS)
        .where(EVENTS.c.event_id == bindparam("eid"))
        .values(
            payload=bindparam("new_payload"),
            prediction=None,
            score=None,
            error=None,
            user_ref_hash=None,
        ),
        [{"eid": r.event_id, "new_payload": _skeleton(r, removal_id, at)} for r in rows],
    )
    ids = [r.event_id for r in rows]
    after = {}
    for i in range(0, len(ids), _CHUNK):
        after.update(
            {
                r["event_id"]: r
                for r in conn.execute(
                    select(EVENTS).where(EVENTS.c.event_id.in_(ids[i : i + _CHUNK]))
                ).mappings()
            }
        )
    changes = batchchain.changes_by_batch(batchchain.EVENTS_KIND, [r._mapping for r in rows], after)
    return ids, changes


def _erase_findings(
    conn: Connection, event_ids: list[str], removal_id: int
) -> tuple[list[str], int]:
    erased, kept = [], 0
    for i in range(0, len(event_ids), _CHUNK):
        chunk = event_ids[i : i + _CHUNK]
        rows = (
            conn.execute(select(chain.FINDINGS).where(chain.FINDINGS.c.event_id.in_(chunk)))
            .mappings()
            .all()
        )
        if not rows:
            continue
        links = dict(
            conn.execute(
                select(chain.CHAIN.c.subject, chain.CHAIN.c.content_hash).where(
                    chain.CHAIN.c.kind == "finding",
                    chain.CHAIN.c.subject.in_([r["finding_id"] for r in rows]),
                )
            ).all()
        )
        changes = []
        for r in rows:
            if chain.erased_stub(r["evidence"]) is not None:
                continue  # erased before
            if links.get(r["finding_id"]) != chain.finding_hash(r):
                kept += 1  # chained with its evidence inline (before evidence hashes)
                continue
            changes.append(
                {"fid": r["finding_id"], "stub": chain.erase_evidence(r["evidence"], removal_id)}
            )
        if changes:
            conn.execute(
                update(chain.FINDINGS)
                .where(chain.FINDINGS.c.finding_id == bindparam("fid"))
                .values(evidence=bindparam("stub")),
                changes,
            )
            erased += [c["fid"] for c in changes]
    return erased, kept


def _delete_feedback(conn: Connection, event_ids: list[str]) -> tuple[int, dict[str, Any]]:
    """Delete the events' labels; returns their count and the leaves of their batch links, by
    batch (audit/batchchain.py), that the erasure record lists."""
    n, rows = 0, list[Any]()
    for i in range(0, len(event_ids), _CHUNK):
        where = FEEDBACK.c.event_id.in_(event_ids[i : i + _CHUNK])
        rows += conn.execute(select(FEEDBACK).where(where)).mappings().all()
        n += conn.execute(delete(FEEDBACK).where(where)).rowcount or 0
    return n, batchchain.changes_by_batch(batchchain.FEEDBACK_KIND, rows)


def _delete_state_entries(conn: Connection, event_ids: list[str]) -> int:
    keys = [p + e for e in event_ids for p in EVENT_ENTRY_PREFIXES]
    n = 0
    for i in range(0, len(keys), _CHUNK):
        n += (
            conn.execute(delete(ENTRIES).where(ENTRIES.c.key.in_(keys[i : i + _CHUNK]))).rowcount
            or 0
        )
    return n


def erase_subject(
    engine: Engine,
    user_ref: str,
    *,
    reason: str,
    by: str,
    now: datetime,
    keys: KeyRing | None = None,
) -> ErasureResult:
    """Erase the content of every stored event of ``user_ref``, matched under every key of
    ``keys`` (default: RISKWATCH_KEY_FILE's) and the legacy plain hash; a repeated request records
    an erasure that found nothing left."""
    _check(user_ref, reason, by)
    keys = keys if keys is not None else keys_from_settings()
    candidates = keys.ref_candidates(user_ref)
    ref_hash, now = keys.ref_hash(user_ref), as_utc(now)
    at = chain.canonical_time(now)
    with engine.begin() as conn:
        head = chain.lock_head(conn)  # serialises removals; the reserved id stays free
        removal_id = next_removal_id(conn)
        event_ids, event_changes = _erase_events(conn, candidates, removal_id, at)
        finding_ids, kept = _erase_findings(conn, event_ids, removal_id)
        feedback, feedback_leaves = _delete_feedback(conn, event_ids)
        shredded = shred(conn, [subject_scope(c) for c in candidates])
        _delete_state_entries(conn, event_ids)
        _, seq = record_removal(
            conn,
            kind="erasure",
            now=now,
            requested_by=by,
            reason=reason,
            user_ref_hash=ref_hash,
            events=len(event_ids),
            findings=len(finding_ids),
            feedback=feedback,
            finding_ids=finding_ids,
            removed={
                kind: changes
                for kind, changes in (
                    (batchchain.EVENTS_KIND, event_changes),
                    (batchchain.FEEDBACK_KIND, feedback_leaves),
                )
                if changes
            }
            or None,
            removal_id=removal_id,
            head=head,
        )
    scrub(engine)
    return ErasureResult(
        removal_id,
        seq,
        ref_hash,
        len(event_ids),
        len(finding_ids),
        kept,
        feedback,
        by,
        reason,
        at,
        shredded,
    )
