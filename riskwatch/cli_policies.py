"""`riskwatch policies`: validate policy packs and run the tests beside them."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from policies.pack import BUILTIN_PACKS, PackError, load_pack


@click.group()
def policies() -> None:
    """Check policy packs and run their tests."""


@policies.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def check(files: tuple[Path, ...]) -> None:
    """Validate pack FILEs (schema, taxonomy, expressions); exit 1 naming file, line and rule."""
    from policies.engine import Rulebook

    packs, bad = [], 0
    for path in files:
        try:
            pack = load_pack(path)
        except PackError as exc:
            click.echo(f"error: {exc}", err=True)
            bad += 1
            continue
        packs.append(pack)
        click.echo(f"ok {path}: pack {pack.pack} {pack.version}, {len(pack.rules)} rules")
    if not bad:
        try:  # conflicts between the files: one rule id or one signal in two places
            Rulebook(packs)
        except PackError as exc:
            click.echo(f"error: {exc}", err=True)
            bad += 1
    sys.exit(1 if bad else 0)


@policies.command("test")
@click.argument(
    "directory", required=False, type=click.Path(file_okay=False, exists=True, path_type=Path)
)
@click.option(
    "--tests",
    "test_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Folder of test files (default: DIRECTORY/tests).",
)
def test(directory: Path | None, test_dir: Path | None) -> None:
    """Run the pack tests of DIRECTORY (default: the shipped packs); exit 1 listing failures."""
    from policies.packtest import run_pack_tests

    report = run_pack_tests(directory or BUILTIN_PACKS, test_dir)
    for failure in report.failures:
        click.echo(f"FAIL {failure}", err=True)
    click.echo(f"{report.cases} cases, {len(report.failures)} failures")
    sys.exit(0 if report.ok else 1)
