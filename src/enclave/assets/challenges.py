"""Ownership challenges on the ACME model (RFC 8555 §8).

Key authorisation (RFC 8555 §8.1) is ``token || "." || thumbprint``, where the
thumbprint identifies the account the proof is for. ACME accounts have a JWK and use its
RFC 7638 thumbprint; Enclave organisations have no key pair, so the account binding is

    thumbprint = base64url(HMAC-SHA256(server secret, "enclave-account-v1:" || org id))

unpadded, with the server's key pepper as the secret. It is stable for an organisation,
distinct between organisations, and cannot be computed by anyone without the server
secret, so a record published for one organisation cannot be replayed to prove ownership
for another (the property §8.1's binding exists for). Rotating the pepper invalidates
every pending challenge, never an existing verification.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from enclave.assets import safety
from enclave.assets.interface import (
    Asset,
    AssetInputError,
    AssetKind,
    ChallengeFailed,
    Method,
    Outcome,
)
from enclave.config.assets import AssetsConfig
from enclave.registry.interface import OrgId

DNS_LABEL = "_enclave-challenge"
HTTP_PATH = "/.well-known/enclave-challenge/"
REPO_FILE = ".well-known/enclave-challenge"

# Which challenge proves which kind. Hosts use via-domain (a verified domain covering or
# resolving to them); packages and binaries cannot answer a challenge: attestation.
METHODS: dict[AssetKind, frozenset[Method]] = {
    AssetKind.DOMAIN: frozenset({Method.DNS_01, Method.HTTP_01, Method.ATTESTATION}),
    AssetKind.REPO: frozenset({Method.REPO_FILE, Method.ATTESTATION}),
    AssetKind.HOST: frozenset({Method.VIA_DOMAIN, Method.ATTESTATION}),
    AssetKind.PACKAGE: frozenset({Method.ATTESTATION}),
    AssetKind.BINARY: frozenset({Method.ATTESTATION}),
}
CHALLENGE_METHODS = frozenset({Method.DNS_01, Method.HTTP_01, Method.REPO_FILE})


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def new_token() -> str:
    """128 bits of entropy, base64url: RFC 8555 §8.3 asks for at least that."""
    return b64url(secrets.token_bytes(32))


def thumbprint(secret: bytes, org_id: OrgId) -> str:
    mac = hmac.new(secret, b"enclave-account-v1:" + org_id.encode(), hashlib.sha256)
    return b64url(mac.digest())


def key_authorisation(token: str, account: str) -> str:
    return f"{token}.{account}"


def dns_value(key_auth: str) -> str:
    """RFC 8555 §8.4: the TXT value is base64url(SHA-256(key authorisation))."""
    return b64url(hashlib.sha256(key_auth.encode("ascii")).digest())


@dataclass(frozen=True, slots=True)
class Publish:
    """Exactly what the owner must publish, and where."""

    method: Method
    where: str
    content: str
    instructions: str


def what_to_publish(asset: Asset, method: Method, key_auth: str, config: AssetsConfig) -> Publish:
    match method:
        case Method.DNS_01:
            name = f"{DNS_LABEL}.{asset.value}"
            value = dns_value(key_auth)
            return Publish(
                method,
                name,
                value,
                f'Add a DNS TXT record:\n  {name}. 300 IN TXT "{value}"',
            )
        case Method.HTTP_01:
            token = key_auth.split(".", 1)[0]
            port = "" if config.http_port == 80 else f":{config.http_port}"
            url = f"http://{asset.value}{port}{HTTP_PATH}{token}"
            return Publish(
                method,
                url,
                key_auth,
                f"Serve this exact text (no HTML, status 200, no redirect to another host) at\n"
                f"  {url}\n\n  {key_auth}",
            )
        case Method.REPO_FILE:
            return Publish(
                method,
                f"{asset.value} (default branch) {REPO_FILE}",
                key_auth,
                f"Commit a file {REPO_FILE} holding this line to the default branch of\n"
                f"  {asset.value}\n\n  {key_auth}",
            )
        case _:
            raise AssetInputError(f"{method.value} is not a challenge an owner publishes")


def check(asset: Asset, method: Method, key_auth: str, config: AssetsConfig) -> str:
    """Run one challenge; return the evidence seen, or raise ChallengeFailed."""
    match method:
        case Method.DNS_01:
            name = f"{DNS_LABEL}.{asset.value}"
            expected = dns_value(key_auth)
            found = safety.txt_records(name, config)
            if expected not in (v.strip() for v in found):
                raise ChallengeFailed(
                    Outcome.WRONG_TOKEN,
                    f"TXT at {name} holds {len(found)} value(s), none the expected digest",
                    hint="publish the value `enclave asset challenge` printed for this token",
                )
            return f"TXT {name} = {expected}"
        case Method.HTTP_01:
            token = key_auth.split(".", 1)[0]
            body = safety.http_get(asset.value, HTTP_PATH + token, config)
            # RFC 8555 §8.3: trailing whitespace is tolerated.
            if body.strip() != key_auth:
                raise ChallengeFailed(
                    Outcome.WRONG_TOKEN,
                    f"http://{asset.value}{HTTP_PATH}{token} does not hold the key authorisation",
                )
            return f"GET {HTTP_PATH}{token} on {asset.value} = key authorisation"
        case Method.REPO_FILE:
            text = safety.git_file(asset.value, REPO_FILE, config)
            lines = {line.strip() for line in text.splitlines()}
            if key_auth not in lines:
                raise ChallengeFailed(
                    Outcome.WRONG_TOKEN,
                    f"{REPO_FILE} on the default branch of {asset.value} does not hold it",
                )
            return f"{REPO_FILE} on default branch of {asset.value} holds key authorisation"
        case _:
            raise AssetInputError(f"{method.value} is not a fetched challenge")


__all__ = [
    "CHALLENGE_METHODS",
    "DNS_LABEL",
    "HTTP_PATH",
    "METHODS",
    "REPO_FILE",
    "Publish",
    "check",
    "dns_value",
    "key_authorisation",
    "new_token",
    "thumbprint",
    "what_to_publish",
]
