"""The schema, as SQLAlchemy Core tables. Alembic migrations create it; a test checks
that the migrated database and this metadata agree."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware in, timezone-aware out, on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: every timestamp carries a time zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


organisations = Table(
    "organisations",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("sector", String(200), nullable=False),
    Column("contact", String(200), nullable=False),
    Column("tier", String(40), nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("approved_at", UTCDateTime(), nullable=True),
    Column("approval_expires_at", UTCDateTime(), nullable=True),
)

applications = Table(
    "applications",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("org_id", String(40), ForeignKey("organisations.id"), nullable=False, index=True),
    Column("tier", String(40), nullable=False),
    Column("evidence", JSON, nullable=False),
    Column("status", String(20), nullable=False),
    Column("submitted_by", String(80), nullable=False),
    Column("submitted_at", UTCDateTime(), nullable=False),
    Column("decided_at", UTCDateTime(), nullable=True),
)

application_decisions = Table(
    "application_decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("application_id", String(40), ForeignKey("applications.id"), nullable=False),
    Column("operator_id", String(40), ForeignKey("operators.id"), nullable=False),
    Column("decision", String(10), nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    # Four-eyes is enforced by the service and, as a last line, by the database.
    UniqueConstraint("application_id", "operator_id", name="uq_decision_once_per_operator"),
)

operators = Table(
    "operators",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("roles", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("disabled_at", UTCDateTime(), nullable=True),
)

operator_tokens = Table(
    "operator_tokens",
    metadata,
    Column("prefix", String(16), primary_key=True),
    Column("operator_id", String(40), ForeignKey("operators.id"), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("prefix", String(16), nullable=False, unique=True),
    Column("digest", String(64), nullable=False),
    Column("org_id", String(40), ForeignKey("organisations.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("purposes", JSON, nullable=False),
    # Asset ids; the assets table arrives with asset verification (issue 8).
    Column("scope", JSON, nullable=False),
    Column("rpm_limit", Integer, nullable=True),
    Column("tpm_limit", Integer, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(80), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("revoked_by", String(80), nullable=True),
    Column("revoke_reason", Text, nullable=True),
)

# Append-only: no code path updates or deletes these rows. The audit log sequences them.
events = Table(
    "events",
    metadata,
    Column(
        "seq",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("at", UTCDateTime(), nullable=False),
    Column("kind", String(80), nullable=False),
    Column("actor", String(120), nullable=False),
    Column("subject", String(120), nullable=False),
    Column("data", Text, nullable=False),  # canonical JSON
    Index("ix_events_kind_seq", "kind", "seq"),
    Index("ix_events_subject_seq", "subject", "seq"),
)

__all__ = [
    "api_keys",
    "application_decisions",
    "applications",
    "events",
    "metadata",
    "operator_tokens",
    "operators",
    "organisations",
]
