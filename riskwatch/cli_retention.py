"""``riskwatch audit purge``: apply the event retention period (RISKWATCH_EVENT_RETENTION_DAYS)."""

from __future__ import annotations

from datetime import datetime, timezone

import click

from riskwatch.cli_common import fail
from riskwatch.settings import get_settings


@click.command("purge")
@click.option("--by", required=True, help="Who runs the purge (recorded in the audit chain).")
@click.option("--days", type=click.IntRange(min=0), default=None,
              help="Retention in days; default RISKWATCH_EVENT_RETENTION_DAYS (0: keep forever).")
def purge(by: str, days: int | None) -> None:
    """Delete events older than the retention period; findings are kept; the purge is chained."""
    from audit.db import create_schema, make_engine
    from audit.retention import purge_events
    from riskwatch.output import to_json

    settings = get_settings()
    engine = make_engine(settings.database_url)
    create_schema(engine)
    try:
        result = purge_events(engine, settings.event_retention_days if days is None else days,
                              by=by, now=datetime.now(timezone.utc))
    except ValueError as exc:
        fail(str(exc))
    click.echo(to_json(result.to_dict()))
