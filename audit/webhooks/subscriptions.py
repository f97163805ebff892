"""Alert webhook subscriptions as stored: creation (the secret is shown once), listing, removal.

Creating and removing a subscription are admin actions: each is appended to the hash chain
(kind ``webhook``, subject ``<id>/create`` or ``<id>/remove``) in the transaction that writes it.
The chained content covers the subscription's URL, format, filters and the SHA-256 of its secret,
so the link records exactly where alerts were sent from that point on. What a new subscription
may ask for is validated in audit/webhooks/spec.py.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine

from audit import chain, chained_records
from audit.models import RowData, WebhookDelivery, WebhookSubscription, as_utc, table_of
from audit.webhooks.spec import (
    AlertOn,
    Filters,
    NewSubscription,
    SubscriptionError,
    WebhookFormat,
)
from core.taxonomy import Category, Severity, Subcategory

SUBSCRIPTIONS = table_of(WebhookSubscription)
DELIVERIES = table_of(WebhookDelivery)
SECRET_PREFIX = "whsec_"
CHAIN_KIND = "webhook"


class SubscriptionNotFound(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    name: str
    url: str
    format: WebhookFormat
    filters: Filters
    created_by: str
    created_at: datetime
    removed_by: str | None
    removed_at: datetime | None
    alert_on: AlertOn = AlertOn.INCIDENTS

    @property
    def active(self) -> bool:
        return self.removed_at is None

    def to_dict(self) -> dict[str, Any]:
        """Public fields: never the secret."""
        return {
            "id": self.id,
            "name": self.name,
            "url": self.url,
            "format": self.format.value,
            **self.filters.to_dict(),
            "alert_on": self.alert_on.value,
            "active": self.active,
            "created_by": self.created_by,
            "created_at": as_utc(self.created_at),
            "removed_by": self.removed_by,
            "removed_at": as_utc(self.removed_at) if self.removed_at else None,
        }


def from_row(row: RowData) -> Subscription:
    filters = Filters(
        tuple(row["models"]),
        tuple(Category(c) for c in row["categories"]),
        tuple(Subcategory(s) for s in row["subcategories"]),
        Severity(row["min_severity"]),
    )
    return Subscription(
        row["id"],
        row["name"],
        row["url"],
        WebhookFormat(row["format"]),
        filters,
        row["created_by"],
        row["created_at"],
        row["removed_by"],
        row["removed_at"],
        AlertOn(row["alert_on"]),
    )


# --- the chain ---------------------------------------------------------------------------------

CREATE_FIELDS = (
    "id",
    "name",
    "url",
    "format",
    "models",
    "categories",
    "subcategories",
    "min_severity",
    "secret_sha256",
    "created_by",
    "created_at",
)
REMOVE_FIELDS = ("id", "removed_by", "removed_at")


def _chain_link(row: RowData, action: str) -> chain.Link:
    doc = {**row, "secret_sha256": hashlib.sha256(row["secret"].encode()).hexdigest()}
    fields = CREATE_FIELDS if action == "create" else REMOVE_FIELDS
    if action == "create" and row["alert_on"] != AlertOn.FINDINGS:
        # a subscription alerting on every finding hashes as it did before incidents existed,
        # so links chained then still verify
        fields = (*fields, "alert_on")
    return chain.Link(CHAIN_KIND, f"{row['id']}/{action}", chain.content_hash(doc, fields))


# --- create, list, remove ------------------------------------------------------------------------


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def create_subscription(
    engine: Engine, spec: NewSubscription, *, actor: str, at: datetime | None = None
) -> tuple[Subscription, str]:
    """Store and chain a subscription; returns it and its signing secret (shown only now)."""
    if not actor.strip():
        raise SubscriptionError("actor must not be empty")
    at = (at or datetime.now(UTC)).astimezone(UTC)
    secret = new_secret()
    name = (spec.name or urlsplit(spec.url).hostname or "webhook").strip()
    row: dict[str, Any] = {
        "name": name,
        "url": spec.url,
        "format": spec.format.value,
        **spec.filters.to_dict(),
        "alert_on": spec.alert_on.value,
        "secret": secret,
        "created_by": actor[:128],
        "created_at": at,
        "removed_by": None,
        "removed_at": None,
    }
    with engine.begin() as conn:
        head = chain.lock_head(conn)
        row["id"] = conn.execute(
            insert(SUBSCRIPTIONS).values(**row).returning(SUBSCRIPTIONS.c.id)
        ).scalar_one()
        chain.append(conn, [_chain_link(row, "create")], at, head=head)
    return from_row(row), secret


def list_subscriptions(engine: Engine, *, include_removed: bool = False) -> list[Subscription]:
    query = select(SUBSCRIPTIONS).order_by(SUBSCRIPTIONS.c.id)
    if not include_removed:
        query = query.where(SUBSCRIPTIONS.c.removed_at.is_(None))
    with engine.connect() as conn:
        return [from_row(r) for r in conn.execute(query).mappings()]


def get_subscription(engine: Engine, subscription_id: int) -> Subscription | None:
    with engine.connect() as conn:
        row = (
            conn.execute(select(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.id == subscription_id))
            .mappings()
            .first()
        )
    return from_row(row) if row else None


def remove_subscription(
    engine: Engine, subscription_id: int, *, actor: str, at: datetime | None = None
) -> Subscription:
    """Remove (soft) and chain the removal; its pending deliveries are cancelled. Removing a
    removed subscription changes nothing. Raises SubscriptionNotFound."""
    at = (at or datetime.now(UTC)).astimezone(UTC)
    with engine.begin() as conn:
        head = chain.lock_head(conn)
        row = (
            conn.execute(select(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.id == subscription_id))
            .mappings()
            .first()
        )
        if row is None:
            raise SubscriptionNotFound(subscription_id)
        if row["removed_at"] is not None:
            return from_row(row)
        removed = {**row, "removed_by": actor[:128], "removed_at": at}
        conn.execute(
            update(SUBSCRIPTIONS)
            .where(SUBSCRIPTIONS.c.id == subscription_id)
            .values(removed_by=removed["removed_by"], removed_at=at)
        )
        conn.execute(
            update(DELIVERIES)
            .where(
                DELIVERIES.c.subscription_id == subscription_id, DELIVERIES.c.status == "pending"
            )
            .values(
                status="cancelled",
                last_error="subscription removed",
                lease_until=None,
                lease_owner=None,
            )
        )
        chain.append(conn, [_chain_link(removed, "remove")], at, head=head)
    return from_row(removed)


def active_subscriptions(conn: Connection) -> list[Subscription]:
    """Live subscriptions, read in the caller's transaction."""
    rows = conn.execute(
        select(SUBSCRIPTIONS)
        .where(SUBSCRIPTIONS.c.removed_at.is_(None))
        .order_by(SUBSCRIPTIONS.c.id)
    ).mappings()
    return [from_row(r) for r in rows]


_CHAINED = chained_records.ChainedRecord(
    what="webhook subscription",
    kind=CHAIN_KIND,
    table=SUBSCRIPTIONS,
    close="remove",
    closed_at="removed_at",
    undone="removed, now it is active",
    link=_chain_link,
)


# --- verification (called by audit/verify.py) -----------------------------------------------------


def chained_content_problems(conn: Connection, entries: Iterable[Any]) -> dict[str, str]:
    """For chain entries of kind ``webhook``: subject → what no longer matches the stored
    subscription (an edited URL, filter or secret; a removal undone or edited; a deleted row)."""
    return chained_records.problems(_CHAINED, conn, entries)


def unchained_subscription(conn: Connection) -> int | None:
    """A subscription with no ``create`` link (inserted outside riskwatch), or None."""
    return chained_records.unchained(_CHAINED, conn)
