"""GDPR erasure: events.user_ref_hash, and data_removals (erasures and retention purges)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 02:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - column types name it
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A store made before migrations existed, by a build that already had these, is stamped at
    # 0002 (audit/migrate.py): whatever exists is kept.
    inspector = sa.inspect(op.get_bind())
    if 'user_ref_hash' not in {c['name'] for c in inspector.get_columns('events')}:
        with op.batch_alter_table('events', schema=None) as batch_op:
            batch_op.add_column(sa.Column('user_ref_hash',
                                          sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
            batch_op.create_index(batch_op.f('ix_events_user_ref_hash'), ['user_ref_hash'],
                                  unique=False)
    if 'data_removals' in inspector.get_table_names():
        return
    op.create_table('data_removals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('user_ref_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('cutoff', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('requested_by', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('events', sa.Integer(), nullable=False),
    sa.Column('findings', sa.Integer(), nullable=False),
    sa.Column('feedback', sa.Integer(), nullable=False),
    sa.Column('finding_ids', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('data_removals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_removals_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_removals_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_removals_user_ref_hash'), ['user_ref_hash'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('data_removals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_removals_user_ref_hash'))
        batch_op.drop_index(batch_op.f('ix_data_removals_kind'))
        batch_op.drop_index(batch_op.f('ix_data_removals_at'))
    op.drop_table('data_removals')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_events_user_ref_hash'))
        batch_op.drop_column('user_ref_hash')
