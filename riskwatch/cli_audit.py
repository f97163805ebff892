"""`riskwatch audit …` and `riskwatch tokens …`: the audit store from the command line."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from core.settings import get_settings
from riskwatch.cli_common import fail, store_engine

if TYPE_CHECKING:
    pass

TABLE_COLUMNS = (
    "detected_at",
    "severity",
    "status",
    "category",
    "subcategory",
    "model_id",
    "rule_id",
    "title",
    "event_id",
)
SEVERITIES = ["info", "low", "medium", "high", "critical"]
STATUSES = ["open", "acknowledged", "resolved", "false_positive"]


def _time(option: str, value: str | None) -> datetime | None:
    from audit.queries import parse_since

    try:
        return parse_since(value) if value else None
    except ValueError as exc:
        fail(str(exc).replace("--since", option))


@click.group()
def audit() -> None:
    """Query the audit store (RISKWATCH_DATABASE_URL)."""


@audit.command("findings")
@click.option("--model", help="Model id.")
@click.option("--version", "model_version", help="Model version.")
@click.option("--category", type=click.Choice(["technical", "commercial", "legal"]))
@click.option("--subcategory", help="e.g. model_reliability, data_privacy, cost_control.")
@click.option("--severity", type=click.Choice(SEVERITIES))
@click.option("--min-severity", type=click.Choice(SEVERITIES), help="This severity or higher.")
@click.option("--detector", help="Detector name, e.g. usage_slo.")
@click.option("--status", type=click.Choice(STATUSES))
@click.option("--regulation", help="Substring of a regulation reference, e.g. 'Art. 15'.")
@click.option("--since", help="30m, 24h, 7d, or an RFC 3339 time (inclusive).")
@click.option("--until", help="30m, 24h, 7d (ago), or an RFC 3339 time (exclusive).")
@click.option(
    "--sort",
    type=click.Choice(["-detected_at", "detected_at", "-severity", "severity"]),
    default="-detected_at",
    show_default=True,
)
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(min=1))
@click.option("--offset", default=0, show_default=True, type=click.IntRange(min=0))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
def audit_findings(
    model: str | None,
    model_version: str | None,
    category: str | None,
    subcategory: str | None,
    severity: str | None,
    min_severity: str | None,
    detector: str | None,
    status: str | None,
    regulation: str | None,
    since: str | None,
    until: str | None,
    sort: str,
    limit: int,
    offset: int,
    fmt: str,
) -> None:
    """List findings, newest first (the same filters as GET /findings)."""
    from audit.queries import FINDING_COLUMNS, FindingFilter, find_findings
    from core.taxonomy import Subcategory
    from riskwatch.output import render

    if subcategory is not None and subcategory not in {s.value for s in Subcategory}:
        known = ", ".join(s.value for s in Subcategory)
        fail(f"unknown subcategory {subcategory!r}; one of: {known}")
    flt = FindingFilter(
        model=model,
        version=model_version,
        category=category,
        subcategory=subcategory,
        severity=severity,
        min_severity=min_severity,
        detector=detector,
        status=status,
        regulation=regulation,
        since=_time("--since", since),
        until=_time("--until", until),
        sort=sort,
        limit=limit,
        offset=offset,
    )
    rows = find_findings(store_engine(), flt)
    click.echo(render(rows, fmt, columns=(*FINDING_COLUMNS, "status"), table_columns=TABLE_COLUMNS))


@audit.command("summary")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def audit_summary(fmt: str) -> None:
    """Events stored, findings by category/subcategory/severity, dead letters by reason."""
    from audit.queries import summary
    from riskwatch.output import summary_table, to_json

    data = summary(store_engine())
    click.echo(to_json(data) if fmt == "json" else summary_table(data))


def _show_text(trail: dict[str, Any]) -> str:
    from riskwatch.output import to_json

    lines = [
        f"{k:<14} {trail[k]}"
        for k in (
            "finding_id",
            "detected_at",
            "status",
            "severity",
            "category",
            "subcategory",
            "model_id",
            "model_version",
            "detector",
            "title",
            "event_id",
        )
    ]
    lines += [
        f"{'rule':<14} {trail['rule']['id']} ({trail['rule']['pack']} "
        f"{trail['rule']['pack_version']})",
        f"{'kafka':<14} {trail['kafka']['topic']}/{trail['kafka']['partition']}/"
        f"{trail['kafka']['offset']}",
        f"{'regulation':<14} {'; '.join(trail['regulation_refs']) or '-'}",
        f"{'chain':<14} "
        + (
            f"seq {trail['chain']['seq']} {trail['chain']['entry_hash']}"
            if trail["chain"]
            else "(not chained)"
        ),
        "evidence:",
        to_json(trail["evidence"]),
        "lifecycle:",
    ]
    lines += [
        f"  {a['at']} {a['action']} by {a['actor']}: {a['reason']}" for a in trail["lifecycle"]
    ] or ["  (none)"]
    if trail["event"] is not None:
        lines += [
            "event (as stored; texts redacted and sealed: `riskwatch audit reveal`):",
            to_json(trail["event"]["payload"]),
        ]
    return "\n".join(lines)


@audit.command("show")
@click.argument("finding_id")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def audit_show(finding_id: str, fmt: str) -> None:
    """One finding with its trail: event, rule, Kafka coordinates, lifecycle, chain link."""
    from audit.trail import finding_trail
    from riskwatch.output import to_json

    trail = finding_trail(store_engine(), finding_id)
    if trail is None:
        fail(f"no finding {finding_id}", code=1)
    click.echo(to_json(trail) if fmt == "json" else _show_text(trail))


@audit.command("reveal")
@click.argument("event_id")
@click.option("--by", "actor", required=True, help="Who reads the text (recorded and chained).")
@click.option("--reason", required=True, help="Why the text is read (recorded and chained).")
def audit_reveal(event_id: str, actor: str, reason: str) -> None:
    """An event's sealed texts and quoted evidence in the clear (JSON); the reading is recorded
    and chained (who, which event, when, why). Needs the key file."""
    from datetime import UTC

    from audit.keys import KeyFileError, keys_from_settings
    from audit.sealing import reveal_event
    from riskwatch.output import to_json

    try:
        opened = reveal_event(
            store_engine(),
            keys_from_settings(),
            event_id,
            actor=actor,
            reason=reason,
            now=datetime.now(UTC),
        )
    except (ValueError, KeyFileError) as exc:
        fail(str(exc))
    if opened is None:
        fail(f"no event {event_id}", code=1)
    click.echo(to_json(opened))


def _lifecycle_command(name: str, action: str, help_text: str) -> None:
    @audit.command(name, help=help_text)
    @click.argument("finding_id")
    @click.option("--reason", required=True)
    @click.option("--actor", required=True, help="Who takes the action (recorded and chained).")
    def command(finding_id: str, reason: str, actor: str) -> None:
        from audit.lifecycle import FindingNotFound, InvalidTransition, record_action

        try:
            result = record_action(
                store_engine(), finding_id=finding_id, action=action, actor=actor, reason=reason
            )
        except FindingNotFound:
            fail(f"no finding {finding_id}", code=1)
        except InvalidTransition as exc:
            fail(str(exc), code=1)
        click.echo(f"{finding_id} {result['status']} (chain seq {result['chain']['seq']})")


_lifecycle_command("ack", "acknowledge", "Acknowledge a finding.")
_lifecycle_command("resolve", "resolve", "Resolve a finding.")
_lifecycle_command("false-positive", "false_positive", "Mark a finding as a false positive.")
_lifecycle_command(
    "reopen", "reopen", "Reopen an acknowledged, resolved or false-positive finding."
)


@audit.command("verify")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--witness",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Checkpoints exported from the checkpoints topic (JSON lines): the latest must match.",
)
@click.option(
    "--witness-topic",
    is_flag=True,
    help="Read the witness from RISKWATCH_CHECKPOINTS_TOPIC (the broker must be up).",
)
@click.option(
    "--public-key",
    "public_key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Verify checkpoint signatures with this public key (`riskwatch keys show-public "
    "--all`) instead of the key file's.",
)
def audit_verify(
    fmt: str, witness: Path | None, witness_topic: bool, public_key: Path | None
) -> None:
    """Walk the hash chain and check every signed checkpoint (and the witness); exit 1 and say
    what is wrong if anything was altered."""
    from audit.checkpoints import CheckpointReport, read_witness, verify_checkpoints
    from audit.keys import KeyFileError, keys_from_settings, load_public_key
    from audit.verify import verify
    from riskwatch.output import to_json

    try:
        seen = read_witness(witness) if witness else None
        keys = load_public_key(public_key) if public_key else None
    except (KeyFileError, ValueError) as exc:
        fail(str(exc))
    if keys is None:
        try:
            keys = keys_from_settings().public_keys()
        except KeyFileError as exc:  # a stored checkpoint then fails: its signer is not given
            click.echo(f"note: {exc}; checkpoints need --public-key FILE", err=True)
            keys = []
    if witness_topic:
        from streams.checkpoints import read_witness_topic

        seen = [*(seen or []), *read_witness_topic(get_settings())]
    engine = store_engine()
    report = verify(engine)
    checked: CheckpointReport = verify_checkpoints(engine, keys, seen)
    ok = report.ok and checked.ok
    if fmt == "json":
        click.echo(to_json({**report.to_dict(), "ok": ok, "checkpoints": checked.to_dict()}))
        sys.exit(0 if ok else 1)
    if report.ok:
        click.echo(
            f"chain ok: {report.entries} entries, head seq {report.head.seq} "
            f"{report.head.entry_hash}"
        )
    else:
        b = report.broken
        assert b is not None
        where = f"seq {b.seq}" if b.seq is not None else "outside the chain"
        click.echo(f"chain BROKEN at {where} ({b.kind} {b.subject}): {b.problem}", err=True)
    if checked.ok:
        latest = (
            f", latest seq {checked.latest.seq} at {checked.latest.at}" if checked.latest else ""
        )
        witnessed = f", witness: {checked.witnessed} checkpoints" if seen is not None else ""
        click.echo(f"checkpoints ok: {checked.checkpoints} signed{latest}{witnessed}")
    else:
        click.echo(f"checkpoints BROKEN: {checked.problem}", err=True)
    sys.exit(0 if ok else 1)


@audit.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign the chain head now with the key file's signing key and store the checkpoint (the
    worker does this every RISKWATCH_CHECKPOINT_EVERY_S and publishes it)."""
    from datetime import UTC

    from audit.checkpoints import latest_checkpoint, write_checkpoint
    from audit.keys import KeyFileError, keys_from_settings
    from riskwatch.output import to_json

    try:
        keys = keys_from_settings()
    except KeyFileError as exc:
        fail(str(exc))
    engine = store_engine()
    cp = write_checkpoint(engine, keys, datetime.now(UTC)) or latest_checkpoint(engine)
    click.echo(to_json(cp.to_dict() if cp else {"checkpoint": None, "why": "the chain is empty"}))


