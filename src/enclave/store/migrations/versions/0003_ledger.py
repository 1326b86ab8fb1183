"""ledger: accounts, immutable two-phase transfers, the open-reservation index

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _seq_type() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=True),
        sa.Column("overdraft", sa.Boolean(create_constraint=False), nullable=False),
        sa.Column("debits_pending", sa.BigInteger(), nullable=False),
        sa.Column("debits_posted", sa.BigInteger(), nullable=False),
        sa.Column("credits_pending", sa.BigInteger(), nullable=False),
        sa.Column("credits_posted", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "debits_pending >= 0 AND debits_posted >= 0 AND credits_pending >= 0 "
            "AND credits_posted >= 0",
            name=op.f("ck_ledger_accounts_fields_nonnegative"),
        ),
        sa.CheckConstraint(
            "overdraft OR debits_pending + debits_posted <= credits_posted",
            name=op.f("ck_ledger_accounts_no_overdraft"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_ledger_accounts_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
    )
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_accounts_org_id"), ["org_id"], unique=False)

    op.create_table(
        "ledger_transfers",
        sa.Column("seq", _seq_type(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("phase", sa.String(length=10), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("debit_account", sa.String(length=120), nullable=False),
        sa.Column("credit_account", sa.String(length=120), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("pending_id", sa.String(length=80), nullable=True),
        sa.Column("grant_id", sa.String(length=80), nullable=True),
        sa.Column("timeout_seconds", sa.Integer(), nullable=True),
        sa.Column("timeout_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("grant_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("price", sa.JSON(), nullable=True),
        sa.Column("usage", sa.JSON(), nullable=True),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=True),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_ledger_transfers_amount_nonnegative")),
        sa.CheckConstraint(
            "debit_account <> credit_account", name=op.f("ck_ledger_transfers_distinct_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["credit_account"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_transfers_credit_account_ledger_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["debit_account"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_transfers_debit_account_ledger_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["grant_id"],
            ["ledger_transfers.id"],
            name=op.f("fk_ledger_transfers_grant_id_ledger_transfers"),
        ),
        sa.ForeignKeyConstraint(
            ["pending_id"],
            ["ledger_transfers.id"],
            name=op.f("fk_ledger_transfers_pending_id_ledger_transfers"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_ledger_transfers")),
        sa.UniqueConstraint("grant_id", name=op.f("uq_ledger_transfers_grant_id")),
        sa.UniqueConstraint("id", name=op.f("uq_ledger_transfers_id")),
        sa.UniqueConstraint("pending_id", name=op.f("uq_ledger_transfers_pending_id")),
    )
    with op.batch_alter_table("ledger_transfers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ledger_transfers_code_expiry", ["code", "grant_expires_at"], unique=False
        )
        batch_op.create_index(
            "ix_ledger_transfers_credit_seq", ["credit_account", "seq"], unique=False
        )
        batch_op.create_index(
            "ix_ledger_transfers_debit_seq", ["debit_account", "seq"], unique=False
        )

    op.create_table(
        "ledger_pending",
        sa.Column("transfer_id", sa.String(length=80), nullable=False),
        sa.Column("timeout_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["ledger_transfers.id"],
            name=op.f("fk_ledger_pending_transfer_id_ledger_transfers"),
        ),
        sa.PrimaryKeyConstraint("transfer_id", name=op.f("pk_ledger_pending")),
    )
    with op.batch_alter_table("ledger_pending", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_pending_timeout_at"), ["timeout_at"], unique=False
        )

    # Transfers are immutable, like events: a trigger refuses UPDATE and DELETE (defence in
    # depth, as migration 0002 does for the log tables).
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER ledger_transfers_append_only BEFORE UPDATE OR DELETE "
            "ON ledger_transfers FOR EACH ROW EXECUTE FUNCTION enclave_append_only()"
        )
        op.execute(
            "CREATE TRIGGER ledger_transfers_no_truncate BEFORE TRUNCATE ON ledger_transfers "
            "FOR EACH STATEMENT EXECUTE FUNCTION enclave_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER ledger_transfers_no_{action.lower()} BEFORE {action} "
                "ON ledger_transfers BEGIN SELECT RAISE(ABORT, "
                f"'ledger_transfers is append-only: {action} refused'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS ledger_transfers_append_only ON ledger_transfers")
        op.execute("DROP TRIGGER IF EXISTS ledger_transfers_no_truncate ON ledger_transfers")
    else:
        op.execute("DROP TRIGGER IF EXISTS ledger_transfers_no_update")
        op.execute("DROP TRIGGER IF EXISTS ledger_transfers_no_delete")
    with op.batch_alter_table("ledger_pending", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_pending_timeout_at"))
    op.drop_table("ledger_pending")
    with op.batch_alter_table("ledger_transfers", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_transfers_debit_seq")
        batch_op.drop_index("ix_ledger_transfers_credit_seq")
        batch_op.drop_index("ix_ledger_transfers_code_expiry")
    op.drop_table("ledger_transfers")
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_accounts_org_id"))
    op.drop_table("ledger_accounts")
