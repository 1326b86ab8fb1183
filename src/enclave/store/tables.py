"""The schema, as SQLAlchemy Core tables. Alembic migrations create it; a test checks
that the migrated database and this metadata agree."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
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
    # Named in the public transparency report only when the operator opts it in (0007).
    Column(
        "report_opt_in", Boolean(create_constraint=False), nullable=False, server_default=false()
    ),
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

# The audit log (enclave.auditlog), append-only like events: no code path updates or
# deletes these rows, and triggers (migration 0002) refuse UPDATE and DELETE. Leaves take
# consecutive indices in event seq order; log_hashes keeps the complete subtree hashes of
# tree levels 8, 16, ... (C2SP tlog-tiles), so proofs read O(log n) tiles.
log_leaves = Table(
    "log_leaves",
    metadata,
    Column(
        "idx", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    Column(
        "event_seq",
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("events.seq"),
        nullable=False,
        unique=True,
    ),
    Column("leaf_hash", LargeBinary(32), nullable=False),
)

log_hashes = Table(
    "log_hashes",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column(
        "idx", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    Column("hash", LargeBinary(32), nullable=False),
)

log_checkpoints = Table(
    "log_checkpoints",
    metadata,
    Column(
        "tree_size",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),  # the C2SP signed note, exactly as signed
    Column("created_at", UTCDateTime(), nullable=False),
)

# The ledger (enclave.ledger, migration 0003). Transfers are immutable: no code path
# updates or deletes them. Accounts hold TigerBeetle's four balance fields, a cache of the
# transfers (`enclave credits check` recomputes it); the CHECK refuses a committed state
# in which an account other than the issuer is overdrawn, whatever code wrote it.
_AMOUNT = BigInteger()
_SEQ = BigInteger().with_variant(Integer, "sqlite")

ledger_accounts = Table(
    "ledger_accounts",
    metadata,
    Column("id", String(120), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("name", String(200), nullable=False),
    Column("org_id", String(40), ForeignKey("organisations.id"), nullable=True, index=True),
    Column("overdraft", Boolean(create_constraint=False), nullable=False),
    Column("debits_pending", _AMOUNT, nullable=False),
    Column("debits_posted", _AMOUNT, nullable=False),
    Column("credits_pending", _AMOUNT, nullable=False),
    Column("credits_posted", _AMOUNT, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    CheckConstraint(
        "debits_pending >= 0 AND debits_posted >= 0 AND credits_pending >= 0 "
        "AND credits_posted >= 0",
        name="fields_nonnegative",
    ),
    CheckConstraint(
        "overdraft OR debits_pending + debits_posted <= credits_posted", name="no_overdraft"
    ),
)

ledger_transfers = Table(
    "ledger_transfers",
    metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=True),
    Column("id", String(80), nullable=False, unique=True),
    Column("phase", String(10), nullable=False),
    Column("code", String(16), nullable=False),
    Column("debit_account", String(120), ForeignKey("ledger_accounts.id"), nullable=False),
    Column("credit_account", String(120), ForeignKey("ledger_accounts.id"), nullable=False),
    Column("amount", _AMOUNT, nullable=False),
    # A pending transfer is resolved (posted, voided, expired) at most once; a grant's
    # unused rest expires at most once. Unique, so the schema refuses a second one.
    Column("pending_id", String(80), ForeignKey("ledger_transfers.id"), nullable=True, unique=True),
    Column("grant_id", String(80), ForeignKey("ledger_transfers.id"), nullable=True, unique=True),
    Column("timeout_seconds", Integer, nullable=True),
    Column("timeout_at", UTCDateTime(), nullable=True),
    Column("grant_expires_at", UTCDateTime(), nullable=True),
    Column("price", JSON, nullable=True),
    Column("usage", JSON, nullable=True),
    Column("memo", Text, nullable=False),
    Column("key_id", String(40), nullable=True),
    Column("actor", String(120), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    CheckConstraint("amount >= 0", name="amount_nonnegative"),
    CheckConstraint("debit_account <> credit_account", name="distinct_accounts"),
    Index("ix_ledger_transfers_debit_seq", "debit_account", "seq"),
    Index("ix_ledger_transfers_credit_seq", "credit_account", "seq"),
    Index("ix_ledger_transfers_code_expiry", "code", "grant_expires_at"),
)

# Open reservations only: a row is added with the pending transfer and deleted by the one
# transfer that resolves it (the claim), so the sweeper reads the few open ones instead of
# every reservation ever made. Derived data, like balances; the check rebuilds it.
ledger_pending = Table(
    "ledger_pending",
    metadata,
    Column("transfer_id", String(80), ForeignKey("ledger_transfers.id"), primary_key=True),
    Column("timeout_at", UTCDateTime(), nullable=False, index=True),
)

# The monitored perimeter (issue 7). Sessions are keyed by the monitor's id (a hash of the
# organisation and the client's session name); alerts and held calls belong to one.
monitor_sessions = Table(
    "monitor_sessions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("client_session_id", String(200), nullable=False),
    Column("org_id", String(40), nullable=False, index=True),
    Column("key_id", String(40), nullable=False),
    Column("tier", String(40), nullable=False),
    Column("purpose", String(40), nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("events", Integer, nullable=False),
    Column("alerts", Integer, nullable=False),
    Column("status_reason", Text, nullable=True),
    Column("status_by", String(80), nullable=True),
    Index("ix_monitor_sessions_status_updated", "status", "updated_at"),
)

monitor_alerts = Table(
    "monitor_alerts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("session_id", String(40), ForeignKey("monitor_sessions.id"), nullable=False),
    Column("category", String(40), nullable=False),
    Column("rule_id", String(200), nullable=False),
    Column("title", String(300), nullable=False),
    Column("severity", String(20), nullable=False),
    Column("action", String(20), nullable=False),
    Column("tool_call_id", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("evidence", JSON, nullable=False),
    Column("event_seqs", JSON, nullable=False),
    Column("acked_by", String(80), nullable=True),
    Column("acked_at", UTCDateTime(), nullable=True),
    Column("resolved_by", String(80), nullable=True),
    Column("resolved_at", UTCDateTime(), nullable=True),
    Column("resolution", Text, nullable=True),
    Index("ix_monitor_alerts_status_created", "status", "created_at"),
    Index("ix_monitor_alerts_session_created", "session_id", "created_at"),
)

monitor_held_calls = Table(
    "monitor_held_calls",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("session_id", String(40), ForeignKey("monitor_sessions.id"), nullable=False),
    Column("tool_call_id", String(200), nullable=False),
    Column("tool", String(200), nullable=False),
    Column("arguments", Text, nullable=False),
    Column("alert_ids", JSON, nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("deadline", UTCDateTime(), nullable=False),
    Column("decided_at", UTCDateTime(), nullable=True),
    Column("decided_by", String(80), nullable=True),
    Column("reason", Text, nullable=True),
    Index("ix_monitor_held_calls_session", "session_id", "created_at"),
    Index("ix_monitor_held_calls_status_deadline", "status", "deadline"),
)

# Assets an organisation may target (issue 8). One row per claim; the verification record
# and the pending challenge/attestation live on it as JSON (each replaced whole).
assets = Table(
    "assets",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("org_id", String(40), ForeignKey("organisations.id"), nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("value", String(500), nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(80), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("reverify_days", Integer, nullable=False),
    Column("challenge", JSON, nullable=True),
    Column("verification", JSON, nullable=True),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("attestation", JSON, nullable=True),
    Column("hold_reason", Text, nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("revoke_reason", Text, nullable=True),
    Index("ix_assets_kind_value", "kind", "value"),
)

# Coordinated disclosure (0006). Descriptions, proofs of concept and webhook secrets are
# AES-GCM ciphertext (enclave.disclosure.crypto); the key is never in the database.
disclosure_cases = Table(
    "disclosure_cases",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("title", String(300), nullable=False),
    Column("product", String(500), nullable=False),
    Column("state", String(20), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("exploited", Boolean, nullable=False),
    Column("notified_at", UTCDateTime(), nullable=True),
    Column("fix_released_at", UTCDateTime(), nullable=True),
    Column("fixed_version", String(200), nullable=True),
    Column("deadline", UTCDateTime(), nullable=True),
    Column("grace_used", Boolean, nullable=False),
    Column("published_at", UTCDateTime(), nullable=True),
    Column("reminded_days", Integer, nullable=True),
    Column("osv", Text, nullable=True),
    Column("csaf", Text, nullable=True),
    Index("ix_disclosure_cases_state_deadline", "state", "deadline"),
)

disclosure_findings = Table(
    "disclosure_findings",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("case_id", String(40), ForeignKey("disclosure_cases.id"), nullable=False),
    Column("title", String(300), nullable=False),
    Column("purl", String(500), nullable=False),
    Column("versions", JSON, nullable=False),
    Column("location", Text, nullable=False),
    Column("cwe", Integer, nullable=False),
    Column("cvss_vector", String(300), nullable=False),
    Column("cvss_score", String(8), nullable=False),
    Column("cvss_severity", String(20), nullable=False),
    Column("cvss_computed_by", String(40), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("reporting_org", String(200), nullable=False),
    Column("session_id", String(200), nullable=True),
    Column("description", LargeBinary, nullable=False),
    Column("poc", LargeBinary, nullable=True),
    Column("poc_name", String(200), nullable=True),
    Column("poc_size", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("duplicate_of", String(40), nullable=True),
    Index("ix_disclosure_findings_fingerprint", "fingerprint"),
    Index("ix_disclosure_findings_case_id", "case_id"),
)

disclosure_participants = Table(
    "disclosure_participants",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("case_id", String(40), ForeignKey("disclosure_cases.id"), nullable=False),
    Column("role", String(20), nullable=False),
    Column("name", String(200), nullable=False),
    Column("email", String(320), nullable=True),
    Column("webhook_url", String(2000), nullable=True),
    Column("webhook_secret", LargeBinary, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_disclosure_participants_case_id", "case_id"),
)

disclosure_statuses = Table(
    "disclosure_statuses",
    metadata,
    Column("case_id", String(40), ForeignKey("disclosure_cases.id"), primary_key=True),
    Column("participant_id", String(40), primary_key=True),
    Column("finding_id", String(40), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("fixed_version", String(200), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
)

disclosure_links = Table(
    "disclosure_links",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("case_id", String(40), ForeignKey("disclosure_cases.id"), nullable=False),
    Column("participant_id", String(40), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
)

# The operator console (0007): argon2 password hashes, and sign-in sessions stored by the
# SHA-256 of their cookie (the cookie itself is never stored).
operator_passwords = Table(
    "operator_passwords",
    metadata,
    Column("operator_id", String(40), ForeignKey("operators.id"), primary_key=True),
    Column("hash", String(200), nullable=False),
    Column("set_at", UTCDateTime(), nullable=False),
)

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("operator_id", String(40), ForeignKey("operators.id"), nullable=False, index=True),
    Column("csrf_digest", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime(), nullable=True),
)

# Published transparency reports (0008). The body is the report's JSON document as
# canonical JSON text, byte for byte what ``digest`` covers; no code path updates or
# deletes a row (a correction is a new report).
transparency_reports = Table(
    "transparency_reports",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("period_from", Date, nullable=False),
    Column("period_to", Date, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False, index=True),
    Column("created_by", String(80), nullable=False),
    Column("checkpoint_size", BigInteger().with_variant(Integer, "sqlite"), nullable=True),
    Column("digest", String(80), nullable=False),
    Column("body", Text, nullable=False),
)

__all__ = [
    "api_keys",
    "console_sessions",
    "operator_passwords",
    "application_decisions",
    "applications",
    "disclosure_cases",
    "disclosure_findings",
    "disclosure_links",
    "disclosure_participants",
    "disclosure_statuses",
    "assets",
    "events",
    "ledger_accounts",
    "ledger_pending",
    "ledger_transfers",
    "log_checkpoints",
    "log_hashes",
    "log_leaves",
    "metadata",
    "monitor_alerts",
    "monitor_held_calls",
    "monitor_sessions",
    "operator_tokens",
    "operators",
    "organisations",
    "transparency_reports",
]
