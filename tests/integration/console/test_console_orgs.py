"""Organisations, the vetting queue (four-eyes through the console) and keys."""

from __future__ import annotations

import re

import pytest
from console_support import SignIn, approved, error_message

from enclave.registry import Operator, RegistryService

KEY = re.compile(r"enc_[a-z2-9]{12}_[A-Za-z0-9_-]{43}")


def snapshot(registry: RegistryService, actor: Operator) -> tuple[object, ...]:
    return (
        registry.list_events(actor, limit=1000),
        registry.list_orgs(actor),
        registry.list_applications(actor, status=None),
        registry.list_keys(actor),
    )


def new_org(registry: RegistryService, root: Operator, name: str = "Acme") -> tuple[str, str]:
    org, application = registry.create_org(root, name=name, kind="partner", tier="partner")
    return org.id, application.id


def test_four_eyes_approval_through_the_console(
    signed: SignIn, registry: RegistryService, operators: dict[str, Operator]
) -> None:
    root = operators["root"]
    org_id, app_id = new_org(registry, root)
    first, second = signed("rev-a"), signed("rev-b")
    queue = first.get("/vetting").text
    assert app_id in queue and "0 of 2" in queue

    page = first.done(
        first.post(f"/vetting/{app_id}/decide", {"decision": "approve", "reason": "ok"})
    )
    assert "Decision recorded." in page.text and "under_review" in page.text
    assert "You have decided" in first.get("/vetting").text
    again = first.post(f"/vetting/{app_id}/decide", {"decision": "approve", "reason": "twice"})
    assert again.status_code == 409 and "already decided" in error_message(again)
    assert registry.get_org(root, org_id)[0].status.value == "under_review"

    second.done(second.post(f"/vetting/{app_id}/decide", {"decision": "approve", "reason": "ok"}))
    assert registry.get_org(root, org_id)[0].status.value == "approved"
    kinds = [e.event.kind for e in registry.list_events(root, limit=1000)]
    assert kinds.count("application.approved") == 2
    detail = second.get(f"/orgs/{org_id}").text
    assert "rev-a" in detail and "rev-b" in detail


def test_reject_needs_confirmation_and_the_auditor_cannot_decide(
    signed: SignIn, registry: RegistryService, operators: dict[str, Operator]
) -> None:
    root = operators["root"]
    org_id, app_id = new_org(registry, root)
    auditor, reviewer = signed("auditor"), signed("rev-a")
    before = snapshot(registry, root)  # after signing in: sign-ins are events too
    assert app_id in auditor.get("/vetting").text  # reading is allowed
    denied = auditor.post(f"/vetting/{app_id}/decide", {"decision": "approve", "reason": "x"})
    assert denied.status_code == 403 and "needs role" in error_message(denied)
    unconfirmed = reviewer.post(f"/vetting/{app_id}/decide", {"decision": "reject", "reason": "no"})
    assert unconfirmed.status_code == 400 and "confirmation" in error_message(unconfirmed)
    for bad, status in (
        ({"decision": "maybe", "reason": "x"}, 400),
        ({"decision": "approve"}, 400),
        ({"decision": "approve", "reason": "   "}, 400),
    ):
        assert reviewer.post(f"/vetting/{app_id}/decide", bad).status_code == status
    missing = reviewer.post("/vetting/app_nope/decide", {"decision": "approve", "reason": "x"})
    assert missing.status_code == 404 and "app_nope" in error_message(missing)
    assert snapshot(registry, root) == before
    reviewer.done(
        reviewer.post(
            f"/vetting/{app_id}/decide", {"decision": "reject", "reason": "no"}, confirm=True
        )
    )
    assert registry.get_org(root, org_id)[0].status.value == "rejected"


