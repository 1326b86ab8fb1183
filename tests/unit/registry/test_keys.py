from __future__ import annotations

from datetime import timedelta

import pytest

from enclave.registry import (
    CredentialError,
    KeyLimits,
    Operator,
    Organisation,
    RegistryConflict,
    RegistryInputError,
    RegistryService,
    RoleDenied,
    UnknownEntity,
    parse_duration,
)


@pytest.fixture
def acme(registry: RegistryService, admin: Operator, reviewers) -> Organisation:
    _, app = registry.create_org(admin, name="Acme", kind="partner", tier="partner")
    registry.decide(reviewers[0], app.id, decision="approve", reason="a")
    return registry.decide(reviewers[1], app.id, decision="approve", reason="b")[1]


def test_key_is_shown_once_and_stored_only_as_hash(registry, admin, acme, db):
    issued = registry.issue_key(admin, acme.id, purposes=["vuln-detection", "remediation"])
    assert issued.secret.startswith("enc_")
    with db.reader() as unit:
        found = unit.find_key_by_prefix(issued.key.prefix)
    assert found is not None
    _, digest, _ = found
    assert issued.secret not in digest and len(digest) == 64
    events = registry.list_events(admin, kind="key.issued")
    assert issued.secret not in repr(events)
    principal = registry.authenticate(issued.secret)
    assert principal.org.id == acme.id and principal.tier == "partner"
    assert principal.key.purposes == ("vuln-detection", "remediation")


def test_wrong_or_malformed_secret_is_refused(registry, admin, acme):
    issued = registry.issue_key(admin, acme.id, purposes=["general"])
    tampered = issued.secret[:-1] + ("A" if issued.secret[-1] != "A" else "B")
    with pytest.raises(CredentialError, match="invalid API key"):
        registry.authenticate(tampered)
    for bad in ["", "enc_", "sk-openai-style", issued.secret + "x", "eop" + issued.secret[3:]]:
        with pytest.raises(CredentialError):
            registry.authenticate(bad)


def test_revocation_takes_effect_on_next_request(registry, admin, acme):
    issued = registry.issue_key(admin, acme.id, purposes=["general"])
    registry.authenticate(issued.secret)
    registry.revoke_key(admin, issued.key.id, reason="leaked")
    with pytest.raises(CredentialError, match="revoked"):
        registry.authenticate(issued.secret)
    with pytest.raises(RegistryConflict, match="already revoked"):
        registry.revoke_key(admin, issued.key.prefix, reason="again")


def test_expired_key_and_expired_approval(registry, admin, acme, clock):
    issued = registry.issue_key(admin, acme.id, purposes=["general"], expires_in=timedelta(days=1))
    clock.advance(days=1)
    with pytest.raises(CredentialError, match="expired"):
        registry.authenticate(issued.secret)
    clock.advance(days=100)
    long = registry.issue_key(admin, acme.id, purposes=["general"], expires_in=timedelta(days=300))
    # The key never outlives the organisation's approval.
    assert long.key.expires_at == acme.approval_expires_at


def test_suspended_org_keys_stop_working(registry, admin, acme):
    issued = registry.issue_key(admin, acme.id, purposes=["general"])
    registry.set_status(admin, acme.id, "suspended", reason="investigation")
    with pytest.raises(CredentialError, match="suspended"):
        registry.authenticate(issued.secret)
    with pytest.raises(RegistryConflict, match="is suspended"):
        registry.issue_key(admin, acme.id, purposes=["general"])
    registry.set_status(admin, acme.id, "approved", reason="cleared")
    assert registry.authenticate(issued.secret).org.id == acme.id


def test_purposes_checked_against_tier(registry, admin, reviewers):
    _, app = registry.create_org(admin, name="Pub", kind="public", tier="public")
    registry.decide(reviewers[0], app.id, decision="approve", reason="ok")
    before = registry.list_events(admin)
    with pytest.raises(RegistryInputError, match="does not allow"):
        registry.issue_key(admin, "Pub", purposes=["penetration-testing"])
    with pytest.raises(RegistryInputError, match="unknown purpose"):
        registry.issue_key(admin, "Pub", purposes=["world-domination"])
    with pytest.raises(RegistryInputError, match="at least one purpose"):
        registry.issue_key(admin, "Pub", purposes=[])
    with pytest.raises(RegistryInputError, match="at most 90 days"):
        registry.issue_key(admin, "Pub", purposes=["general"], expires_in=timedelta(days=91))
    with pytest.raises(RegistryInputError, match="positive"):
        registry.issue_key(admin, "Pub", purposes=["general"], limits=KeyLimits(0, None))
    with pytest.raises(UnknownEntity):
        registry.issue_key(admin, "Nobody", purposes=["general"])
    assert registry.list_events(admin) == before
    assert registry.list_keys(admin) == []


def test_only_admins_issue_and_revoke(registry, acme, reviewers, admin):
    with pytest.raises(RoleDenied):
        registry.issue_key(reviewers[0], acme.id, purposes=["general"])
    issued = registry.issue_key(admin, acme.id, purposes=["general"])
    with pytest.raises(RoleDenied):
        registry.revoke_key(reviewers[0], issued.key.id, reason="x")


def test_operator_tokens(registry, admin):
    issued = registry.create_operator(admin, name="alice", roles=["reviewer"])
    assert registry.authenticate_operator(issued.token).name == "alice"
    with pytest.raises(CredentialError):
        registry.authenticate_operator(issued.token[:-2] + "zz")
    with pytest.raises(RoleDenied, match="operators exist"):
        registry.create_operator(None, name="mallory", roles=["admin"])
    with pytest.raises(RegistryInputError):
        registry.create_operator(admin, name="bob", roles=["superuser"])


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("30d", timedelta(days=30)), ("12h", timedelta(hours=12)), ("90m", timedelta(minutes=90))],
)
def test_parse_duration(spec, expected):
    assert parse_duration(spec) == expected


@pytest.mark.parametrize("spec", ["", "d", "30", "-1d", "1.5d", "30w", "3 0d"])
def test_parse_duration_refuses(spec):
    with pytest.raises(RegistryInputError, match="expected a number"):
        parse_duration(spec)
