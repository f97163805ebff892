"""The spine's tables: events, findings, dead letters, detector state.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("event_id", _STR(length=128), nullable=False),
        sa.Column("schema_name", _STR(length=64), nullable=False),
        _ts("timestamp"),
        sa.Column("model_id", _STR(length=256), nullable=False),
        sa.Column("model_version", _STR(length=128), nullable=False),
        sa.Column("service", _STR(), nullable=True),
        sa.Column("tenant", _STR(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=True),
        sa.Column("output_tokens", sa.Integer(), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("error", _STR(), nullable=True),
        sa.Column("prediction", sa.JSON(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("source_topic", _STR(), nullable=False),
        sa.Column("source_partition", sa.Integer(), nullable=False),
        sa.Column("source_offset", sa.BigInteger(), nullable=False),
        sa.Column("kafka_timestamp_ms", sa.BigInteger(), nullable=True),
        _ts("stored_at"),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index("ix_events_model_ts", "events", ["model_id", "timestamp"])
    op.create_index("ix_events_tenant", "events", ["tenant"])
    op.create_table(
        "findings",
        sa.Column("finding_id", _STR(length=36), nullable=False),
        sa.Column("event_id", _STR(length=128), nullable=True),
        sa.Column("model_id", _STR(length=256), nullable=False),
        sa.Column("model_version", _STR(), nullable=True),
        sa.Column("detector", _STR(), nullable=False),
        sa.Column("rule_id", _STR(), nullable=False),
        sa.Column("category", _STR(length=16), nullable=False),
        sa.Column("subcategory", _STR(length=32), nullable=False),
        sa.Column("severity", _STR(length=16), nullable=False),
        sa.Column("title", _STR(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("regulation_refs", sa.JSON(), nullable=False),
        sa.Column("remediation", _STR(), nullable=False),
        sa.Column("pack", _STR(), nullable=False),
        sa.Column("pack_version", _STR(), nullable=False),
        sa.Column("source_topic", _STR(), nullable=True),
        sa.Column("source_partition", sa.Integer(), nullable=True),
        sa.Column("source_offset", sa.BigInteger(), nullable=True),
        _ts("detected_at"),
        sa.PrimaryKeyConstraint("finding_id"),
    )
    op.create_index("ix_findings_model_detected", "findings", ["model_id", "detected_at"])
    op.create_index("ix_findings_category", "findings", ["category", "subcategory"])
    op.create_index("ix_findings_event_id", "findings", ["event_id"])
    op.create_index("ix_findings_severity", "findings", ["severity"])
    op.create_index("ix_findings_detected_at", "findings", ["detected_at"])
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_topic", _STR(), nullable=False),
        sa.Column("source_partition", sa.Integer(), nullable=False),
        sa.Column("source_offset", sa.BigInteger(), nullable=False),
        sa.Column("reason", _STR(length=32), nullable=False),
        sa.Column("detail", _STR(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", _STR(length=64), nullable=False),
        _ts("received_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_topic", "source_partition", "source_offset"),
    )
    op.create_index("ix_dead_letters_reason", "dead_letters", ["reason"])
    op.create_table(
        "detector_state",
        sa.Column("detector", _STR(), nullable=False),
        sa.Column("scope", _STR(), nullable=False),
        sa.Column("version", _STR(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("detector", "scope"),
    )


def downgrade() -> None:
    for table in ("detector_state", "dead_letters", "findings", "events"):
        op.drop_table(table)
