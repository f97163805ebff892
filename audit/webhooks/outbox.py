"""The webhook outbox: delivery rows written with their findings, claimed under a lease.

* ``enqueue`` runs inside the audit store's batch transaction: a finding and its deliveries commit
  together or not at all. The delivery id is uuid5(finding id, subscription id) and inserts ignore
  conflicts, so a redelivered batch adds nothing.
* ``claim`` leases due rows (pending, ``next_attempt_at <= now``, no live lease) to one
  dispatcher by setting ``lease_until``/``lease_owner``: on PostgreSQL the rows are picked with
  ``SELECT … FOR UPDATE SKIP LOCKED``, on SQLite with one ``UPDATE … WHERE delivery_id IN (due)
  AND <due>`` (writers are serialised). A dispatcher that dies mid-delivery leaves a lease that
  expires, and the row is sent again (at-least-once; receivers de-duplicate by delivery id).
* Results are written only by the lease owner.
* A delivery's final outcome (delivered or dead) is chained in the transaction that records it
  (kind ``delivery``, subject ``<delivery id>/<seq>/<status>``, ``seq`` the link's own, so the
  latest link of a delivery is the one with the highest), over its ids, status, attempts, last
  status code and delivery time; so is each revival of a dead delivery (``<id>/<seq>/retry``).
  ``audit verify`` checks each delivered or dead row against its latest link: a dead delivery
  recorded as delivered, an edited status code or a deleted delivery fails. Retries scheduled
  after a failed attempt are not chained (they are not an outcome), so the chain costs one link
  per alert sent, not per attempt.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from audit import chain
from audit.incidents.records import ALERTING, EVENTS, INCIDENTS
from audit.models import (
    FindingRecord,
    RowData,
    WebhookDelivery,
    WebhookSubscription,
    as_utc,
    table_of,
)
from audit.webhooks.spec import AlertOn, WebhookFormat
from audit.webhooks.subscriptions import active_subscriptions

DELIVERIES = table_of(WebhookDelivery)
SUBSCRIPTIONS = table_of(WebhookSubscription)
FINDINGS = table_of(FindingRecord)
_NAMESPACE = uuid.UUID("2d8f7f0e-4c1b-4f7a-9a43-6a0f1b9d2c51")
_ERROR_LIMIT = 1000


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"
    CANCELLED = "cancelled"  # its subscription was removed before it was delivered


CHAIN_KIND = "delivery"
OUTCOME_FIELDS = (
    "delivery_id",
    "subscription_id",
    "finding_id",
    "incident_event_id",
    "status",
    "attempts",
    "last_status_code",
    "delivered_at",
)
_FINAL = (DeliveryStatus.DELIVERED.value, DeliveryStatus.DEAD.value)


def outcome_link(row: RowData, n: int) -> chain.Link:
    return chain.Link(
        CHAIN_KIND,
        f"{row['delivery_id']}/{n}/{row['status']}",
        chain.content_hash(row, OUTCOME_FIELDS),
    )


def _retry_link(delivery_id: str, n: int, at: datetime) -> chain.Link:
    doc = {"delivery_id": delivery_id, "retried_at": at}
    return chain.Link(
        CHAIN_KIND,
        f"{delivery_id}/{n}/retry",
        chain.content_hash(doc, ("delivery_id", "retried_at")),
    )


def delivery_id_for(finding_id: str, subscription_id: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{finding_id}|{subscription_id}"))


def _insert_ignore(conn: Connection) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(DELIVERIES).on_conflict_do_nothing(index_elements=["delivery_id"])


def _pending(
    did: str, subscription_id: int, finding_id: str, event_id: int | None, now: datetime
) -> dict[str, Any]:
    return {
        "delivery_id": did,
        "subscription_id": subscription_id,
        "finding_id": finding_id,
        "incident_event_id": event_id,
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "lease_until": None,
        "lease_owner": None,
        "last_status_code": None,
        "last_error": None,
        "created_at": now,
        "delivered_at": None,
    }


def enqueue(conn: Connection, findings: Iterable[Mapping[str, Any]], now: datetime) -> int:
    """Add one pending delivery per (finding, matching live subscription that alerts on every
    finding), in ``conn``'s transaction; returns how many rows were new."""
    findings = list(findings)
    if not findings:
        return 0
    subscriptions = [s for s in active_subscriptions(conn) if s.alert_on is AlertOn.FINDINGS]
    rows: dict[str, dict[str, Any]] = {}
    for finding in findings:
        for sub in subscriptions:
            if sub.filters.matches(finding):
                did = delivery_id_for(finding["finding_id"], sub.id)
                rows[did] = _pending(did, sub.id, finding["finding_id"], None, now)
    return _insert(conn, rows)


