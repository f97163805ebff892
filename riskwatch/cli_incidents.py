"""`riskwatch audit incidents` and `riskwatch audit incident show|ack|resolve|false-positive`."""

from __future__ import annotations

import click

from riskwatch.cli_common import fail, store_engine

INCIDENT_COLUMNS = (
    "incident_id",
    "status",
    "resolution",
    "severity",
    "escalated",
    "category",
    "subcategory",
    "model_id",
    "rule_id",
    "key",
    "title",
    "count",
    "first_seen",
    "last_seen",
    "opened_at",
    "closed_at",
    "serious",
    "report_deadline",
)
TABLE_COLUMNS = (
    "incident_id",
    "status",
    "severity",
    "subcategory",
    "model_id",
    "rule_id",
    "count",
    "last_seen",
    "title",
)
STATUSES = ["open", "acknowledged", "resolved", "false_positive"]


@click.command("incidents")
@click.option("--status", type=click.Choice(STATUSES))
@click.option("--model", help="Model id.")
@click.option("--category", type=click.Choice(["technical", "commercial", "legal"]))
@click.option("--subcategory", help="e.g. model_reliability, data_privacy, cost_control.")
@click.option("--since", help="Last seen in the last 30m, 24h, 7d, or since an RFC 3339 time.")
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--offset", default=0, show_default=True, type=click.IntRange(min=0))
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
    show_default=True,
)  # fmt: skip
def incidents(
    status: str | None,
    model: str | None,
    category: str | None,
    subcategory: str | None,
    since: str | None,
    limit: int,
    offset: int,
    fmt: str,
) -> None:
    """List incidents, the latest seen first (the same filters as GET /incidents)."""
    from audit.incidents.queries import IncidentFilter, list_incidents
    from audit.queries import parse_since
    from core.taxonomy import Subcategory
    from riskwatch.output import render

    if subcategory is not None and subcategory not in {s.value for s in Subcategory}:
        known = ", ".join(s.value for s in Subcategory)
        fail(f"unknown subcategory {subcategory!r}; one of: {known}")
    try:
        since_at = parse_since(since) if since else None
    except ValueError as exc:
        fail(str(exc))
    flt = IncidentFilter(
        status=status,
        model=model,
        category=category,
        subcategory=subcategory,
        since=since_at,
        limit=limit,
        offset=offset,
    )
    rows, _ = list_incidents(store_engine(), flt)
    click.echo(render(rows, fmt, columns=INCIDENT_COLUMNS, table_columns=TABLE_COLUMNS))


@click.group("incident")
def incident() -> None:
    """One incident: show it, or acknowledge, resolve or mark it a false positive."""


@incident.command("show")
@click.argument("incident_id")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def incident_show(incident_id: str, fmt: str) -> None:
    """The incident, its state changes (who, why, when) and its findings."""
    from audit.incidents.queries import get_incident
    from riskwatch.output import to_json, to_table

    found = get_incident(store_engine(), incident_id)
    if found is None:
        fail(f"no incident {incident_id}", code=1)
    if fmt == "json":
        click.echo(to_json(found))
        return
    lines = [f"{k}: {found[k]}" for k in INCIDENT_COLUMNS if found.get(k) is not None]
    lines += ["", "state changes:"]
    lines.append(to_table(found["events"], ("at", "event", "actor", "severity", "count", "reason")))
    lines += ["", f"findings ({len(found['findings'])} latest):"]
    lines.append(to_table(found["findings"], ("detected_at", "severity", "event_id", "title")))
    click.echo("\n".join(lines))


def _action_command(name: str, action: str, help_text: str) -> None:
    @incident.command(name, help=help_text)
    @click.argument("incident_id")
    @click.option("--reason", required=True)
    @click.option("--actor", required=True, help="Who takes the action (recorded and chained).")
    def command(incident_id: str, reason: str, actor: str) -> None:
        from audit.incidents.lifecycle import IncidentNotFound, InvalidIncidentTransition, act

        try:
            result = act(store_engine(), incident_id, action, actor=actor, reason=reason)
        except IncidentNotFound:
            fail(f"no incident {incident_id}", code=1)
        except (InvalidIncidentTransition, ValueError) as exc:
            fail(str(exc), code=1)
        click.echo(f"{incident_id} {result['status']} (state change {result['event']['id']})")


_action_command("ack", "acknowledge", "Acknowledge an open incident.")
_action_command("resolve", "resolve", "Resolve an open or acknowledged incident.")
_action_command("false-positive", "false_positive", "Close an incident as a false positive.")
