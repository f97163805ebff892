"""Tables of the audit store (SQLModel). Raw input/output text is never stored."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeAlias

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, Table, UniqueConstraint
from sqlalchemy.engine import RowMapping
from sqlmodel import Field, SQLModel

#: A row by column name: a dict built for an insert, or a ``RowMapping`` read back.
RowData: TypeAlias = Mapping[str, Any] | RowMapping


def as_utc(value: datetime) -> datetime:
    """An aware UTC time: SQLite hands stored times back naive (they were written in UTC), and a
    caller's aware time in another zone is converted."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a table model, typed: SQLModel sets ``model.__table__`` without declaring
    it, so the table is read from the metadata it is registered on (the same object)."""
    name = model.__tablename__
    if not isinstance(name, str):
        raise TypeError(f"{model.__name__} is not a table model")
    return SQLModel.metadata.tables[name]


def _utc_column(nullable: bool = False, index: bool = False) -> Any:
    return Field(sa_column=Column(DateTime(timezone=True), nullable=nullable, index=index))


class EventRecord(SQLModel, table=True):
    """One inference event, stored once per event_id (the idempotency key)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_model_ts", "model_id", "timestamp"),)

    event_id: str = Field(primary_key=True, max_length=128)
    schema_name: str = Field(max_length=64)
    timestamp: datetime = _utc_column()
    model_id: str = Field(max_length=256)
    model_version: str = Field(max_length=128)
    service: str | None = None
    tenant: str | None = Field(default=None, index=True)
    # SHA-256 of context.user_ref (the raw ref is never stored): what GDPR Art. 17 erasure finds.
    user_ref_hash: str | None = Field(default=None, max_length=64, index=True)
    latency_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    error: str | None = None
    prediction: Any = Field(default=None, sa_column=Column(JSON))
    score: float | None = None
    # The event without its texts: texts are replaced by {"length", "sha256"}.
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    source_topic: str
    source_partition: int
    source_offset: int = Field(sa_column=Column(BigInteger, nullable=False))
    kafka_timestamp_ms: int | None = Field(default=None, sa_column=Column(BigInteger))
    stored_at: datetime = _utc_column()
    # the batch whose chain link covers the row (audit/batchchain.py): not part of its hash
    chain_batch: str | None = Field(default=None, max_length=32, index=True)


class FeedbackRecord(SQLModel, table=True):
    """The ground-truth label of one inference event (riskwatch.feedback/v1), stored once per
    event_id: the first label received is kept. Its event may be stored later, or never."""

    __tablename__ = "feedback"
    __table_args__ = (Index("ix_feedback_model_ts", "model_id", "timestamp"),)

    event_id: str = Field(primary_key=True, max_length=128)
    timestamp: datetime = _utc_column()
    model_id: str = Field(max_length=256)
    model_version: str | None = Field(default=None, max_length=128)
    label: Any = Field(sa_column=Column(JSON, nullable=False))
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))  # as received
    source_topic: str
    source_partition: int
    source_offset: int = Field(sa_column=Column(BigInteger, nullable=False))
    kafka_timestamp_ms: int | None = Field(default=None, sa_column=Column(BigInteger))
    stored_at: datetime = _utc_column()
    # the batch whose chain link covers the row (audit/batchchain.py): not part of its hash
    chain_batch: str | None = Field(default=None, max_length=32, index=True)


class FindingRecord(SQLModel, table=True):
    __tablename__ = "findings"
    __table_args__ = (
        Index("ix_findings_model_detected", "model_id", "detected_at"),
        Index("ix_findings_category", "category", "subcategory"),
    )

    finding_id: str = Field(primary_key=True, max_length=36)
    event_id: str | None = Field(default=None, index=True, max_length=128)
    model_id: str = Field(max_length=256)
    model_version: str | None = None
    detector: str
    rule_id: str
    category: str = Field(max_length=16)
    subcategory: str = Field(max_length=32)
    severity: str = Field(max_length=16, index=True)
    title: str
    evidence: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    regulation_refs: list[str] = Field(sa_column=Column(JSON, nullable=False))
    remediation: str = ""
    pack: str
    pack_version: str
    source_topic: str | None = None
    source_partition: int | None = None
    source_offset: int | None = Field(default=None, sa_column=Column(BigInteger))
    detected_at: datetime = _utc_column(index=True)