def enqueue_incident_events(
    conn: Connection,
    events: Iterable[Mapping[str, Any]],
    incidents: Mapping[str, Mapping[str, Any]],
    now: datetime,
) -> int:
    """One pending delivery per (alerting incident event: opened, escalated, resolved or
    recovered; matching live subscription that alerts on incidents). A subscription's filters
    match the incident's model, taxonomy and worst severity."""
    events = [e for e in events if e["event"] in ALERTING]
    if not events:
        return 0
    subscriptions = [s for s in active_subscriptions(conn) if s.alert_on is AlertOn.INCIDENTS]
    rows: dict[str, dict[str, Any]] = {}
    for event in events:
        incident = {**incidents[event["incident_id"]], "severity": event["severity"]}
        for sub in subscriptions:
            if sub.filters.matches(incident) and event["finding_id"]:
                did = delivery_id_for(f"incident-event:{event['id']}", sub.id)
                rows[did] = _pending(did, sub.id, event["finding_id"], event["id"], now)
    return _insert(conn, rows)


def _insert(conn: Connection, rows: Mapping[str, dict[str, Any]]) -> int:
    if not rows:
        return 0
    result = conn.execute(
        _insert_ignore(conn).returning(DELIVERIES.c.delivery_id), list(rows.values())
    )
    return len(result.scalars().all())


@dataclass(frozen=True, slots=True)
class Claimed:
    """A leased delivery with what the dispatcher needs to send it."""

    delivery_id: str
    attempts: int  # attempts made before this one
    subscription_id: int
    url: str
    format: WebhookFormat
    secret: str
    finding: dict[str, Any]
    #: an incident alert: the incident (its summary now) with ``event``, the state change
    incident: dict[str, Any] | None = None

    def __repr__(self) -> str:  # the secret stays out of logs and tracebacks
        return (
            f"Claimed(delivery_id={self.delivery_id!r}, attempts={self.attempts}, "
            f"subscription_id={self.subscription_id})"
        )


def _due(now: datetime) -> Any:
    return (
        (DELIVERIES.c.status == DeliveryStatus.PENDING.value)
        & (DELIVERIES.c.next_attempt_at <= now)
        & or_(DELIVERIES.c.lease_until.is_(None), DELIVERIES.c.lease_until < now)
    )


def claim(
    engine: Engine,
    owner: str,
    *,
    now: datetime | None = None,
    lease_s: float = 60.0,
    limit: int = 100,
) -> list[Claimed]:
    """Lease up to ``limit`` due deliveries to ``owner`` until now + lease_s."""
    now = as_utc(now or datetime.now(UTC))
    until = now + timedelta(seconds=lease_s)
    due = (
        select(DELIVERIES.c.delivery_id)
        .where(_due(now))
        .order_by(DELIVERIES.c.next_attempt_at)
        .limit(limit)
    )
    lease = {"lease_until": until, "lease_owner": owner}
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Row locks, skipping rows a concurrent claimer holds: it takes the next rows instead
            # of queueing behind ours (its re-checked guard would then exclude them anyway).
            taken = conn.execute(due.with_for_update(skip_locked=True)).scalars().all()
            if taken:
                conn.execute(
                    update(DELIVERIES).where(DELIVERIES.c.delivery_id.in_(taken)).values(**lease)
                )
        else:
            # SQLite: one guarded statement, so the write lock is taken before the read (a
            # read-then-write transaction cannot wait for a concurrent writer; it fails).
            conn.execute(
                update(DELIVERIES)
                .where(DELIVERIES.c.delivery_id.in_(due), _due(now))
                .values(**lease)
            )
        rows = (
            conn.execute(
                select(
                    DELIVERIES.c.delivery_id,
                    DELIVERIES.c.attempts,
                    SUBSCRIPTIONS.c.id,
                    SUBSCRIPTIONS.c.url,
                    SUBSCRIPTIONS.c.format,
                    SUBSCRIPTIONS.c.secret,
                    DELIVERIES.c.incident_event_id,
                    *FINDINGS.columns,
                )
                .join(SUBSCRIPTIONS, SUBSCRIPTIONS.c.id == DELIVERIES.c.subscription_id)
                .join(FINDINGS, FINDINGS.c.finding_id == DELIVERIES.c.finding_id)
                .where(
                    DELIVERIES.c.lease_owner == owner,
                    DELIVERIES.c.lease_until == until,
                    DELIVERIES.c.status == DeliveryStatus.PENDING.value,
                )
                .order_by(DELIVERIES.c.next_attempt_at)
            )
            .mappings()
            .all()
        )
        incidents = _incident_alerts(conn, [r["incident_event_id"] for r in rows])
    finding_cols = [c.name for c in FINDINGS.columns]
    return [
        Claimed(
            r["delivery_id"],
            r["attempts"],
            r["id"],
            r["url"],
            WebhookFormat(r["format"]),
            r["secret"],
            {c: r[c] for c in finding_cols},
            incidents.get(r["incident_event_id"]),
        )
        for r in rows
    ]


