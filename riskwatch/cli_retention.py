"""Removing stored data: ``riskwatch audit purge`` (the event retention period,
RISKWATCH_EVENT_RETENTION_DAYS), ``audit erase`` (GDPR Art. 17, by context.user_ref) and
``audit removals`` (the record of both)."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from core.settings import get_settings
from riskwatch.cli_common import fail, store_engine


@click.command("purge")
@click.option("--by", required=True, help="Who runs the purge (recorded in the audit chain).")
@click.option(
    "--days",
    type=click.IntRange(min=0),
    default=None,
    help="Retention in days; default RISKWATCH_EVENT_RETENTION_DAYS (0: keep forever).",
)
def purge(by: str, days: int | None) -> None:
    """Delete events older than the retention period; findings are kept; the purge is chained."""
    from audit.removal.retention import purge_events
    from riskwatch.output import to_json

    settings = get_settings()
    engine = store_engine()
    try:
        result = purge_events(
            engine,
            settings.event_retention_days if days is None else days,
            by=by,
            now=datetime.now(UTC),
        )
    except ValueError as exc:
        fail(str(exc))
    click.echo(to_json(result.to_dict()))


@click.command("erase")
@click.option("--user-ref", required=True, help="The data subject's context.user_ref.")
@click.option("--reason", required=True, help="The request this answers (e.g. its ticket).")
@click.option("--by", required=True, help="Who runs the erasure (recorded in the audit chain).")
def erase(user_ref: str, reason: str, by: str) -> None:
    """Erase one data subject's event content (GDPR Art. 17); the erasure is chained."""
    from audit.keys import KeyFileError, keys_from_settings
    from audit.removal.erasure import erase_subject
    from riskwatch.output import to_json

    try:
        ring = keys_from_settings()  # matches every key of the file and the legacy hash
    except KeyFileError as exc:
        fail(str(exc))
    engine = store_engine()
    try:
        result = erase_subject(
            engine, user_ref, reason=reason, by=by, now=datetime.now(UTC), keys=ring
        )
    except ValueError as exc:
        fail(str(exc))
    click.echo(to_json(result.to_dict()))


@click.command("removals")
@click.option("--kind", type=click.Choice(["erasure", "retention"]), help="Only this kind.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
def removals(kind: str | None, limit: int, fmt: str) -> None:
    """Erasures and retention purges, newest first."""
    from audit.removal.records import LIST_COLUMNS, list_removals
    from riskwatch.output import render

    engine = store_engine()
    rows = list_removals(engine, kind=kind, limit=limit)
    click.echo(render(rows, fmt, columns=LIST_COLUMNS))
