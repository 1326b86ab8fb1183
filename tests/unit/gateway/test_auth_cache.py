"""The authentication cache never outlives a change to the key or its organisation, on
either backend, whichever process made the change."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from enclave.gateway.auth import Authenticator
from enclave.registry import CredentialError, Operator, RegistryService
from enclave.store import Database
from enclave.store.key_rows import KeyRows


@pytest.fixture
def rows(db: Database) -> Iterator[KeyRows]:
    reader = KeyRows(db.engine)
    yield reader
    reader.close()


@pytest.fixture
def org_id(registry: RegistryService, admin: Operator) -> str:
    org, app = registry.create_org(admin, name="Pub", kind="public", tier="public")
    registry.decide(admin, app.id, decision="approve", reason="ok")
    return org.id


def test_hits_while_rows_are_unchanged(
    registry: RegistryService, admin: Operator, org_id: str, rows: KeyRows, clock: Any
) -> None:
    secret = registry.issue_key(admin, org_id, purposes=["general"]).secret
    auth = Authenticator(registry, rows, clock=clock)
    first = auth.authenticate(secret)
    assert auth.authenticate(secret) == first
    assert (auth.misses, auth.hits) == (1, 1)


def test_revocation_by_another_connection_is_seen_next_request(
    registry: RegistryService, admin: Operator, org_id: str, rows: KeyRows, clock: Any, db: Database
) -> None:
    issued = registry.issue_key(admin, org_id, purposes=["general"])
    auth = Authenticator(registry, rows, clock=clock)
    auth.authenticate(issued.secret)
    # A second service over its own engine: like the CLI or another gateway worker.
    other = Database(db.url)
    try:
        RegistryService(
            store=other, settings=registry._settings, pepper=b"p" * 32, clock=clock
        ).revoke_key(admin, issued.key.id, reason="leaked")
    finally:
        other.close()
    with pytest.raises(CredentialError, match="revoked"):
        auth.authenticate(issued.secret)


def test_suspension_and_reinstatement(
    registry: RegistryService, admin: Operator, org_id: str, rows: KeyRows, clock: Any
) -> None:
    secret = registry.issue_key(admin, org_id, purposes=["general"]).secret
    auth = Authenticator(registry, rows, clock=clock)
    auth.authenticate(secret)
    registry.set_status(admin, org_id, "suspended", reason="incident")
    with pytest.raises(CredentialError, match="not active"):
        auth.authenticate(secret)
    registry.set_status(admin, org_id, "approved", reason="resolved")
    assert auth.authenticate(secret).org.status.value == "approved"


def test_expiry_is_checked_on_a_hit(
    registry: RegistryService, admin: Operator, org_id: str, rows: KeyRows, clock: Any
) -> None:
    secret = registry.issue_key(
        admin, org_id, purposes=["general"], expires_in=timedelta(minutes=5)
    ).secret
    auth = Authenticator(registry, rows, clock=clock)
    auth.authenticate(secret)
    clock.advance(minutes=6)
    with pytest.raises(CredentialError, match="expired"):
        auth.authenticate(secret)


def test_a_wrong_secret_with_a_known_prefix_is_refused(
    registry: RegistryService, admin: Operator, org_id: str, rows: KeyRows, clock: Any
) -> None:
    secret = registry.issue_key(admin, org_id, purposes=["general"]).secret
    auth = Authenticator(registry, rows, clock=clock)
    auth.authenticate(secret)
    forged = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    with pytest.raises(CredentialError, match="invalid API key"):
        auth.authenticate(forged)
    assert auth.authenticate(secret)  # the real one still works


def test_unknown_and_malformed_keys(registry: RegistryService, rows: KeyRows, clock: Any) -> None:
    auth = Authenticator(registry, rows, clock=clock)
    with pytest.raises(CredentialError):
        auth.authenticate("enc_aaaaaaaaaaaa_" + "A" * 43)
    with pytest.raises(CredentialError, match="malformed"):
        auth.authenticate("sk-not-ours")


def test_capacity_bounds_the_cache(
    registry: RegistryService, admin: Operator, org_id: str, rows: KeyRows, clock: Any
) -> None:
    secrets = [registry.issue_key(admin, org_id, purposes=["general"]).secret for _ in range(3)]
    auth = Authenticator(registry, rows, clock=clock, capacity=2)
    for secret in secrets:
        auth.authenticate(secret)
    assert len(auth._cache) == 2
    auth.authenticate(secrets[0])  # evicted first: a miss, still correct
    assert auth.misses == 4
