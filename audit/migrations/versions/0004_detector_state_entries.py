"""Keyed detector state entries, saved one by one (detector_state_entries)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 16:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - column types name it
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a store made before migrations existed, by a build that already had it, keeps its own
    if 'detector_state_entries' in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table('detector_state_entries',
    sa.Column('detector', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('scope', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('version', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('detector', 'scope', 'key')
    )


def downgrade() -> None:
    op.drop_table('detector_state_entries')
