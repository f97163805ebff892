"""Request and response models of the audit API (the SQLModel XBase / XPublic / XsPublic family).

The tables stay in audit/models.py; these are their public shapes. Times are returned in UTC
with an explicit offset (SQLite gives them back naive).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, StringConstraints
from sqlmodel import Field, SQLModel

from audit.lifecycle import Action, Status
from audit.tokens import Role
from core.events import NAME, NO_NUL
from core.taxonomy import Category, Severity, Subcategory


def _aware(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_aware)]
# Request texts become database text, which on PostgreSQL cannot hold NUL: names carry no control
# characters at all (they end up in logs), free texts no NUL; anything else is a 422.
NOT_BLANK_NO_NUL = r"^[^\x00]*[^\s\x00][^\x00]*$"
NameText = Annotated[str, StringConstraints(pattern=NAME)]
FreeText = Annotated[str, StringConstraints(pattern=NO_NUL)]
Statement = Annotated[str, StringConstraints(pattern=NOT_BLANK_NO_NUL)]


class KafkaCoordinates(SQLModel):
    topic: str | None
    partition: int | None
    offset: int | None
    timestamp_ms: int | None = None


class FindingBase(SQLModel):
    finding_id: str
    detected_at: UtcDatetime
    severity: Severity
    category: Category
    subcategory: Subcategory
    model_id: str
    model_version: str | None
    detector: str
    rule_id: str
    title: str
    event_id: str | None
    regulation_refs: list[str]
    evidence: dict[str, Any]
    remediation: str
    pack: str
    pack_version: str
    source_topic: str | None
    source_partition: int | None
    source_offset: int | None


class FindingPublic(FindingBase):
    status: Status


class FindingsPublic(SQLModel):
    items: list[FindingPublic]
    count: int = Field(description="Findings matching the filters, over all pages.")
    limit: int
    offset: int
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page.")


class RulePublic(SQLModel):
    id: str
    pack: str
    pack_version: str


class EventPublic(SQLModel):
    event_id: str
    timestamp: UtcDatetime
    model_id: str
    model_version: str
    payload: dict[str, Any] = Field(description="The event as stored: texts redacted or hashed.")
    stored_at: UtcDatetime
    kafka: KafkaCoordinates


class ActionBase(SQLModel):
    reason: FreeText = Field(min_length=1, max_length=2000)


class ActionCreate(ActionBase):
    pass


class ActionPublic(ActionBase):
    id: int
    finding_id: str
    action: Action
    actor: str
    at: UtcDatetime


class ChainLinkPublic(SQLModel):
    seq: int
    entry_hash: str
    content_hash: str | None = None
    prev_hash: str | None = None


class ActionResult(ActionPublic):
    status: Status
    chain: ChainLinkPublic


class FindingTrailPublic(FindingPublic):
    rule: RulePublic
    kafka: KafkaCoordinates
    event: EventPublic | None
    lifecycle: list[ActionPublic]
    chain: ChainLinkPublic | None


class GroupCount(SQLModel):
    key: str
    count: int


class SummaryPublic(SQLModel):
    group_by: str
    bucket: str | None
    since: UtcDatetime | None
    until: UtcDatetime | None
    total: int
    groups: list[GroupCount]


class TokenBase(SQLModel):
    name: NameText | None = Field(None, min_length=1, max_length=128)
    role: Role


class TokenCreate(TokenBase):
    pass


class TokenPublic(TokenBase):
    id: int
    name: str
    created_at: UtcDatetime
    revoked_at: UtcDatetime | None


class TokenCreated(TokenPublic):
    token: str = Field(description="Shown once; only its SHA-256 is stored.")


class TokensPublic(SQLModel):
    items: list[TokenPublic]
    count: int


class ChainReportPublic(SQLModel):
    ok: bool
    entries: int
    head: ChainLinkPublic
    broken: dict[str, Any] | None


SortOrder = Literal["detected_at", "-detected_at", "severity", "-severity"]


class ErasureCreate(SQLModel):
    user_ref: NameText = Field(
        min_length=1, max_length=256, description="The data subject's context.user_ref."
    )
    reason: Statement = Field(
        min_length=1, max_length=2000, description="The request this answers (e.g. its ticket)."
    )


class ErasurePublic(SQLModel):
    removal_id: int
    chain_seq: int
    user_ref_hash: str
    events: int = Field(description="Events whose content was removed.")
    findings: int = Field(description="Findings whose evidence was replaced by its hash.")
    findings_kept: int = Field(
        description="Findings chained with inline evidence, left as they are."
    )
    feedback: int = Field(description="Feedback labels deleted.")
    by: str
    reason: str
    at: str


class RemovalPublic(SQLModel):
    id: int
    kind: Literal["erasure", "retention"]
    at: UtcDatetime
    requested_by: str
    reason: str
    user_ref_hash: str | None
    cutoff: UtcDatetime | None
    events: int
    findings: int
    feedback: int


class RemovalDetail(RemovalPublic):
    finding_ids: list[str]


class RemovalsPublic(SQLModel):
    items: list[RemovalPublic]
    count: int
