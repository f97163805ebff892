"""Incidents (incidents, incident_findings, incident_events); webhook alerts on incidents

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - column types name it
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString
_T = sa.DateTime(timezone=True)


def _columns(table: str) -> set[str]:
    return {c['name'] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    tables = set(sa.inspect(op.get_bind()).get_table_names())
    if 'incidents' not in tables:
        op.create_table('incidents',
        sa.Column('incident_id', _S(length=36), nullable=False),
        sa.Column('group_key', _S(length=512), nullable=False),
        sa.Column('rule_id', _S(length=64), nullable=False),
        sa.Column('model_id', _S(length=256), nullable=False),
        sa.Column('key', sa.JSON(), nullable=False),
        sa.Column('category', _S(length=16), nullable=False),
        sa.Column('subcategory', _S(length=32), nullable=False),
        sa.Column('title', _S(), nullable=False),
        sa.Column('status', _S(length=16), nullable=False),
        sa.Column('live', sa.Boolean(), nullable=False),
        sa.Column('resolution', _S(length=16), nullable=True),
        sa.Column('severity', _S(length=16), nullable=False),
        sa.Column('escalated', sa.Boolean(), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('first_seen', _T, nullable=False),
        sa.Column('last_seen', _T, nullable=False),
        sa.Column('opened_at', _T, nullable=True),
        sa.Column('closed_at', _T, nullable=True),
        sa.Column('quiet_until', _T, nullable=False),
        sa.Column('threshold', sa.Integer(), nullable=False),
        sa.Column('window_s', sa.Integer(), nullable=False),
        sa.Column('quiet_s', sa.Integer(), nullable=False),
        sa.Column('escalate_at', _S(length=16), nullable=True),
        sa.Column('serious', _S(length=16), nullable=True),
        sa.Column('report_deadline', _T, nullable=True),
        sa.Column('last_finding_id', _S(length=36), nullable=False),
        sa.Column('updated_at', _T, nullable=False),
        sa.PrimaryKeyConstraint('incident_id')
        )
        with op.batch_alter_table('incidents', schema=None) as batch_op:
            batch_op.create_index('ix_incidents_group_status', ['group_key', 'status'], unique=False)
            batch_op.create_index('ix_incidents_live_quiet', ['live', 'quiet_until'], unique=False)
            batch_op.create_index('ix_incidents_model_seen', ['model_id', 'last_seen'], unique=False)
            batch_op.create_index(batch_op.f('ix_incidents_category'), ['category'], unique=False)
            batch_op.create_index(batch_op.f('ix_incidents_status'), ['status'], unique=False)
    if 'incident_findings' not in tables:
        op.create_table('incident_findings',
        sa.Column('finding_id', _S(length=36), nullable=False),
        sa.Column('incident_id', _S(length=36), nullable=False),
        sa.Column('at', _T, nullable=False),
        sa.PrimaryKeyConstraint('finding_id')
        )
        with op.batch_alter_table('incident_findings', schema=None) as batch_op:
            batch_op.create_index('ix_incident_findings_incident', ['incident_id', 'at'], unique=False)
    if 'incident_events' not in tables:
        op.create_table('incident_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('incident_id', _S(length=36), nullable=False),
        sa.Column('event', _S(length=16), nullable=False),
        sa.Column('actor', _S(length=128), nullable=False),
        sa.Column('reason', _S(), nullable=False),
        sa.Column('severity', _S(length=16), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('finding_id', _S(length=36), nullable=True),
        sa.Column('at', _T, nullable=False),
        sa.PrimaryKeyConstraint('id')
        )
        with op.batch_alter_table('incident_events', schema=None) as batch_op:
            batch_op.create_index('ix_incident_events_incident', ['incident_id', 'id'], unique=False)
            batch_op.create_index(batch_op.f('ix_incident_events_at'), ['at'], unique=False)
    if 'alert_on' not in _columns('webhook_subscriptions'):
        # subscriptions made before incidents keep alerting on every finding
        with op.batch_alter_table('webhook_subscriptions', schema=None) as batch_op:
            batch_op.add_column(sa.Column('alert_on', _S(length=16), nullable=False,
                                          server_default='findings'))
    if 'incident_event_id' not in _columns('webhook_deliveries'):
        with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
            batch_op.add_column(sa.Column('incident_event_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_column('incident_event_id')
    with op.batch_alter_table('webhook_subscriptions', schema=None) as batch_op:
        batch_op.drop_column('alert_on')
    op.drop_table('incident_events')
    op.drop_table('incident_findings')
    op.drop_table('incidents')