@audit.command("witness")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def audit_witness(out: Path) -> None:
    """Export the checkpoints topic (the witness) to a JSON-lines file for `verify --witness`."""
    import json

    from streams.checkpoints import read_witness_topic

    seen = read_witness_topic(get_settings())
    out.write_text("".join(json.dumps(cp.to_dict()) + "\n" for cp in seen))
    click.echo(f"{len(seen)} checkpoints written to {out}")


@audit.command("export")
@click.option("--since", required=True, help="Start (inclusive): RFC 3339 time or 24h, 7d ago.")
@click.option("--until", required=True, help="End (exclusive): RFC 3339 time or a duration ago.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
def audit_export(since: str, until: str, out: Path) -> None:
    """Write findings, evidence, actions, removals and chain (.jsonl), manifest.json and its
    signature manifest.sig (the key file's signing key)."""
    from audit.export import export
    from audit.keys import KeyFileError, keys_from_settings
    from riskwatch.output import to_json

    start, end = _time("--since", since), _time("--until", until)
    assert start is not None and end is not None
    try:
        keys = keys_from_settings()  # the manifest is signed (manifest.sig)
    except KeyFileError as exc:
        fail(str(exc))
    click.echo(to_json(export(store_engine(), since=start, until=end, out=out, keys=keys)))


@audit.command("verify-export")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--public-key",
    "public_key",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The signer's public key (`riskwatch keys show-public [--all]`).",
)
def audit_verify_export(path: Path, public_key: Path) -> None:
    """Check an export (its folder or manifest.json) offline with the public key alone: the
    manifest's signature and every file's SHA-256; exit 1 naming what differs."""
    from audit.export import verify_export
    from audit.keys import KeyFileError, load_public_key

    try:
        keys = load_public_key(public_key)
    except KeyFileError as exc:
        fail(str(exc))
    problems = verify_export(path, keys)
    if problems:
        for problem in problems:
            click.echo(f"export BROKEN: {problem}", err=True)
        sys.exit(1)
    click.echo(f"export ok: manifest signature and every file verify ({path})")