class DeadLetterRecord(SQLModel, table=True):
    """A message that could not become an event. Only its hash and size are kept, not its bytes."""

    __tablename__ = "dead_letters"
    __table_args__ = (UniqueConstraint("source_topic", "source_partition", "source_offset"),)

    id: int | None = Field(default=None, primary_key=True)
    source_topic: str
    source_partition: int
    source_offset: int = Field(sa_column=Column(BigInteger, nullable=False))
    reason: str = Field(max_length=32, index=True)
    detail: str
    size_bytes: int
    sha256: str = Field(max_length=64)
    received_at: datetime = _utc_column()


class DetectorStateRecord(SQLModel, table=True):
    """Each detector's saved state, written in the same transaction as the batch it reflects."""

    __tablename__ = "detector_state"

    detector: str = Field(primary_key=True)
    scope: str = Field(primary_key=True, default="global")
    version: str
    state: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = _utc_column()


class DetectorStateEntryRecord(SQLModel, table=True):
    """A detector's keyed state entries (detectors/base.py StateEntries), written and deleted one
    by one with each batch, so that a large set of small entries is not rewritten every batch."""

    __tablename__ = "detector_state_entries"

    detector: str = Field(primary_key=True, max_length=64)
    scope: str = Field(primary_key=True, max_length=255)
    key: str = Field(primary_key=True, max_length=255)
    version: str = Field(max_length=32)
    value: Any = Field(sa_column=Column(JSON, nullable=False))


class ChainEntry(SQLModel, table=True):
    """One link of the tamper-evident hash chain (audit/chain.py): append-only."""

    __tablename__ = "audit_chain"
    __table_args__ = (Index("ix_audit_chain_subject", "kind", "subject"),)

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    kind: str = Field(max_length=16)  # finding | lifecycle | erasure | …
    subject: str = Field(max_length=128)  # finding_id, or the finding_actions id
    content_hash: str = Field(max_length=64)
    prev_hash: str = Field(max_length=64)
    entry_hash: str = Field(max_length=64)
    at: datetime = _utc_column()


class ChainBatch(SQLModel, table=True):
    """What one batch link (audit/batchchain.py) covers: the sorted ``[event_id, row hash]`` list
    whose SHA-256 is the link's content hash. Verification does not rely on it (it rehashes the
    rows); it names the row that was edited, deleted or inserted when a batch no longer matches."""

    __tablename__ = "audit_chain_batches"

    batch: str = Field(primary_key=True, max_length=32)
    kind: str = Field(max_length=16)
    leaves: list[list[str]] = Field(sa_column=Column(JSON, nullable=False))


class ChainHead(SQLModel, table=True):
    """The chain's last link, one row (id = 1): the lock appenders take, and a truncation check."""

    __tablename__ = "audit_chain_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    entry_hash: str = Field(max_length=64)


class ChainCheckpoint(SQLModel, table=True):
    """A signed checkpoint of the chain head (audit/checkpoints.py): Ed25519 over seq, entry_hash
    and time by the key file's signing key ``kid``; also published to the checkpoints topic."""

    __tablename__ = "audit_checkpoints"

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    entry_hash: str = Field(max_length=64)
    at: datetime = _utc_column()
    kid: str = Field(max_length=64)
    signature: str = Field(max_length=128)  # base64 of the 64-byte signature