def test_orgs_table_sorts_paginates_and_validates_its_query(
    signed: SignIn, registry: RegistryService, operators: dict[str, Operator]
) -> None:
    for i in range(12):
        registry.create_org(operators["root"], name=f"Org {i:02d}", kind="public", tier="public")
    auditor = signed("auditor")
    first = auditor.get("/orgs", params={"per": 10}).text
    names = re.findall(r">(Org \d\d)</a>", first)
    assert names == [f"Org {i:02d}" for i in range(10)]
    assert "Page 1 of 2" in first and 'rel="next"' in first
    second = auditor.get("/orgs", params={"per": 10, "page": 2}).text
    assert re.findall(r">(Org \d\d)</a>", second) == ["Org 10", "Org 11"]
    backwards = auditor.get("/orgs", params={"sort": "name", "dir": "desc", "per": 10}).text
    assert re.findall(r">(Org \d\d)</a>", backwards)[:2] == ["Org 11", "Org 10"]
    assert 'aria-sort="descending"' in backwards
    filtered = auditor.get("/orgs", params={"status": "applied", "per": 10, "page": 2}).text
    assert "status=applied" in filtered  # filters survive in the sort and pager links


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"sort": "password"}, "cannot sort by 'password'"),
        ({"dir": "sideways"}, "dir must be asc or desc"),
        ({"page": "0"}, "page must be at least 1"),
        ({"page": "-1"}, "page must be a positive whole number"),
        ({"page": "x"}, "page must be a positive whole number"),
        ({"page": "9"}, "page 9 does not exist"),
        ({"per": "7"}, "per must be one of 10, 25, 50, 100"),
        ({"status": "sleeping"}, "unknown status 'sleeping'"),
    ],
)
def test_bad_table_parameters_are_a_400_page(
    signed: SignIn, params: dict[str, str], message: str
) -> None:
    response = signed("auditor").get("/orgs", params=params, status=400)
    assert message in error_message(response)


def test_issue_a_key_shows_the_secret_once_and_revoke_needs_confirmation(
    signed: SignIn, registry: RegistryService, operators: dict[str, Operator]
) -> None:
    root_op = operators["root"]
    org_id = approved(registry, operators, "Acme", kind="partner").id
    root = signed("root")
    assert org_id in root.get("/keys/new").text
    issued = root.post(
        "/keys",
        {
            "org": org_id,
            "name": "ci",
            "purpose": ["vuln-detection", "remediation"],
            "expires_in": "30d",
        },
    )
    assert issued.status_code == 200, issued.text
    secrets = KEY.findall(issued.text)
    assert len(set(secrets)) == 1
    secret = secrets[0]
    assert issued.headers["cache-control"] == "no-store"
    principal = registry.authenticate(secret)
    assert principal.key.purposes == ("vuln-detection", "remediation")
    for path in ("/keys", f"/keys?org={org_id}", f"/orgs/{org_id}", "/"):
        page = root.get(path).text
        # enc_<prefix>_<body>: the body may itself hold "_", so split from the left.
        assert secret not in page and secret.split("_", 2)[2] not in page
    assert principal.key.prefix in root.get("/keys").text

    key_id = principal.key.id
    unconfirmed = root.post(f"/keys/{key_id}/revoke", {"reason": "rotated"})
    assert unconfirmed.status_code == 400
    assert registry.list_keys(root_op)[0].revoked_at is None
    page = root.done(root.post(f"/keys/{key_id}/revoke", {"reason": "rotated"}, confirm=True))
    assert "Key revoked." in page.text and "rotated" in page.text
    assert registry.list_keys(root_op)[0].revoke_reason == "rotated"


def test_key_forms_refuse_bad_input_and_other_roles(
    signed: SignIn, registry: RegistryService, operators: dict[str, Operator]
) -> None:
    root_op = operators["root"]
    org_id = approved(registry, operators, "Acme", kind="partner").id
    reviewer, root = signed("rev-a"), signed("root")
    before = snapshot(registry, root_op)
    denied = reviewer.post("/keys", {"org": org_id, "purpose": "remediation"})
    assert denied.status_code == 403 and "issuing a key needs role admin" in error_message(denied)
    for form, status, message in (
        ({"org": org_id}, 400, "at least one purpose"),
        ({"org": org_id, "purpose": "remediation", "expires_in": "soon"}, 400, "expiry"),
        ({"org": org_id, "purpose": "mining"}, 400, "unknown purpose"),
        ({"org": "org_nope", "purpose": "remediation"}, 404, "unknown organisation"),
        ({"purpose": "remediation"}, 400, "org is required"),
    ):
        response = root.post("/keys", form)
        assert response.status_code == status, (form, response.text)
        assert message in error_message(response)
        assert not KEY.search(response.text)
    missing = root.post("/keys/key_nope/revoke", {"reason": "x"}, confirm=True)
    assert missing.status_code == 404
    assert snapshot(registry, root_op) == before
