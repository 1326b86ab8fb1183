"""disclosure: cases, findings, participants, statuses, maintainer links

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "disclosure_cases",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("product", sa.String(length=500), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("exploited", sa.Boolean(), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fix_released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fixed_version", sa.String(length=200), nullable=True),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("grace_used", sa.Boolean(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_days", sa.Integer(), nullable=True),
        sa.Column("osv", sa.Text(), nullable=True),
        sa.Column("csaf", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_cases")),
    )
    op.create_index("ix_disclosure_cases_state_deadline", "disclosure_cases", ["state", "deadline"])

    op.create_table(
        "disclosure_findings",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("case_id", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("purl", sa.String(length=500), nullable=False),
        sa.Column("versions", sa.JSON(), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("cwe", sa.Integer(), nullable=False),
        sa.Column("cvss_vector", sa.String(length=300), nullable=False),
        sa.Column("cvss_score", sa.String(length=8), nullable=False),
        sa.Column("cvss_severity", sa.String(length=20), nullable=False),
        sa.Column("cvss_computed_by", sa.String(length=40), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("reporting_org", sa.String(length=200), nullable=False),
        sa.Column("session_id", sa.String(length=200), nullable=True),
        sa.Column("description", sa.LargeBinary(), nullable=False),
        sa.Column("poc", sa.LargeBinary(), nullable=True),
        sa.Column("poc_name", sa.String(length=200), nullable=True),
        sa.Column("poc_size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duplicate_of", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["disclosure_cases.id"],
            name=op.f("fk_disclosure_findings_case_id_disclosure_cases"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_findings")),
    )
    op.create_index("ix_disclosure_findings_fingerprint", "disclosure_findings", ["fingerprint"])
    op.create_index("ix_disclosure_findings_case_id", "disclosure_findings", ["case_id"])

    op.create_table(
        "disclosure_participants",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("case_id", sa.String(length=40), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("webhook_url", sa.String(length=2000), nullable=True),
        sa.Column("webhook_secret", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["disclosure_cases.id"],
            name=op.f("fk_disclosure_participants_case_id_disclosure_cases"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_participants")),
    )
    op.create_index("ix_disclosure_participants_case_id", "disclosure_participants", ["case_id"])

    op.create_table(
        "disclosure_statuses",
        sa.Column("case_id", sa.String(length=40), nullable=False),
        sa.Column("participant_id", sa.String(length=40), nullable=False),
        sa.Column("finding_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("fixed_version", sa.String(length=200), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["disclosure_cases.id"],
            name=op.f("fk_disclosure_statuses_case_id_disclosure_cases"),
        ),
        sa.PrimaryKeyConstraint(
            "case_id", "participant_id", "finding_id", name=op.f("pk_disclosure_statuses")
        ),
    )

    op.create_table(
        "disclosure_links",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.String(length=40), nullable=False),
        sa.Column("participant_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["disclosure_cases.id"],
            name=op.f("fk_disclosure_links_case_id_disclosure_cases"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_disclosure_links_token_hash")),
    )


def downgrade() -> None:
    op.drop_table("disclosure_links")
    op.drop_table("disclosure_statuses")
    op.drop_index("ix_disclosure_participants_case_id", table_name="disclosure_participants")
    op.drop_table("disclosure_participants")
    op.drop_index("ix_disclosure_findings_case_id", table_name="disclosure_findings")
    op.drop_index("ix_disclosure_findings_fingerprint", table_name="disclosure_findings")
    op.drop_table("disclosure_findings")
    op.drop_index("ix_disclosure_cases_state_deadline", table_name="disclosure_cases")
    op.drop_table("disclosure_cases")
