"""API tokens: an optional expiry (expires_at) and unique names (ix_api_tokens_name)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 06:00:00

Stores made before this revision may hold tokens with the same name: every duplicate but the
oldest is renamed to ``<name>-<id>`` (shortened to fit 128 characters, suffixed further if that
name is taken too), so the unique index can be built. Token values and hashes are untouched.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - column types name it
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

NAME_LENGTH = 128


def _unique_name(name: str, suffix: str, taken: set[str]) -> str:
    n = 0
    while True:
        tail = f"-{suffix}" + (f"-{n}" if n else "")
        candidate = name[: NAME_LENGTH - len(tail)] + tail
        if candidate not in taken:
            return candidate
        n += 1


def _rename_duplicates(bind: sa.engine.Connection) -> None:
    tokens = sa.table('api_tokens', sa.column('id', sa.Integer), sa.column('name', sa.String))
    rows = bind.execute(sa.select(tokens.c.id, tokens.c.name).order_by(tokens.c.id)).all()
    taken = {name for _, name in rows}
    seen: set[str] = set()
    for token_id, name in rows:
        if name not in seen:
            seen.add(name)
            continue
        new = _unique_name(name, str(token_id), taken)
        taken.add(new)
        seen.add(new)
        bind.execute(sa.update(tokens).where(tokens.c.id == token_id).values(name=new))


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    # a store made before migrations existed, by a build that already had them, keeps its own
    columns = {c['name'] for c in inspector.get_columns('api_tokens')}
    if 'expires_at' not in columns:
        op.add_column(
            'api_tokens', sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True)
        )
    indexes = {i['name'] for i in inspector.get_indexes('api_tokens')}
    if 'ix_api_tokens_name' not in indexes:
        _rename_duplicates(bind)
        op.create_index('ix_api_tokens_name', 'api_tokens', ['name'], unique=True)


def downgrade() -> None:
    op.drop_index('ix_api_tokens_name', table_name='api_tokens')
    with op.batch_alter_table('api_tokens') as batch:
        batch.drop_column('expires_at')
