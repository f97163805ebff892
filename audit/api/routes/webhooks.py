"""Alert webhooks (admin): subscriptions, their deliveries, and retrying dead ones."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from audit.api.deps import MAX_ROW_ID, AdminToken, EngineDep, RowId, SettingsDep
from audit.api.schemas.webhooks import (
    DeliveriesPublic,
    DeliveryPublic,
    RetryResult,
    WebhookCreate,
    WebhookCreated,
    WebhookPublic,
    WebhooksPublic,
)
from audit.webhooks import outbox, ssrf
from audit.webhooks.outbox import DeliveryStatus
from audit.webhooks.spec import Filters, NewSubscription, SubscriptionError
from audit.webhooks.subscriptions import (
    SubscriptionNotFound,
    create_subscription,
    get_subscription,
    list_subscriptions,
    remove_subscription,
)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown subscription or delivery"}
}


@router.get("", response_model=WebhooksPublic)
def read_webhooks(
    engine: EngineDep, _token: AdminToken, include_removed: bool = False
) -> dict[str, Any]:
    items = [s.to_dict() for s in list_subscriptions(engine, include_removed=include_removed)]
    return {"items": items, "count": len(items)}


@router.post(
    "",
    response_model=WebhookCreated,
    status_code=status.HTTP_201_CREATED,
    responses={
        422: {
            "description": "Invalid URL, a host that resolves to an internal address, "
            "or filters that can never match"
        }
    },
)
def new_webhook(
    body: WebhookCreate, engine: EngineDep, token: AdminToken, settings: SettingsDep
) -> dict[str, Any]:
    """Create a subscription; the response carries its signing secret, shown only this once.
    Creation is chained (actor: the token's name). The URL's host is resolved: an internal
    address (loopback, private, link-local, metadata ...) is refused unless
    RISKWATCH_WEBHOOK_ALLOW_CIDRS allows it."""
    try:
        spec = NewSubscription(
            url=body.url,
            name=body.name,
            format=body.format,
            alert_on=body.alert_on,
            filters=Filters.of(
                models=body.models,
                categories=body.categories,
                subcategories=body.subcategories,
                min_severity=body.min_severity,
            ),
        )
        ssrf.check_url(spec.url, ssrf.parse_allow_cidrs(settings.webhook_allow_cidrs))
        sub, secret = create_subscription(engine, spec, actor=token.name)
    except SubscriptionError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return {**sub.to_dict(), "secret": secret}


@router.get("/deliveries", response_model=DeliveriesPublic)
def read_deliveries(
    engine: EngineDep,
    _token: AdminToken,
    status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    subscription_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    finding_id: Annotated[str | None, Query(max_length=36)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> dict[str, Any]:
    """Deliveries, newest first; ``status=dead`` lists those that gave up."""
    items = outbox.list_deliveries(
        engine,
        status=status_,
        subscription_id=subscription_id,
        finding_id=finding_id,
        limit=limit,
        offset=offset,
    )
    return {
        "items": items,
        "counts": outbox.status_counts(engine, subscription_id=subscription_id),
        "limit": limit,
        "offset": offset,
    }


@router.post("/deliveries/retry", response_model=RetryResult)
def retry_dead_deliveries(
    engine: EngineDep,
    _token: AdminToken,
    subscription_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> dict[str, Any]:
    """Send every dead delivery (of one subscription, if given) again, with a fresh budget."""
    return {"retried": outbox.retry_dead(engine, subscription_id=subscription_id)}


@router.get("/deliveries/{delivery_id}", response_model=DeliveryPublic, responses=NOT_FOUND)
def read_delivery(delivery_id: str, engine: EngineDep, _token: AdminToken) -> dict[str, Any]:
    found = outbox.get_delivery(engine, delivery_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no delivery {delivery_id}")
    return found


@router.post(
    "/deliveries/{delivery_id}/retry",
    response_model=DeliveryPublic,
    responses={**NOT_FOUND, 409: {"description": "The delivery is not dead"}},
)
def retry_delivery(delivery_id: str, engine: EngineDep, _token: AdminToken) -> dict[str, Any]:
    if outbox.retry_dead(engine, delivery_ids=[delivery_id]) == 0:
        found = outbox.get_delivery(engine, delivery_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no delivery {delivery_id}")
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"delivery {delivery_id} is {found['status']}, not dead"
            + (" (or its subscription was removed)" if found["status"] == "dead" else ""),
        )
    found = outbox.get_delivery(engine, delivery_id)
    assert found is not None
    return found


@router.get("/{subscription_id}", response_model=WebhookPublic, responses=NOT_FOUND)
def read_webhook(subscription_id: RowId, engine: EngineDep, _token: AdminToken) -> dict[str, Any]:
    sub = get_subscription(engine, subscription_id)
    if sub is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no webhook subscription {subscription_id}")
    return sub.to_dict()


@router.delete("/{subscription_id}", response_model=WebhookPublic, responses=NOT_FOUND)
def delete_webhook(subscription_id: RowId, engine: EngineDep, token: AdminToken) -> dict[str, Any]:
    """Remove a subscription (kept, marked removed; chained); its pending deliveries are
    cancelled. Removing it again changes nothing."""
    try:
        return remove_subscription(engine, subscription_id, actor=token.name).to_dict()
    except SubscriptionNotFound:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no webhook subscription {subscription_id}"
        ) from None