class FindingAction(SQLModel, table=True):
    """A lifecycle action on a finding; a finding's status is its last action (open if none)."""

    __tablename__ = "finding_actions"
    __table_args__ = (Index("ix_finding_actions_finding", "finding_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    finding_id: str = Field(max_length=36)
    action: str = Field(max_length=16)  # acknowledge | resolve | false_positive | reopen
    actor: str = Field(max_length=128)
    reason: str
    at: datetime = _utc_column(index=True)


class DataRemoval(SQLModel, table=True):
    """A removal of stored data, kept forever and chained (kind = ``kind``, subject = ``id``):
    a GDPR Art. 17 erasure of one subject's event content, or an event retention purge."""

    __tablename__ = "data_removals"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16, index=True)  # erasure | retention
    user_ref_hash: str | None = Field(default=None, max_length=64, index=True)  # erasure
    cutoff: datetime | None = _utc_column(nullable=True)  # retention: events before it
    reason: str
    requested_by: str = Field(max_length=128)
    at: datetime = _utc_column(index=True)
    events: int = 0  # events whose content was removed (erasure) or that were deleted (retention)
    findings: int = 0  # findings whose evidence was replaced by its hash
    feedback: int = 0  # feedback labels deleted
    # The findings whose evidence this erasure removed: verify checks every erased evidence
    # against this list, so evidence cannot be dropped outside an erasure.
    finding_ids: list[str] = Field(sa_column=Column(JSON, nullable=False))
    # What it removed of batch-chained rows (audit/batchchain.py), so the batches' links still
    # verify: {kind: {batch id: [[event_id, row hash], …]}}; None in records made before.
    removed: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class DataKeyRecord(SQLModel, table=True):
    """A data key (audit/sealing.py): AES-256 key of one data subject (scope ``subject:<ref
    HMAC>``) or of one tenant and day (``day:<tenant>|<YYYY-MM-DD>``), stored wrapped
    (AES-256-GCM) by the key file's KEK ``kek_kid``. Deleting it is the erasure of every text
    sealed under it (crypto-shredding)."""

    __tablename__ = "data_keys"

    key_id: str = Field(primary_key=True, max_length=32)
    scope: str = Field(max_length=200, unique=True, index=True)
    kek_kid: str = Field(max_length=64)
    wrapped: str = Field(max_length=128)  # base64 of nonce | ciphertext | tag
    created_at: datetime = _utc_column()


class TextReveal(SQLModel, table=True):
    """A reading of sealed texts in the clear (audit/sealing.py): who, which event, when, why;
    chained (kind ``reveal``, subject ``id``)."""

    __tablename__ = "text_reveals"

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=128, index=True)
    fields: list[str] = Field(sa_column=Column(JSON, nullable=False))  # what was shown
    actor: str = Field(max_length=128)
    reason: str
    at: datetime = _utc_column(index=True)


class ApiToken(SQLModel, table=True):
    """An API bearer token. Only the SHA-256 of the token is stored, never the token."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128, unique=True, index=True)  # ix_api_tokens_name (0005)
    role: str = Field(max_length=16)  # auditor | operator | admin
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _utc_column()
    revoked_at: datetime | None = _utc_column(nullable=True)
    expires_at: datetime | None = _utc_column(nullable=True)  # None: never expires


class WebhookSubscription(SQLModel, table=True):
    """An alert webhook (audit/webhooks/subscriptions.py). Removal is soft: its deliveries and
    chain links keep pointing at it. ``secret`` signs the deliveries; it is returned once, at
    creation."""

    __tablename__ = "webhook_subscriptions"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128)
    url: str = Field(max_length=2048)
    format: str = Field(max_length=16)  # generic | slack
    models: list[str] = Field(sa_column=Column(JSON, nullable=False))  # empty: every model
    categories: list[str] = Field(sa_column=Column(JSON, nullable=False))
    subcategories: list[str] = Field(sa_column=Column(JSON, nullable=False))
    min_severity: str = Field(max_length=16)
    # incidents: opened, escalated and resolved incidents; findings: every finding
    alert_on: str = Field(default="incidents", max_length=16)
    secret: str = Field(max_length=128)
    created_by: str = Field(max_length=128)
    created_at: datetime = _utc_column()
    removed_by: str | None = Field(default=None, max_length=128)
    removed_at: datetime | None = _utc_column(nullable=True, index=True)


class WebhookDelivery(SQLModel, table=True):
    """The outbox: one row per (finding, matching subscription), written with the finding."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_subscription", "subscription_id", "status"),
    )

    delivery_id: str = Field(primary_key=True, max_length=36)  # uuid5(finding_id, subscription_id)
    subscription_id: int = Field(index=False)
    # the finding alerted on; for an incident alert, the finding that caused the state change
    finding_id: str = Field(max_length=36, index=True)
    incident_event_id: int | None = Field(default=None)  # set for an incident alert
    status: str = Field(max_length=16)  # pending | delivered | dead | cancelled
    attempts: int = 0
    next_attempt_at: datetime = _utc_column()
    lease_until: datetime | None = _utc_column(nullable=True)
    lease_owner: str | None = Field(default=None, max_length=64)
    last_status_code: int | None = None
    last_error: str | None = None
    created_at: datetime = _utc_column()
    delivered_at: datetime | None = _utc_column(nullable=True)


