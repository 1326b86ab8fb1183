"""Settings of coordinated disclosure (docs/disclosure.md): `[disclosure]` in enclave.toml or
ENCLAVE_DISCLOSURE__<NAME>."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class DisclosureConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Deadline policy; the defaults are Google Project Zero's (2021 "90+30" policy,
    # https://googleprojectzero.blogspot.com/p/vulnerability-disclosure-policy.html).
    disclosure_days: int = Field(default=90, ge=1, le=3650)
    fix_adoption_days: int = Field(default=30, ge=0, le=3650)
    in_the_wild_days: int = Field(default=7, ge=1, le=3650)
    grace_days: int = Field(default=14, ge=0, le=365)
    # Days before a deadline at which `enclave cases remind` raises a reminder.
    reminder_days: tuple[int, ...] = (14, 7, 1)
    # How long a maintainer link stays valid after it is issued.
    link_days: int = Field(default=30, ge=1, le=365)
    # Largest proof-of-concept attachment accepted (bytes, before encryption).
    max_poc_bytes: int = Field(default=1_048_576, ge=1, le=64 * 1_048_576)
    # The AES-256-GCM data key (64 hex characters); unset = state_dir/disclosure.key,
    # created by `enclave init`. Never stored in the database.
    data_key: SecretStr | None = None
    # Base URL maintainers' links point at (the public address of `enclave serve`).
    public_url: str = "http://127.0.0.1:8400"
    # OSV id prefix; "x_" marks a database not registered with OSV (osv-schema $defs.prefix).
    osv_prefix: str = Field(default="x_ENCLAVE", pattern=r"^x_[A-Za-z0-9]+$")
    # Publisher named in CSAF documents.
    publisher_name: str = "Enclave disclosure programme"
    publisher_namespace: str = "https://enclave.localhost"
    # Where the OSV and CSAF JSON schemas are; unset = the copies shipped in the package
    # (enclave/disclosure/schemas, byte-for-byte upstream with their licences and README).
    schema_dir: Path | None = None
    # Outgoing e-mail; unset host = e-mail is not sent (webhooks only).
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    mail_from: str = "disclosure@enclave.localhost"
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)


__all__ = ["DisclosureConfig"]
