"""reports: published transparency reports

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "transparency_reports",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column(
            "checkpoint_size", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("digest", sa.String(length=80), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transparency_reports")),
    )
    with op.batch_alter_table("transparency_reports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_transparency_reports_created_at"), ["created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("transparency_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transparency_reports_created_at"))
    op.drop_table("transparency_reports")
