"""Helpers shared by the CLI modules."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, NoReturn

import click

from core.settings import get_settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def store_engine() -> Engine:
    """The audit store of RISKWATCH_DATABASE_URL, its schema brought up to date (a store created by
    an older version lacks newer tables). Imported lazily: commands that never open the store
    start without SQLAlchemy."""
    from audit.db import create_schema, make_engine

    engine = make_engine(get_settings().database_url)
    create_schema(engine)
    return engine
