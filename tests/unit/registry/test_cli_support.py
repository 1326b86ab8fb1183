"""Registry behaviour the CLI relies on: acting operators, operator listing, and a
suspension that only an admin can lift."""

from __future__ import annotations

import pytest

from enclave.registry import (
    Evidence,
    Operator,
    OrgStatus,
    RegistryConflict,
    RegistryService,
    RoleDenied,
    UnknownEntity,
)


def test_cli_acts_as_the_first_admin_by_default(registry: RegistryService, admin: Operator, clock):
    clock.advance(seconds=1)
    registry.create_operator(admin, name="aaa-reviewer", roles=["reviewer"])
    later = registry.create_operator(admin, name="aaa-admin", roles=["admin"]).operator
    assert registry.operator_for_cli(None).id == admin.id  # first created, not first by name
    assert registry.operator_for_cli("aaa-admin").id == later.id
    with pytest.raises(UnknownEntity, match="unknown operator 'nobody'"):
        registry.operator_for_cli("nobody")


def test_cli_without_any_admin_says_to_run_init(registry: RegistryService):
    with pytest.raises(UnknownEntity, match="no admin operator"):
        registry.operator_for_cli(None)


def test_list_operators_is_a_read(registry: RegistryService, admin: Operator):
    auditor = registry.create_operator(admin, name="aud", roles=["auditor"]).operator
    assert [o.name for o in registry.list_operators(auditor)] == ["aud", "root"]


def test_reviewers_cannot_lift_a_suspension_through_a_renewal(
    registry: RegistryService, admin: Operator, reviewers: tuple[Operator, Operator]
):
    first, second = reviewers
    org, app = registry.create_org(admin, name="Acme", kind="partner", tier="partner")
    registry.decide(first, app.id, decision="approve", reason="a")
    registry.decide(second, app.id, decision="approve", reason="b")
    renewal = registry.submit_application(
        first, org.id, tier="partner", evidence=Evidence(text="renewal")
    )
    registry.set_status(admin, org.id, "suspended", reason="abuse report")
    before = registry.list_events(admin)

    with pytest.raises(RegistryConflict, match="suspended"):
        registry.decide(first, renewal.id, decision="approve", reason="renew")
    registry.decide(first, renewal.id, decision="reject", reason="not while suspended")
    with pytest.raises(RegistryConflict, match="Acme is suspended"):
        registry.submit_application(
            second, org.id, tier="partner", evidence=Evidence(text="renewal")
        )
    with pytest.raises(RoleDenied):
        registry.set_status(first, org.id, "approved", reason="lift")
    assert registry.get_org(admin, org.id)[0].status is OrgStatus.SUSPENDED
    assert len(registry.list_events(admin)) == len(before) + 1  # the rejection only

    assert registry.set_status(admin, org.id, "approved", reason="cleared").status is (
        OrgStatus.APPROVED
    )
