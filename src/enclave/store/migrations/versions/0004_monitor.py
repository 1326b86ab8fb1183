"""monitor: sessions, alerts, held tool calls

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitor_sessions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("client_session_id", sa.String(length=200), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("tier", sa.String(length=40), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("alerts", sa.Integer(), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("status_by", sa.String(length=80), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_sessions")),
    )
    with op.batch_alter_table("monitor_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_monitor_sessions_org_id"), ["org_id"], unique=False)
        batch_op.create_index(
            "ix_monitor_sessions_status_updated", ["status", "updated_at"], unique=False
        )

    op.create_table(
        "monitor_alerts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("session_id", sa.String(length=40), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("rule_id", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("tool_call_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("event_seqs", sa.JSON(), nullable=False),
        sa.Column("acked_by", sa.String(length=80), nullable=True),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=80), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["monitor_sessions.id"],
            name=op.f("fk_monitor_alerts_session_id_monitor_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_alerts")),
    )
    with op.batch_alter_table("monitor_alerts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_monitor_alerts_status_created", ["status", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_monitor_alerts_session_created", ["session_id", "created_at"], unique=False
        )

    op.create_table(
        "monitor_held_calls",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("session_id", sa.String(length=40), nullable=False),
        sa.Column("tool_call_id", sa.String(length=200), nullable=False),
        sa.Column("tool", sa.String(length=200), nullable=False),
        sa.Column("arguments", sa.Text(), nullable=False),
        sa.Column("alert_ids", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=80), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["monitor_sessions.id"],
            name=op.f("fk_monitor_held_calls_session_id_monitor_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_held_calls")),
    )
    with op.batch_alter_table("monitor_held_calls", schema=None) as batch_op:
        batch_op.create_index(
            "ix_monitor_held_calls_session", ["session_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_monitor_held_calls_status_deadline", ["status", "deadline"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("monitor_held_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_monitor_held_calls_status_deadline")
        batch_op.drop_index("ix_monitor_held_calls_session")
    op.drop_table("monitor_held_calls")
    with op.batch_alter_table("monitor_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_monitor_alerts_session_created")
        batch_op.drop_index("ix_monitor_alerts_status_created")
    op.drop_table("monitor_alerts")
    with op.batch_alter_table("monitor_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_monitor_sessions_status_updated")
        batch_op.drop_index(batch_op.f("ix_monitor_sessions_org_id"))
    op.drop_table("monitor_sessions")
