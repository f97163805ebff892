"""`riskwatch keys`: the key file (audit/keys.py) that keys subject references and signs chain
checkpoints and exports, kept outside the audit store."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import TYPE_CHECKING

import click

from core.settings import get_settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
from riskwatch.cli_common import fail


def _path(option: Path | None) -> Path:
    return option if option is not None else get_settings().key_path


_FILE = click.option(
    "--file",
    "key_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The key file (default: RISKWATCH_KEY_FILE, or keys.json under RISKWATCH_HOME).",
)


@click.group()
def keys() -> None:
    """The key file: HMAC keys for subject references, Ed25519 keys for signatures, KEKs that
    wrap the data keys of stored texts."""


@keys.command("init")
@_FILE
def keys_init(key_file: Path | None) -> None:
    """Create the key file (mode 0600); never overwrites one. Back it up apart from the
    database: without it past subjects cannot be matched for erasure."""
    from audit.keys import KeyFileError, init_key_file

    path = _path(key_file)
    try:
        ring = init_key_file(path)
    except KeyFileError as exc:
        fail(str(exc))
    click.echo(
        f"created {path} (hmac {ring.hmac_kid}, signing {ring.signing_kid}); back it up "
        "apart from the database"
    )


def _existing_store() -> Engine | None:
    """The store of RISKWATCH_DATABASE_URL if it exists (a SQLite file is never created here)."""
    from sqlalchemy.engine import make_url

    from audit.db import create_schema, make_engine, normalise_url

    url = normalise_url(get_settings().database_url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not (
        parsed.database and parsed.database != ":memory:" and Path(parsed.database).exists()
    ):
        return None
    engine = make_engine(url)
    create_schema(engine)
    return engine


@keys.command("rotate")
@_FILE
@click.option(
    "--no-rewrap",
    is_flag=True,
    help="Only add the new keys; leave the data keys wrapped by the old KEK.",
)
@click.option(
    "--retire-old",
    is_flag=True,
    help="After re-wrapping, drop the KEKs no data key uses any more (backups of the database "
    "made before then can no longer be read).",
)
def keys_rotate(key_file: Path | None, no_rewrap: bool, retire_old: bool) -> None:
    """Add a new current key of each kind; old keys are kept (old subject references still
    match, old signatures still verify). The data keys of the audit store (RISKWATCH_DATABASE_URL)
    are re-wrapped by the new KEK; restart the workers before --retire-old."""
    from audit.keys import KeyFileError, rotate_key_file, write_key_file
    from audit.sealing import keks_in_use, rewrap

    if retire_old and no_rewrap:
        fail("--retire-old needs the data keys re-wrapped first: drop --no-rewrap")
    path = _path(key_file)
    try:
        ring = rotate_key_file(path)
    except KeyFileError as exc:
        fail(str(exc))
    click.echo(
        f"rotated {path}: hmac {ring.hmac_kid}, signing {ring.signing_kid}, kek {ring.kek_kid} "
        "now current"
    )
    if no_rewrap:
        return
    engine = _existing_store()
    if engine is None:
        click.echo("no audit store at RISKWATCH_DATABASE_URL: no data keys to re-wrap")
        used: set[str] = set()
    else:
        click.echo(f"re-wrapped {rewrap(engine, ring)} data keys with {ring.kek_kid}")
        used = keks_in_use(engine)
    if retire_old:
        kept = ring.retiring_keks(used)
        gone = [k for k, _ in ring.keks if k not in {kid for kid, _ in kept.keks}]
        write_key_file(path, kept)
        click.echo(f"retired KEKs: {', '.join(gone) or 'none'}")


@keys.command("show-public")
@_FILE
@click.option("--all", "every", is_flag=True, help="Every signing key, not only the current one.")
def keys_show_public(key_file: Path | None, every: bool) -> None:
    """Print the Ed25519 public key (JSON) for offline verification of checkpoints and
    exports (`riskwatch audit verify-export --public-key FILE`)."""
    from audit.keys import KeyFileError, load_keys

    path = _path(key_file)
    try:
        ring = load_keys(path)
    except KeyFileError as exc:
        fail(str(exc))
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        click.echo(f"warning: {path} is readable by others (mode {mode:o}); chmod 600", err=True)
    if every:
        doc: object = {"keys": [pk.to_dict() for pk in ring.public_keys()]}
    else:
        doc = ring.public_key().to_dict()
    click.echo(json.dumps(doc, indent=2))
