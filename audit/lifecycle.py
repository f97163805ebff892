"""Finding lifecycle: acknowledge, resolve, mark false positive, reopen.

A finding's status is its last action (``open`` if it has none). Each action is a row of
``finding_actions`` and a link of the hash chain, written in one transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, case, insert, select
from sqlalchemy.engine import Connection, Engine

from audit import chain
from audit.models import FindingAction, FindingRecord, table_of

ACTIONS = table_of(FindingAction)
FINDINGS = table_of(FindingRecord)


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    FALSE_POSITIVE = "false_positive"
    REOPEN = "reopen"


class Status(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    FALSE_POSITIVE = "false_positive"


STATUS_AFTER = {
    Action.ACKNOWLEDGE: Status.ACKNOWLEDGED,
    Action.RESOLVE: Status.RESOLVED,
    Action.FALSE_POSITIVE: Status.FALSE_POSITIVE,
    Action.REOPEN: Status.OPEN,
}
#: the statuses each action may be taken from
ALLOWED_FROM = {
    Action.ACKNOWLEDGE: {Status.OPEN},
    Action.RESOLVE: {Status.OPEN, Status.ACKNOWLEDGED},
    Action.FALSE_POSITIVE: {Status.OPEN, Status.ACKNOWLEDGED},
    Action.REOPEN: {Status.ACKNOWLEDGED, Status.RESOLVED, Status.FALSE_POSITIVE},
}


class FindingNotFound(LookupError):
    pass


class InvalidTransition(ValueError):
    pass


def last_action_expr(finding_id: Any = None) -> Any:
    """Scalar subquery: the last action on the finding (NULL if none)."""
    return (
        select(ACTIONS.c.action)
        .where(
            ACTIONS.c.finding_id == (FINDINGS.c.finding_id if finding_id is None else finding_id)
        )
        .order_by(ACTIONS.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def status_expr() -> ColumnElement[str]:
    """SQL expression for each finding's status, for filtering and listing."""
    last = last_action_expr()
    return case(
        {a.value: STATUS_AFTER[a].value for a in Action}, value=last, else_=Status.OPEN.value
    )


def status_of(conn: Connection, finding_id: str) -> Status:
    last = conn.execute(select(last_action_expr(finding_id))).scalar()
    return STATUS_AFTER[Action(last)] if last else Status.OPEN


def history(conn: Connection, finding_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(ACTIONS).where(ACTIONS.c.finding_id == finding_id).order_by(ACTIONS.c.id)
    ).mappings()
    return [dict(r) for r in rows]


def record_action(
    engine: Engine,
    *,
    finding_id: str,
    action: Action | str,
    actor: str,
    reason: str,
    at: datetime | None = None,
) -> dict[str, Any]:
    """Record one action and chain it; returns the action row with the new status and chain link.

    Raises FindingNotFound for an unknown finding and InvalidTransition when the action does not
    apply to the finding's current status (e.g. resolving a resolved finding)."""
    action = Action(action)
    at = (at or datetime.now(UTC)).astimezone(UTC)
    with engine.begin() as conn:
        head = chain.lock_head(conn)  # serialises concurrent actions before the status is read
        if (
            conn.execute(
                select(FINDINGS.c.finding_id).where(FINDINGS.c.finding_id == finding_id)
            ).first()
            is None
        ):
            raise FindingNotFound(finding_id)
        current = status_of(conn, finding_id)
        if current not in ALLOWED_FROM[action]:
            raise InvalidTransition(f"cannot {action.value} a finding that is {current.value}")
        row: dict[str, Any] = {
            "finding_id": finding_id,
            "action": action.value,
            "actor": actor,
            "reason": reason,
            "at": at,
        }
        row["id"] = conn.execute(insert(ACTIONS).values(**row).returning(ACTIONS.c.id)).scalar_one()
        link = chain.Link("lifecycle", str(row["id"]), chain.action_hash(row))
        entry = chain.append(conn, [link], at, head=head)[0]
    return {
        **row,
        "status": STATUS_AFTER[action].value,
        "chain": {"seq": entry["seq"], "entry_hash": entry["entry_hash"]},
    }
