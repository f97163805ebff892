"""Verification of records chained on creation and on one closing action (an API token and its
revocation, a webhook subscription and its removal): chain subjects ``<id>/create`` and
``<id>/<close>``. Shared by audit/tokens.py and audit/webhooks/subscriptions.py; called by
audit/verify.py through them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.engine import Connection

from audit import chain
from audit.models import RowData


@dataclass(frozen=True, slots=True)
class ChainedRecord:
    #: how a problem names the record ("API token")
    what: str
    kind: str
    table: Table
    #: the closing action's subject suffix and the column it sets ("revoke", "revoked_at")
    close: str
    closed_at: str
    #: what an undone closing is called ("revoked, now it is live again")
    undone: str
    link: Callable[[RowData, str], chain.Link]


def problems(record: ChainedRecord, conn: Connection, entries: Iterable[Any]) -> dict[str, str]:
    """For chain entries of the record's kind: subject → what no longer matches the stored row
    (an edited row, a closing undone, a deleted row, a malformed subject)."""
    entries = list(entries)
    ids = sorted({int(s) for e in entries if (s := e.subject.partition("/")[0]).isdigit()})
    rows = chain.rows_by_id(conn, record.table, "id", ids) if ids else {}
    found: dict[str, str] = {}
    for entry in entries:
        rid, _, action = entry.subject.partition("/")
        row = rows.get(rid)
        if action not in ("create", record.close) or not rid.isdigit():
            found[entry.subject] = f"malformed {record.kind} chain subject {entry.subject!r}"
        elif row is None:
            found[entry.subject] = f"{record.what} {rid} was deleted"
        elif action == record.close and row[record.closed_at] is None:
            found[entry.subject] = f"{record.what} {rid} was {record.undone}"
        elif (digest := record.link(row, action).content_hash) != entry.content_hash:
            found[entry.subject] = (
                f"{record.what} {rid} changed after its {action} was chained: content hash "
                f"{digest} != chained {entry.content_hash}"
            )
    return found


def unchained(record: ChainedRecord, conn: Connection) -> int | None:
    """A record with no ``create`` link (inserted outside riskwatch), or None."""
    chained = {
        s.partition("/")[0]
        for s in conn.execute(
            select(chain.CHAIN.c.subject).where(chain.CHAIN.c.kind == record.kind)
        ).scalars()
    }
    table = record.table
    for rid in conn.execute(select(table.c.id).order_by(table.c.id)).scalars():
        if str(rid) not in chained:
            return int(rid)
    return None
