"""`riskwatch webhooks …` (subscriptions, deliveries) and `riskwatch alerts run` (dispatcher)."""

from __future__ import annotations

import getpass
import signal
import threading
from typing import TYPE_CHECKING, Any

import click

from core.settings import get_settings
from riskwatch.cli_common import fail, store_engine

if TYPE_CHECKING:
    pass

SEVERITIES = ["info", "low", "medium", "high", "critical"]
CATEGORIES = ["technical", "commercial", "legal"]
DELIVERY_STATUSES = ["pending", "delivered", "dead", "cancelled"]
SUBSCRIPTION_COLUMNS = (
    "id",
    "name",
    "format",
    "url",
    "models",
    "categories",
    "subcategories",
    "min_severity",
    "active",
    "created_by",
    "created_at",
)
DELIVERY_COLUMNS = (
    "delivery_id",
    "subscription_id",
    "finding_id",
    "status",
    "attempts",
    "next_attempt_at",
    "last_status_code",
    "last_error",
)


def _default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name in some containers
        return "cli"


@click.group()
def webhooks() -> None:
    """Alert webhook subscriptions and their deliveries (RISKWATCH_DATABASE_URL)."""


@webhooks.command("add")
@click.option("--url", required=True, help="http(s) URL that receives the signed POSTs.")
@click.option("--name", help="Default: the URL's host.")
@click.option(
    "--format", "fmt", type=click.Choice(["generic", "slack"]), default="generic", show_default=True
)
@click.option("--model", "models", multiple=True, help="Model id (repeatable); none: every model.")
@click.option(
    "--category",
    "categories",
    multiple=True,
    type=click.Choice(CATEGORIES),
    help="Repeatable; none: any category.",
)
@click.option(
    "--subcategory",
    "subcategories",
    multiple=True,
    help="Repeatable, e.g. data_privacy; none: any subcategory.",
)
@click.option("--min-severity", type=click.Choice(SEVERITIES), default="info", show_default=True)
@click.option(
    "--alert-on",
    type=click.Choice(["incidents", "findings"]),
    default="incidents",
    show_default=True,
    help="incidents: an incident opened, escalated or resolved; findings: every finding.",
)
@click.option("--actor", default=None, help="Who adds it (chained). Default: cli:<login name>.")
def webhooks_add(
    url: str,
    name: str | None,
    fmt: str,
    models: tuple[str, ...],
    categories: tuple[str, ...],
    subcategories: tuple[str, ...],
    min_severity: str,
    alert_on: str,
    actor: str | None,
) -> None:
    """Subscribe a URL to incidents (or every finding); prints the signing secret once."""
    from audit.webhooks import ssrf
    from audit.webhooks.spec import Filters, NewSubscription, SubscriptionError
    from audit.webhooks.subscriptions import create_subscription
    from core.settings import get_settings

    try:
        spec = NewSubscription(
            url=url,
            name=name,
            format=fmt,  # type: ignore[arg-type]
            alert_on=alert_on,  # type: ignore[arg-type]
            filters=Filters.of(
                models=models,
                categories=categories,
                subcategories=subcategories,
                min_severity=min_severity,
            ),
        )
        # resolved and checked now; the dispatcher checks again at every delivery
        ssrf.check_url(spec.url, ssrf.parse_allow_cidrs(get_settings().webhook_allow_cidrs))
        sub, secret = create_subscription(store_engine(), spec, actor=actor or _default_actor())
    except SubscriptionError as exc:
        fail(str(exc))
    click.echo(
        f"webhook {sub.id} ({sub.name}, {sub.format.value}); its signing secret is shown only now:",
        err=True,
    )
    click.echo(secret)


