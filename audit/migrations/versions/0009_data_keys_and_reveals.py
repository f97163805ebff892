"""Texts at rest sealed per data subject: data_keys (wrapped by the key file's KEK) and
text_reveals (each reading of a sealed text, chained)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - column types name it
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString
_T = sa.DateTime(timezone=True)


def upgrade() -> None:
    tables = set(sa.inspect(op.get_bind()).get_table_names())
    if 'data_keys' not in tables:
        op.create_table('data_keys',
        sa.Column('key_id', _S(length=32), nullable=False),
        sa.Column('scope', _S(length=200), nullable=False),
        sa.Column('kek_kid', _S(length=64), nullable=False),
        sa.Column('wrapped', _S(length=128), nullable=False),
        sa.Column('created_at', _T, nullable=False),
        sa.PrimaryKeyConstraint('key_id')
        )
        with op.batch_alter_table('data_keys', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_data_keys_scope'), ['scope'], unique=True)
    if 'text_reveals' not in tables:
        op.create_table('text_reveals',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', _S(length=128), nullable=False),
        sa.Column('fields', sa.JSON(), nullable=False),
        sa.Column('actor', _S(length=128), nullable=False),
        sa.Column('reason', _S(), nullable=False),
        sa.Column('at', _T, nullable=False),
        sa.PrimaryKeyConstraint('id')
        )
        with op.batch_alter_table('text_reveals', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_text_reveals_event_id'), ['event_id'],
                                  unique=False)
            batch_op.create_index(batch_op.f('ix_text_reveals_at'), ['at'], unique=False)


def downgrade() -> None:
    tables = set(sa.inspect(op.get_bind()).get_table_names())
    if 'text_reveals' in tables:
        with op.batch_alter_table('text_reveals', schema=None) as batch_op:
            batch_op.drop_index(batch_op.f('ix_text_reveals_at'))
            batch_op.drop_index(batch_op.f('ix_text_reveals_event_id'))
        op.drop_table('text_reveals')
    if 'data_keys' in tables:
        with op.batch_alter_table('data_keys', schema=None) as batch_op:
            batch_op.drop_index(batch_op.f('ix_data_keys_scope'))
        op.drop_table('data_keys')
