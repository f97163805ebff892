"""Request and response models of /webhooks."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator
from sqlmodel import Field, SQLModel

from audit.api.schemas.fields import NameText, UtcDatetime
from audit.webhooks.outbox import DeliveryStatus
from audit.webhooks.spec import AlertOn, WebhookFormat, validate_url
from core.taxonomy import Category, Severity, Subcategory

WebhookUrl = Annotated[NameText, Field(min_length=1, max_length=2048), AfterValidator(validate_url)]


class WebhookBase(SQLModel):
    url: WebhookUrl = Field(description="http(s) URL that receives the signed POSTs.")
    format: WebhookFormat = Field(
        WebhookFormat.GENERIC, description="generic: the finding as JSON; slack: text + blocks."
    )
    models: list[Annotated[NameText, Field(min_length=1, max_length=256)]] = Field(
        default_factory=list, max_length=100, description="Model ids; empty: every model."
    )
    categories: list[Category] = Field(default_factory=list, description="Empty: any category.")
    subcategories: list[Subcategory] = Field(
        default_factory=list, description="Empty: any subcategory."
    )
    min_severity: Severity = Field(Severity.INFO, description="This severity or higher.")
    alert_on: AlertOn = Field(
        AlertOn.INCIDENTS,
        description="incidents: an incident opened, escalated or resolved; findings: every "
        "finding.",
    )


class WebhookCreate(WebhookBase):
    name: NameText | None = Field(
        None, min_length=1, max_length=128, description="Default: the URL's host."
    )


class WebhookPublic(WebhookBase):
    id: int
    name: str
    active: bool
    created_by: str
    created_at: UtcDatetime
    removed_by: str | None
    removed_at: UtcDatetime | None


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="Signs every delivery (HMAC-SHA256). Shown only now.")


class WebhooksPublic(SQLModel):
    items: list[WebhookPublic]
    count: int


class DeliveryPublic(SQLModel):
    delivery_id: str
    subscription_id: int
    finding_id: str
    incident_event_id: int | None = None
    status: DeliveryStatus
    attempts: int
    next_attempt_at: UtcDatetime
    last_status_code: int | None
    last_error: str | None
    created_at: UtcDatetime
    delivered_at: UtcDatetime | None


class DeliveriesPublic(SQLModel):
    items: list[DeliveryPublic]
    counts: dict[str, int] = Field(
        description="Deliveries per status (for the subscription filter, if given)."
    )
    limit: int
    offset: int


class RetryResult(SQLModel):
    retried: int = Field(description="Dead deliveries made pending again.")
