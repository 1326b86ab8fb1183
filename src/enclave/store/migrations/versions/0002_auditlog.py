"""audit log: leaves, tile hashes, checkpoints; append-only guards; the events fence

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Append-only tables: a trigger refuses UPDATE and DELETE (and TRUNCATE on PostgreSQL).
# Defence in depth against a code path that forgets the rule; an insider with DDL rights
# can drop a trigger, which is why the log is also signed and verifiable.
GUARDED = ("events", "log_leaves", "log_hashes", "log_checkpoints")

# PostgreSQL advisory lock (class, schema) that fences the sequencer against event writers;
# the same number is in enclave.store.auditlog_repo (migrations import no enclave code).
FENCE_LOCK = 1164864514  # 0x456E6C02


def _seq_type() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "log_leaves",
        sa.Column("idx", _seq_type(), autoincrement=False, nullable=False),
        sa.Column("event_seq", _seq_type(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_seq"], ["events.seq"], name=op.f("fk_log_leaves_event_seq_events")
        ),
        sa.PrimaryKeyConstraint("idx", name=op.f("pk_log_leaves")),
        sa.UniqueConstraint("event_seq", name=op.f("uq_log_leaves_event_seq")),
    )
    op.create_table(
        "log_hashes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", _seq_type(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_log_hashes")),
    )
    op.create_table(
        "log_checkpoints",
        sa.Column("tree_size", _seq_type(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tree_size", name=op.f("pk_log_checkpoints")),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgres_guards()
    else:
        _sqlite_guards()


def _sqlite_guards() -> None:
    for table in GUARDED:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {action} refused'); END"
            )


def _postgres_guards() -> None:
    op.execute(
        """
        CREATE FUNCTION enclave_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
        END $$
        """
    )
    for table in GUARDED:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION enclave_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION enclave_append_only()"
        )
    # Events commit out of seq order on PostgreSQL (a sequence hands out numbers at insert,
    # transactions commit later), so a sequencer that took "everything after the last seq"
    # could pass over an event that commits late. Every INSERT into events holds this lock
    # shared until its transaction ends; the sequencer takes it exclusively for an instant
    # and reads max(seq): every event up to that number is then committed or rolled back.
    # A statement-level BEFORE trigger runs before the row's nextval(), so no event can get
    # a seq below the fence after it was read.
    op.execute(
        f"""
        CREATE FUNCTION enclave_events_fence() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock_shared({FENCE_LOCK}, hashtext(current_schema()));
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER events_log_fence BEFORE INSERT ON events "
        "FOR EACH STATEMENT EXECUTE FUNCTION enclave_events_fence()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS events_log_fence ON events")
        for table in GUARDED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS enclave_events_fence()")
        op.execute("DROP FUNCTION IF EXISTS enclave_append_only()")
    else:
        for table in GUARDED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    op.drop_table("log_checkpoints")
    op.drop_table("log_hashes")
    op.drop_table("log_leaves")