def _incident_alerts(
    conn: Connection, event_ids: Sequence[int | None]
) -> dict[int, dict[str, Any]]:
    """event id → the incident with that ``event`` (for the deliveries that alert on one)."""
    ids = sorted({i for i in event_ids if i is not None})
    if not ids:
        return {}
    events = conn.execute(select(EVENTS).where(EVENTS.c.id.in_(ids))).mappings().all()
    incidents = {
        r["incident_id"]: dict(r)
        for r in conn.execute(
            select(INCIDENTS).where(INCIDENTS.c.incident_id.in_({e["incident_id"] for e in events}))
        ).mappings()
    }
    return {e["id"]: {**incidents[e["incident_id"]], "event": dict(e)} for e in events}


def _finish(engine: Engine, delivery_id: str, owner: str, values: dict[str, Any]) -> bool:
    final = values.get("status") in _FINAL
    with engine.begin() as conn:
        head = chain.lock_head(conn) if final else None  # the head first, as the batch writer
        done = (
            conn.execute(
                update(DELIVERIES)
                .where(
                    DELIVERIES.c.delivery_id == delivery_id,
                    DELIVERIES.c.lease_owner == owner,
                    DELIVERIES.c.status == DeliveryStatus.PENDING.value,
                )
                .values(
                    lease_until=None, lease_owner=None, attempts=DELIVERIES.c.attempts + 1, **values
                )
            ).rowcount
            == 1
        )
        if done and final:
            row = (
                conn.execute(select(DELIVERIES).where(DELIVERIES.c.delivery_id == delivery_id))
                .mappings()
                .one()
            )
            assert head is not None
            chain.append(conn, [outcome_link(row, head.seq + 1)], datetime.now(UTC), head=head)
        return done


def mark_delivered(
    engine: Engine, delivery_id: str, owner: str, *, status_code: int, now: datetime | None = None
) -> bool:
    """False when ``owner`` no longer holds the lease (the result is then not recorded)."""
    return _finish(
        engine,
        delivery_id,
        owner,
        {
            "status": DeliveryStatus.DELIVERED.value,
            "last_status_code": status_code,
            "last_error": None,
            "delivered_at": as_utc(now or datetime.now(UTC)),
        },
    )


def mark_failed(
    engine: Engine,
    delivery_id: str,
    owner: str,
    *,
    error: str,
    status_code: int | None,
    retry_at: datetime | None,
) -> bool:
    """A failed attempt: pending again from ``retry_at``, or dead when ``retry_at`` is None."""
    values: dict[str, Any] = {"last_status_code": status_code, "last_error": error[:_ERROR_LIMIT]}
    if retry_at is None:
        values["status"] = DeliveryStatus.DEAD.value
    else:
        values["next_attempt_at"] = as_utc(retry_at)
    return _finish(engine, delivery_id, owner, values)


# --- reading and retrying ------------------------------------------------------------------------

DELIVERY_COLUMNS = (
    "delivery_id",
    "subscription_id",
    "finding_id",
    "status",
    "attempts",
    "next_attempt_at",
    "last_status_code",
    "last_error",
    "created_at",
    "delivered_at",
)


def _public(row: RowData) -> dict[str, Any]:
    out = {c: row[c] for c in DELIVERY_COLUMNS}
    for key in ("next_attempt_at", "created_at", "delivered_at"):
        if out[key] is not None:
            out[key] = as_utc(out[key])
    return out


