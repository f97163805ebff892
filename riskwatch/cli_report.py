"""``riskwatch report``: write the compliance report of one model and period, as HTML or PDF."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from audit.db import make_engine
from audit.queries import busiest_model, parse_since
from audit.report.build import ReportPeriod, build_report
from audit.report.pdf import PdfError, html_to_pdf
from core.model_registry import load_registry
from core.settings import get_settings


def write_report(
    model: str, since: datetime, until: datetime, out: Path, fmt: str = "html"
) -> Path:
    settings = get_settings()
    registry = load_registry(settings.config) if settings.config.exists() else None
    html = build_report(
        make_engine(settings.database_url),
        ReportPeriod(model, since, until),
        registry,
        datetime.now(UTC),
    )
    if fmt == "pdf":
        out.write_bytes(html_to_pdf(html, chromium=get_settings().chromium))
    else:
        out.write_text(html, encoding="utf-8")
    return out


@click.command("report")
@click.option("--model", required=True, help="Model id.")
@click.option("--since", required=True, help="Start: 7d, 24h … or an RFC 3339 time (inclusive).")
@click.option("--until", default=None, help="End, as --since (exclusive); default now.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "pdf"]),
    default="html",
    show_default=True,
    help="pdf: printed by headless Chromium (RISKWATCH_CHROMIUM names another binary).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Default: report.html or report.pdf.",
)
def report(model: str, since: str, until: str | None, fmt: str, out: Path | None) -> None:
    """Write a self-contained compliance report for MODEL over a period (HTML or PDF)."""
    now = datetime.now(UTC)
    out = out or Path(f"report.{fmt}")
    try:
        start = parse_since(since, now)
        end = parse_since(until, now) if until else now
        path = write_report(model, start, end, out, fmt)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    except PdfError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc}") from None
    click.echo(str(path))


def busiest_model_report(out: Path) -> Path | None:
    """The report of the model with the most stored events, over all its events (for the demo);
    None when the store has no events."""
    busiest = busiest_model(make_engine(get_settings().database_url))
    if busiest is None:
        return None
    model, start, last = busiest
    # findings are dated when they were filed, after the events they are about: up to now
    end = max(last, datetime.now(UTC)) + timedelta(seconds=1)
    return write_report(model, start, end, out)
