"""The `riskwatch` command line: thin wrappers over streams/, audit/ and the local broker."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from core.logs import configure_logging
from core.settings import get_settings
from riskwatch.cli_audit import audit, tokens
from riskwatch.cli_common import fail as _fail
from riskwatch.cli_incidents import incident, incidents
from riskwatch.cli_keys import keys
from riskwatch.cli_policies import policies
from riskwatch.cli_report import report
from riskwatch.cli_retention import erase, purge, removals
from riskwatch.cli_webhooks import alerts, webhooks

if TYPE_CHECKING:
    from riskwatch.local_kafka import LocalKafka


@click.group()
@click.version_option(package_name="riskwatch")
def main() -> None:
    """riskwatch: risk and compliance monitoring for deployed AI models."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)


# --- kafka -------------------------------------------------------------------------------


@main.group()
def kafka() -> None:
    """Run a local single-node Kafka broker (KRaft) under RISKWATCH_HOME."""


def _local_kafka() -> LocalKafka:
    from riskwatch.local_kafka import LocalKafka, LocalKafkaError

    settings = get_settings()
    try:
        return LocalKafka.from_bootstrap(settings.kafka_bootstrap, settings.home)
    except LocalKafkaError as exc:
        _fail(str(exc))


@kafka.command("up")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for the broker.")
def kafka_up(timeout: float) -> None:
    """Start the broker (no-op if it is running); print its bootstrap address."""
    from riskwatch.local_kafka import LocalKafkaError

    try:
        click.echo(_local_kafka().up(timeout=timeout))
    except LocalKafkaError as exc:
        _fail(str(exc))


@kafka.command("down")
def kafka_down() -> None:
    """Stop the broker started by `kafka up` (no-op if none)."""
    stopped = _local_kafka().down()
    click.echo("stopped" if stopped else "not running")


@kafka.command("status")
def kafka_status() -> None:
    broker = _local_kafka()
    click.echo(f"{broker.bootstrap} {'up' if broker.is_up() else 'down'}")
    sys.exit(0 if broker.is_up() else 1)


# --- worker and producer -------------------------------------------------------------------


@main.command()
def worker() -> None:
    """Run a Faust worker: events topic → detectors → policies → audit store + findings topic."""
    from audit.keys import KeyFileError
    from core.model_registry import ConfigError
    from policies.pack import PackError
    from streams.worker import run_worker

    try:
        run_worker(get_settings())
    except (ConfigError, PackError, KeyFileError) as exc:
        _fail(str(exc))


@main.command()
@click.option(
    "--demo",
    "demo_n",
    type=click.IntRange(min=1),
    help="Simulate N events of the registry's models.",
)
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Send each line of a JSON-lines file as one event.",
)
@click.option("--seed", default=7, show_default=True)
@click.option(
    "--run-id", default=None, help="Prefix of the simulated event ids (default: time-based)."
)
@click.option("--no-text", is_flag=True, help="Simulate events without input/output text.")
@click.option("--malformed", default=0.02, show_default=True, help="Share of malformed messages.")
@click.option("--duplicates", default=0.02, show_default=True, help="Share of re-sent events.")
@click.option(
    "--drift-from",
    type=click.FloatRange(0, 1),
    default=None,
    help="Shift the chat channel mix from this share of the run on (data drift).",
)
@click.option(
    "--feedback",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of tabular decisions whose label is sent as a riskwatch.feedback/v1 event.",
)
def produce(
    demo_n: int | None,
    path: Path | None,
    seed: int,
    run_id: str | None,
    no_text: bool,
    malformed: float,
    duplicates: float,
    drift_from: float | None,
    feedback: float,
) -> None:
    """Send events to RISKWATCH_EVENTS_TOPIC; prints a JSON account of what was sent."""
    from riskwatch.demo import produce_demo, produce_file
    from riskwatch.output import to_json

    if (demo_n is None) == (path is None):
        _fail("give exactly one of --demo N or --file PATH")
    settings = get_settings()
    if path is not None:
        click.echo(to_json(produce_file(settings, path)))
        return
    assert demo_n is not None
    report = produce_demo(
        settings,
        demo_n,
        seed=seed,
        run_id=run_id,
        with_text=not no_text,
        malformed=malformed,
        duplicates=duplicates,
        drift_from=drift_from,
        feedback=feedback,
    )
    click.echo(to_json(report))


@main.command()
@click.option("--events", "n", default=8000, show_default=True, help="Valid events to simulate.")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for processing.")
def demo(n: int, timeout: float) -> None:
    """Start a local broker and a worker, play simulated traffic, print the audit summary, stop."""
    from riskwatch.demo import run_demo

    sys.exit(run_demo(get_settings(), n, timeout=timeout))


# --- audit, tokens, API ------------------------------------------------------------------------

audit.add_command(purge)
audit.add_command(erase)
audit.add_command(removals)
audit.add_command(incidents)
audit.add_command(incident)
main.add_command(audit)
main.add_command(tokens)
main.add_command(policies)
main.add_command(webhooks)
main.add_command(alerts)
main.add_command(report)
main.add_command(keys)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
def api(host: str, port: int) -> None:
    """Serve the audit API (findings, incidents, lifecycle, summary, tokens, webhooks, reports)
    and the web console at /ui/ with uvicorn."""
    import uvicorn

    from audit.api.app import create_app

    shown = f"[{host}]" if ":" in host else host
    click.echo(f"web console: http://{shown}:{port}/ui/ (sign in with an API token)")
    uvicorn.run(
        create_app(get_settings()), host=host, port=port, log_level=get_settings().log_level.lower()
    )


if __name__ == "__main__":
    main()
