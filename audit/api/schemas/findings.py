"""Request and response models of /findings (the SQLModel XBase / XPublic / XsPublic family).

The tables stay in audit/models.py; these are their public shapes. Times are returned in UTC
with an explicit offset (SQLite gives them back naive).
"""

from __future__ import annotations

from typing import Any, Literal

from sqlmodel import Field, SQLModel

from audit.api.schemas.chain import ChainLinkPublic
from audit.api.schemas.fields import FreeText, UtcDatetime
from audit.lifecycle import Action, Status
from core.taxonomy import Category, Severity, Subcategory


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


class ActionResult(ActionPublic):
    status: Status
    chain: ChainLinkPublic


class FindingTrailPublic(FindingPublic):
    rule: RulePublic
    kafka: KafkaCoordinates
    event: EventPublic | None
    lifecycle: list[ActionPublic]
    chain: ChainLinkPublic | None


SortOrder = Literal["detected_at", "-detected_at", "severity", "-severity"]
