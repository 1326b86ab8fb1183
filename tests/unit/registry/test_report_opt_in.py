"""Naming an organisation in public transparency reports: admin only, recorded, stored."""

from __future__ import annotations

import pytest

from enclave.registry import Operator, RegistryService, RoleDenied, UnknownEntity


def test_opt_in_is_stored_and_recorded_once(registry: RegistryService, admin: Operator) -> None:
    org, _ = registry.create_org(admin, name="curl", kind="maintainer", tier="maintainer")
    assert org.report_opt_in is False
    changed = registry.set_report_opt_in(admin, "curl", opt_in=True)
    assert changed.report_opt_in is True
    assert registry.get_org(admin, org.id)[0].report_opt_in is True
    registry.set_report_opt_in(admin, org.id, opt_in=True)  # no change, no second event
    registry.set_report_opt_in(admin, org.id, opt_in=False)
    events = registry.list_events(admin, kind="org.report_opt_in")
    assert [(e.event.subject, e.event.data) for e in events] == [
        (org.id, {"report_opt_in": True, "previous": False}),
        (org.id, {"report_opt_in": False, "previous": True}),
    ]
    assert all(e.event.actor == f"operator:{admin.id}" for e in events)
    assert registry.get_org(admin, org.id)[0].report_opt_in is False


def test_only_an_admin_opts_in_and_unknown_organisations_are_refused(
    registry: RegistryService, admin: Operator
) -> None:
    registry.create_org(admin, name="curl", kind="maintainer", tier="maintainer")
    reviewer = registry.create_operator(admin, name="rev", roles=["reviewer"]).operator
    with pytest.raises(RoleDenied, match="needs role admin"):
        registry.set_report_opt_in(reviewer, "curl", opt_in=True)
    with pytest.raises(UnknownEntity):
        registry.set_report_opt_in(admin, "nobody", opt_in=True)
    assert registry.get_org(admin, "curl")[0].report_opt_in is False
    assert registry.list_events(admin, kind="org.report_opt_in") == []