# --- tokens ------------------------------------------------------------------------------------


@click.group()
def tokens() -> None:
    """API tokens: only their SHA-256 is stored."""


@tokens.command("create")
@click.option("--role", required=True, type=click.Choice(["auditor", "operator", "admin"]))
@click.option(
    "--name",
    help="Who or what uses the token (recorded as the actor of its actions); unique.",
)
@click.option(
    "--expires-in",
    default=None,
    metavar="DURATION",
    help="Expire after this long: 90d, 12h, 30m (a bare number: days). Default: never "
    "(until revoked).",
)
def tokens_create(role: str, name: str | None, expires_in: str | None) -> None:
    """Create a token and print it once."""
    from audit.tokens import TokenError, create_token

    try:
        info, token = create_token(
            store_engine(), role=role, name=name, expires_in=_duration(expires_in)
        )
    except TokenError as exc:
        fail(str(exc))
    until = f", expires {info.expires_at.isoformat()}" if info.expires_at else ""
    click.echo(
        f"token {info.id} ({info.name}, {info.role.value}{until}); it is shown only now:",
        err=True,
    )
    click.echo(token)


_UNITS = {"d": 86400, "h": 3600, "m": 60}


def _duration(text: str | None) -> timedelta | None:
    if text is None:
        return None
    value = text.strip().lower()
    unit = value[-1:] if value[-1:] in _UNITS else "d"
    number = value[:-1] if value[-1:] in _UNITS else value
    try:
        amount = float(number)
    except ValueError:
        fail(f"--expires-in {text!r}: use e.g. 90d, 12h or 30m")
    if not 0 < amount * _UNITS[unit] <= 100 * 365 * 86400:
        fail(f"--expires-in {text!r}: must be positive and at most 100 years")
    return timedelta(seconds=amount * _UNITS[unit])


@tokens.command("list")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def tokens_list(fmt: str) -> None:
    from audit.tokens import list_tokens
    from riskwatch.output import to_json, to_table

    rows = [t.to_dict() for t in list_tokens(store_engine())]
    click.echo(
        to_json(rows)
        if fmt == "json"
        else to_table(rows, ("id", "name", "role", "created_at", "expires_at", "revoked_at"))
    )


@tokens.command("revoke")
@click.argument("token_id", type=int)
def tokens_revoke(token_id: int) -> None:
    from audit.tokens import revoke_token

    info = revoke_token(store_engine(), token_id=token_id)
    if info is None:
        fail(f"no token {token_id}", code=1)
    click.echo(f"token {info.id} ({info.name}) revoked at {info.revoked_at}")
