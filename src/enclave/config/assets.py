"""Settings of asset ownership challenges (docs/asset-owners.md): `[assets]` in enclave.toml
or ENCLAVE_ASSETS__<NAME>."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AssetsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # The only DNS servers challenges are resolved through ("ip" or "ip:port"): the
    # resolver allowlist. The system resolver is never used.
    resolvers: tuple[str, ...] = ("1.1.1.1", "9.9.9.9")
    # Port http-01 fetches use (RFC 8555 §8.3 fixes 80; configurable for tests).
    http_port: int = Field(default=80, ge=1, le=65535)
    # Largest challenge answer read (HTTP body, TXT bytes, repository file).
    max_answer_bytes: int = Field(default=1024, ge=128, le=65536)
    # Connect/read timeout of every challenge fetch, seconds.
    timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    # Loopback addresses are refused as challenge targets unless this is set (tests only:
    # a loopback fetch reaches the server's own services).
    allow_loopback: bool = False
    # Private (RFC 1918, ULA) addresses are refused unless set (an internal deployment
    # whose challenge targets live on its own network).
    allow_private: bool = False
    # Transports `git` may use for repo-file; file is for tests and local mirrors.
    git_protocols: tuple[str, ...] = ("https",)
    # How long an issued challenge token stays valid.
    challenge_ttl_hours: int = Field(default=72, ge=1, le=24 * 30)
    # How long a verification lasts before the asset must be verified again.
    verification_days: int = Field(default=90, ge=1, le=3650)
    # Widest CIDR block (prefix length) a domain can vouch for; wider ones need attestation.
    max_cidr_prefix_v4: int = Field(default=24, ge=8, le=32)
    max_cidr_prefix_v6: int = Field(default=56, ge=16, le=128)


__all__ = ["AssetsConfig"]
