from __future__ import annotations

import pytest

from enclave.registry import (
    Evidence,
    Operator,
    OrgStatus,
    RegistryConflict,
    RegistryInputError,
    RegistryService,
    RoleDenied,
    UnknownEntity,
)


def _apply(registry: RegistryService, admin: Operator, tier: str = "partner", name: str = "Acme"):
    return registry.create_org(
        admin,
        name=name,
        kind="partner",
        tier=tier,
        sector="energy",
        contact="sec@acme.example",
        evidence=Evidence(text="CERT member", links=("https://acme.example/security",)),
    )


def test_partner_approval_needs_two_distinct_operators(registry, admin, reviewers):
    org, app = _apply(registry, admin)
    first, second = reviewers
    _, org = registry.decide(first, app.id, decision="approve", reason="evidence checked")
    assert org.status is OrgStatus.UNDER_REVIEW

    with pytest.raises(RegistryConflict, match="four-eyes|already decided"):
        registry.decide(first, app.id, decision="approve", reason="again")

    app, org = registry.decide(second, app.id, decision="approve", reason="agree")
    assert org.status is OrgStatus.APPROVED
    assert org.approval_expires_at is not None
    assert [d.operator_id for d in app.decisions] == [first.id, second.id]


def test_public_tier_needs_one_approval(registry, admin, reviewers):
    _, app = _apply(registry, admin, tier="public", name="Someone")
    _, org = registry.decide(reviewers[0], app.id, decision="approve", reason="ok")
    assert org.status is OrgStatus.APPROVED


def test_rejection_is_terminal_for_the_application(registry, admin, reviewers):
    _, app = _apply(registry, admin)
    _, org = registry.decide(reviewers[0], app.id, decision="reject", reason="no evidence")
    assert org.status is OrgStatus.REJECTED
    with pytest.raises(RegistryConflict, match="already rejected"):
        registry.decide(reviewers[1], app.id, decision="approve", reason="late")


def test_every_state_change_records_who_when_why(registry, admin, reviewers):
    org, app = _apply(registry, admin)
    registry.decide(reviewers[0], app.id, decision="approve", reason="first look")
    registry.decide(reviewers[1], app.id, decision="approve", reason="second look")
    events = registry.list_events(admin, subject=org.id)
    statuses = [
        (e.event.data["status"], e.event.actor, e.event.data["reason"])
        for e in events
        if e.event.kind == "org.status"
    ]
    assert statuses == [
        ("under_review", f"operator:{reviewers[0].id}", "first look"),
        ("approved", f"operator:{reviewers[1].id}", "second look"),
    ]


def test_duplicate_name_and_unknown_tier_change_nothing(registry, admin):
    _apply(registry, admin)
    before = registry.list_events(admin)
    with pytest.raises(RegistryConflict, match="already exists"):
        _apply(registry, admin)
    with pytest.raises(RegistryInputError, match="unknown tier"):
        _apply(registry, admin, tier="gold", name="Other")
    assert registry.list_events(admin) == before
    assert len(registry.list_orgs(admin)) == 1


def test_auditor_is_read_only(registry, admin):
    auditor = registry.create_operator(admin, name="aud", roles=["auditor"]).operator
    with pytest.raises(RoleDenied):
        _apply(registry, auditor)
    org, app = _apply(registry, admin)
    with pytest.raises(RoleDenied):
        registry.decide(auditor, app.id, decision="approve", reason="x")
    with pytest.raises(RoleDenied):
        registry.set_status(auditor, org.id, "revoked", reason="x")
    assert registry.list_orgs(auditor)[0].id == org.id


def test_suspend_and_reinstate_only_from_valid_states(registry, admin, reviewers):
    org, app = _apply(registry, admin, tier="public")
    with pytest.raises(RegistryConflict, match="cannot become suspended"):
        registry.set_status(admin, org.id, "suspended", reason="x")
    registry.decide(reviewers[0], app.id, decision="approve", reason="ok")
    assert (
        registry.set_status(admin, "Acme", "suspended", reason="abuse").status
        is OrgStatus.SUSPENDED
    )
    assert (
        registry.set_status(admin, org.id, "approved", reason="cleared").status
        is OrgStatus.APPROVED
    )
    with pytest.raises(UnknownEntity):
        registry.set_status(admin, "nope", "revoked", reason="x")


def test_bad_evidence_refused(registry, admin):
    with pytest.raises(RegistryInputError, match="http"):
        registry.create_org(
            admin,
            name="X",
            kind="public",
            tier="public",
            evidence=Evidence(links=("javascript:alert(1)",)),
        )
    with pytest.raises(RegistryInputError, match="sha256"):
        registry.create_org(
            admin,
            name="X",
            kind="public",
            tier="public",
            evidence=Evidence(attachments=(("a.pdf", "md5:abc"),)),
        )
