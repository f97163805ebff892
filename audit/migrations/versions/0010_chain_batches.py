"""Batch links: events and feedback labels chained per batch (``chain_batch``, ``audit_chain_batches``), and
what a removal removed of batch-chained rows (``data_removals.removed``); webhook delivery
outcomes chained (audit/webhooks/outbox.py)

Rows stored before this revision are chained here, in batches of 1000 (oldest first), and so is
the outcome of each delivery delivered or dead before, so ``audit verify`` can tell them from rows
a database writer inserted or changed.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 02:00:00
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - column types name it
from alembic import op

from audit import batchchain, chain
from audit.webhooks import outbox

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString
_LEGACY_BATCH = 1000
#: the tables chained by batch, with the columns they had at this revision
_TABLES = {
    'events': (batchchain.EVENTS_KIND, (
        'event_id', 'schema_name', 'timestamp', 'model_id', 'model_version', 'service', 'tenant',
        'user_ref_hash', 'latency_ms', 'input_tokens', 'output_tokens', 'cost_usd', 'error',
        'prediction', 'score', 'payload', 'source_topic', 'source_partition', 'source_offset',
        'kafka_timestamp_ms', 'stored_at')),
    'feedback': (batchchain.FEEDBACK_KIND, (
        'event_id', 'timestamp', 'model_id', 'model_version', 'label', 'payload', 'source_topic',
        'source_partition', 'source_offset', 'kafka_timestamp_ms', 'stored_at')),
}


def _columns(table: str) -> set[str]:
    return {c['name'] for c in sa.inspect(op.get_bind()).get_columns(table)}


def _chain_existing(kind: str, fields: tuple[str, ...]) -> None:
    """Chain the rows no batch covers, oldest first, _LEGACY_BATCH at a time."""
    conn = op.get_bind()
    t = batchchain.KINDS[kind].table
    cols = [t.c[f] for f in fields]
    now = datetime.now(UTC)
    while part := conn.execute(
        sa.select(*cols)
        .where(t.c.chain_batch.is_(None))
        .order_by(t.c.stored_at, t.c.event_id)
        .limit(_LEGACY_BATCH)
    ).mappings().all():
        batch = batchchain.new_batch()
        ids = [r['event_id'] for r in part]
        for j in range(0, len(ids), 500):
            conn.execute(
                sa.update(t).where(t.c.event_id.in_(ids[j : j + 500])).values(chain_batch=batch)
            )
        leaves = [
            [r['event_id'], batchchain.leaf(kind, r), chain.canonical_time(r['timestamp'])]
            for r in part
        ]
        chain.append(conn, [batchchain.record_batch(conn, kind, batch, leaves)], now)


def _chain_outcomes() -> None:
    """Chain the outcome of each delivery delivered or dead before outcomes were chained."""
    conn = op.get_bind()
    d = outbox.DELIVERIES
    chained = {
        s.partition('/')[0]
        for s in conn.execute(
            sa.select(chain.CHAIN.c.subject).where(chain.CHAIN.c.kind == outbox.CHAIN_KIND)
        ).scalars()
    }
    rows = conn.execute(
        sa.select(*[d.c[f] for f in outbox.OUTCOME_FIELDS])
        .where(d.c.status.in_(['delivered', 'dead']))
        .order_by(d.c.created_at, d.c.delivery_id)
    ).mappings().all()
    rows = [r for r in rows if r['delivery_id'] not in chained]
    if rows:
        head = chain.lock_head(conn)
        links = [outbox.outcome_link(r, head.seq + i) for i, r in enumerate(rows, 1)]
        chain.append(conn, links, datetime.now(UTC), head=head)


def upgrade() -> None:
    tables = set(sa.inspect(op.get_bind()).get_table_names())
    if 'audit_chain_batches' not in tables:
        op.create_table('audit_chain_batches',
        sa.Column('batch', _S(length=32), nullable=False),
        sa.Column('kind', _S(length=16), nullable=False),
        sa.Column('leaves', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('batch')
        )
    if 'data_removals' in tables and 'removed' not in _columns('data_removals'):
        with op.batch_alter_table('data_removals', schema=None) as batch_op:
            batch_op.add_column(sa.Column('removed', sa.JSON(), nullable=True))
    for table, (kind, fields) in _TABLES.items():
        if table not in tables:
            continue
        if 'chain_batch' not in _columns(table):
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.add_column(sa.Column('chain_batch', _S(length=32), nullable=True))
                batch_op.create_index(
                    batch_op.f(f'ix_{table}_chain_batch'), ['chain_batch'], unique=False
                )
        _chain_existing(kind, fields)
    if 'webhook_deliveries' in tables:
        _chain_outcomes()


def downgrade() -> None:
    # The links stay (chain entries are never removed); the columns go.
    tables = set(sa.inspect(op.get_bind()).get_table_names())
    for table in _TABLES:
        if table in tables and 'chain_batch' in _columns(table):
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.drop_index(batch_op.f(f'ix_{table}_chain_batch'))
                batch_op.drop_column('chain_batch')
    if 'data_removals' in tables and 'removed' in _columns('data_removals'):
        with op.batch_alter_table('data_removals', schema=None) as batch_op:
            batch_op.drop_column('removed')
    if 'audit_chain_batches' in tables:
        op.drop_table('audit_chain_batches')
