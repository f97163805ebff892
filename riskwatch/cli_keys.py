"""`riskwatch keys`: the key file (audit/keys.py) that keys subject references and signs chain
checkpoints and exports, kept outside the audit store."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import click

from core.settings import get_settings
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
    """The key file: HMAC keys for subject references, Ed25519 keys for signatures."""


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


@keys.command("rotate")
@_FILE
def keys_rotate(key_file: Path | None) -> None:
    """Add a new current key of each kind; old keys are kept (old subject references still
    match, old signatures still verify)."""
    from audit.keys import KeyFileError, rotate_key_file

    path = _path(key_file)
    try:
        ring = rotate_key_file(path)
    except KeyFileError as exc:
        fail(str(exc))
    click.echo(f"rotated {path}: hmac {ring.hmac_kid}, signing {ring.signing_kid} now current")


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