class IncidentRecord(SQLModel, table=True):
    """Findings of one rule × model (× the rule's key) while the condition lasts
    (audit/incidents/): its summary, kept current with each batch. Its history is
    ``incident_events``, each chained; its findings are ``incident_findings``. Times are event
    time, except ``report_deadline`` (from when riskwatch became aware)."""

    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_group_status", "group_key", "status"),
        Index("ix_incidents_live_quiet", "live", "quiet_until"),
        Index("ix_incidents_model_seen", "model_id", "last_seen"),
    )

    incident_id: str = Field(primary_key=True, max_length=36)
    group_key: str = Field(max_length=512)  # rule|model|key values
    rule_id: str = Field(max_length=64)
    model_id: str = Field(max_length=256)
    key: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))  # the rule's key values
    category: str = Field(max_length=16, index=True)
    subcategory: str = Field(max_length=32)
    title: str
    # pending (below its threshold) | open | acknowledged | resolved | false_positive | lapsed
    status: str = Field(max_length=16, index=True)
    live: bool = True  # pending, open or acknowledged: findings still join it
    resolution: str | None = Field(default=None, max_length=16)  # recovered | resolved | …
    severity: str = Field(max_length=16)  # the worst of its findings
    escalated: bool = False
    count: int = 0
    first_seen: datetime = _utc_column()
    last_seen: datetime = _utc_column()
    opened_at: datetime | None = _utc_column(nullable=True)
    closed_at: datetime | None = _utc_column(nullable=True)
    quiet_until: datetime = _utc_column()
    threshold: int = 1
    window_s: int = 600
    quiet_s: int = 1800
    escalate_at: str | None = Field(default=None, max_length=16)
    serious: str | None = Field(default=None, max_length=16)  # Art. 73 kind (high-risk only)
    report_deadline: datetime | None = _utc_column(nullable=True)
    last_finding_id: str = Field(max_length=36)
    updated_at: datetime = _utc_column()


class IncidentFinding(SQLModel, table=True):
    """Which incident a finding belongs to (each finding joins one)."""

    __tablename__ = "incident_findings"
    __table_args__ = (Index("ix_incident_findings_incident", "incident_id", "at"),)

    finding_id: str = Field(primary_key=True, max_length=36)
    incident_id: str = Field(max_length=36)
    at: datetime = _utc_column()  # event time of the finding


class IncidentEvent(SQLModel, table=True):
    """A state change of an incident, chained (kind ``incident``, subject ``id``): opened,
    escalated, acknowledged, resolved, recovered, false_positive, lapsed; with who and why."""

    __tablename__ = "incident_events"
    __table_args__ = (Index("ix_incident_events_incident", "incident_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: str = Field(max_length=36)
    event: str = Field(max_length=16)
    actor: str = Field(max_length=128)
    reason: str
    severity: str = Field(max_length=16)
    count: int
    finding_id: str | None = Field(default=None, max_length=36)  # the finding that caused it
    at: datetime = _utc_column(index=True)
