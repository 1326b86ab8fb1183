"""Assets: what an organisation may target, and the ACME-style proof that it owns it."""

from enclave.assets.challenges import Publish, dns_value, key_authorisation, thumbprint
from enclave.assets.interface import (
    Asset,
    AssetConflict,
    AssetInputError,
    AssetKind,
    AssetsError,
    AssetStatus,
    AssetStore,
    AssetUnit,
    Attestation,
    Challenge,
    ChallengeFailed,
    Method,
    Outcome,
    UnknownAsset,
    Verification,
)
from enclave.assets.service import AssetService

__all__ = [
    "Asset",
    "AssetConflict",
    "AssetInputError",
    "AssetKind",
    "AssetService",
    "AssetStatus",
    "AssetStore",
    "AssetUnit",
    "AssetsError",
    "Attestation",
    "Challenge",
    "ChallengeFailed",
    "Method",
    "Outcome",
    "Publish",
    "UnknownAsset",
    "Verification",
    "dns_value",
    "key_authorisation",
    "thumbprint",
]