@webhooks.command("list")
@click.option("--all", "include_removed", is_flag=True, help="Include removed subscriptions.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def webhooks_list(include_removed: bool, fmt: str) -> None:
    """List subscriptions (never their secrets)."""
    from audit.webhooks.subscriptions import list_subscriptions
    from riskwatch.output import to_json, to_table

    rows = [
        s.to_dict() for s in list_subscriptions(store_engine(), include_removed=include_removed)
    ]
    click.echo(to_json(rows) if fmt == "json" else to_table(rows, SUBSCRIPTION_COLUMNS))


@webhooks.command("remove")
@click.argument("subscription_id", type=int)
@click.option("--actor", default=None, help="Who removes it (chained). Default: cli:<login name>.")
def webhooks_remove(subscription_id: int, actor: str | None) -> None:
    """Remove a subscription; its pending deliveries are cancelled."""
    from audit.webhooks.subscriptions import SubscriptionNotFound, remove_subscription

    try:
        sub = remove_subscription(store_engine(), subscription_id, actor=actor or _default_actor())
    except SubscriptionNotFound:
        fail(f"no webhook subscription {subscription_id}", code=1)
    click.echo(f"webhook {sub.id} ({sub.name}) removed at {sub.removed_at} by {sub.removed_by}")


@webhooks.command("deliveries")
@click.option("--status", type=click.Choice(DELIVERY_STATUSES))
@click.option("--subscription", "subscription_id", type=int)
@click.option("--finding", "finding_id")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100_000))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
def webhooks_deliveries(
    status: str | None, subscription_id: int | None, finding_id: str | None, limit: int, fmt: str
) -> None:
    """List deliveries, newest first; --status dead shows those that gave up."""
    from audit.webhooks.outbox import DELIVERY_COLUMNS as ALL_COLUMNS
    from audit.webhooks.outbox import list_deliveries
    from riskwatch.output import render

    rows = list_deliveries(
        store_engine(),
        status=status,
        subscription_id=subscription_id,
        finding_id=finding_id,
        limit=limit,
    )
    click.echo(render(rows, fmt, columns=ALL_COLUMNS, table_columns=DELIVERY_COLUMNS))


@webhooks.command("retry")
@click.argument("delivery_ids", nargs=-1)
@click.option("--subscription", "subscription_id", type=int, help="Only this subscription's.")
@click.option("--all-dead", is_flag=True, help="Every dead delivery (of --subscription, if given).")
def webhooks_retry(
    delivery_ids: tuple[str, ...], subscription_id: int | None, all_dead: bool
) -> None:
    """Send dead deliveries again, with a fresh attempt budget."""
    from audit.webhooks.outbox import retry_dead

    if bool(delivery_ids) == all_dead:
        fail("give delivery ids or --all-dead")
    n = retry_dead(
        store_engine(), delivery_ids=list(delivery_ids) or None, subscription_id=subscription_id
    )
    click.echo(f"{n} dead deliveries pending again")
    if delivery_ids and n < len(set(delivery_ids)):
        fail(
            f"{len(set(delivery_ids)) - n} of the given deliveries are not dead (or unknown, or "
            "their subscription was removed)",
            code=1,
        )


# --- the dispatcher ----------------------------------------------------------------------------


@click.group()
def alerts() -> None:
    """Deliver alert webhooks from the outbox."""


@alerts.command("run")
@click.option("--once", is_flag=True, help="Send what is due now, print a JSON tally, and exit.")
def alerts_run(once: bool) -> None:
    """Run the webhook dispatcher in the foreground (beside workers started with
    RISKWATCH_WEBHOOK_DISPATCH=false, or as extra capacity: dispatchers share the outbox safely)."""
    from audit.webhooks.dispatcher import Dispatcher, DispatcherConfig
    from riskwatch.output import to_json

    dispatcher = Dispatcher(store_engine(), DispatcherConfig.from_settings(get_settings()))
    if once:
        tally = dispatcher.drain()
        dispatcher.stop()
        click.echo(to_json(_tally(tally)))
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    click.echo(f"webhook dispatcher {dispatcher.owner} running; Ctrl-C stops it", err=True)
    dispatcher.run_forever(stop)
    dispatcher.stop()
    click.echo(to_json(_tally(dispatcher.totals)))


def _tally(tally: Any) -> dict[str, int]:
    return {
        "delivered": tally.delivered,
        "retried": tally.retried,
        "dead": tally.dead,
        "lost_lease": tally.lost_lease,
    }