def list_deliveries(
    engine: Engine,
    *,
    status: DeliveryStatus | str | None = None,
    subscription_id: int | None = None,
    finding_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Deliveries, newest first."""
    query = select(DELIVERIES)
    if status is not None:
        query = query.where(DELIVERIES.c.status == DeliveryStatus(status).value)
    if subscription_id is not None:
        query = query.where(DELIVERIES.c.subscription_id == subscription_id)
    if finding_id is not None:
        query = query.where(DELIVERIES.c.finding_id == finding_id)
    query = query.order_by(DELIVERIES.c.created_at.desc(), DELIVERIES.c.delivery_id)
    with engine.connect() as conn:
        rows = conn.execute(query.limit(limit).offset(offset)).mappings().all()
    return [_public(r) for r in rows]


def get_delivery(engine: Engine, delivery_id: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = (
            conn.execute(select(DELIVERIES).where(DELIVERIES.c.delivery_id == delivery_id))
            .mappings()
            .first()
        )
    return _public(row) if row else None


def status_counts(engine: Engine, *, subscription_id: int | None = None) -> dict[str, int]:
    query = select(DELIVERIES.c.status, func.count()).group_by(DELIVERIES.c.status)
    if subscription_id is not None:
        query = query.where(DELIVERIES.c.subscription_id == subscription_id)
    with engine.connect() as conn:
        found = {status: n for status, n in conn.execute(query)}
    return {s.value: int(found.get(s.value, 0)) for s in DeliveryStatus}


def retry_dead(
    engine: Engine,
    *,
    delivery_ids: Sequence[str] | None = None,
    subscription_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """Make dead deliveries pending again with a fresh attempt budget, due now. Deliveries of a
    removed subscription stay dead. Returns how many were revived."""
    now = as_utc(now or datetime.now(UTC))
    live = select(SUBSCRIPTIONS.c.id).where(SUBSCRIPTIONS.c.removed_at.is_(None))
    query = update(DELIVERIES).where(
        DELIVERIES.c.status == DeliveryStatus.DEAD.value, DELIVERIES.c.subscription_id.in_(live)
    )
    if delivery_ids is not None:
        query = query.where(DELIVERIES.c.delivery_id.in_(list(delivery_ids)))
    if subscription_id is not None:
        query = query.where(DELIVERIES.c.subscription_id == subscription_id)
    with engine.begin() as conn:
        head = chain.lock_head(conn)
        revived = (
            conn.execute(
                query.values(
                    status=DeliveryStatus.PENDING.value,
                    attempts=0,
                    next_attempt_at=now,
                    lease_until=None,
                    lease_owner=None,
                ).returning(DELIVERIES.c.delivery_id)
            )
            .scalars()
            .all()
        )
        links = [_retry_link(d, head.seq + i, now) for i, d in enumerate(sorted(revived), 1)]
        chain.append(conn, links, now, head=head)
        return len(revived)


# --- verification (called by audit/verify.py) -----------------------------------------------------


def delivery_problem(conn: Connection) -> tuple[str, str] | None:
    """(delivery id, problem) of the first delivery whose stored outcome does not match its
    latest chained link, or that is delivered or dead with no outcome chained; None if none."""
    latest: dict[str, tuple[int, str, str]] = {}  # id -> (seq, what, content hash)
    for subject, digest in conn.execute(
        select(chain.CHAIN.c.subject, chain.CHAIN.c.content_hash).where(
            chain.CHAIN.c.kind == CHAIN_KIND
        )
    ):
        did, _, rest = subject.partition("/")
        n, _, what = rest.partition("/")
        if not n.isdigit() or what not in (*_FINAL, "retry"):
            return did, f"malformed webhook delivery chain subject {subject!r}"
        if did not in latest or int(n) > latest[did][0]:
            latest[did] = (int(n), what, digest)
    rows = chain.rows_by_id(conn, DELIVERIES, "delivery_id", sorted(latest))
    for did, (_n, what, digest) in sorted(latest.items()):
        row = rows.get(did)
        if row is None:
            return did, f"webhook delivery {did} was deleted (its outcome is chained)"
        if what == "retry":
            continue  # revived: pending again, or an outcome not yet chained is caught below
        if row["status"] != what or chain.content_hash(row, OUTCOME_FIELDS) != digest:
            return did, (
                f"webhook delivery {did} changed after its outcome ({what}) was chained: "
                f"now {row['status']}, {row['attempts']} attempts, status code "
                f"{row['last_status_code']}"
            )
    for did, status in conn.execute(
        select(DELIVERIES.c.delivery_id, DELIVERIES.c.status)
        .where(DELIVERIES.c.status.in_(_FINAL))
        .order_by(DELIVERIES.c.delivery_id)
    ):
        if did not in latest or latest[did][1] == "retry":
            return did, f"webhook delivery {did} is {status} but that outcome is not in the chain"
    return None
