"""The admin API end to end over HTTP (uvicorn on 127.0.0.1), on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from admin_support import KEY_PATTERN, TOKEN_PATTERN, Api, Ops, assert_problem, unchanged

from enclave.registry import CredentialError, RegistryService


def test_vetting_flow_with_four_eyes_then_key_issue_and_revocation(
    api: Api, registry: RegistryService, ops: Ops
) -> None:
    created = api.post(
        "/orgs",
        {
            "name": "Acme Grid",
            "kind": "partner",
            "tier": "partner",
            "sector": "energy",
            "contact": "security@acme.example",
            "evidence": {
                "text": "National CERT member since 2019",
                "links": ["https://acme.example/security"],
                "attachments": [{"name": "charter.pdf", "sha256": "sha256:" + "ab" * 32}],
            },
        },
    )
    assert created.status_code == 201, created.text
    org = created.json()["organisation"]
    app_id = created.json()["application"]["id"]
    assert org["status"] == "applied"
    assert created.json()["application"]["evidence"]["attachments"][0]["name"] == "charter.pdf"

    pending = api.ok("GET", "/applications", as_="auditor")["items"]
    assert [a["id"] for a in pending] == [app_id]

    first = api.ok(
        "POST",
        f"/applications/{app_id}/decisions",
        {"decision": "approve", "reason": "evidence checked"},
        as_="rev-a",
    )
    assert first["organisation"]["status"] == "under_review"
    assert first["application"]["status"] == "pending"

    # Four-eyes: the same reviewer cannot supply the second approval.
    with unchanged(registry, ops.root):
        again = api.post(
            f"/applications/{app_id}/decisions",
            {"decision": "approve", "reason": "still fine"},
            as_="rev-a",
        )
        body = assert_problem(again, 409, "conflict")
        assert "four-eyes" in body["hint"]

    second = api.ok(
        "POST",
        f"/applications/{app_id}/decisions",
        {"decision": "approve", "reason": "agree"},
        as_="rev-b",
    )
    assert second["organisation"]["status"] == "approved"
    assert second["application"]["status"] == "approved"
    assert [d["reason"] for d in second["application"]["decisions"]] == [
        "evidence checked",
        "agree",
    ]

    issued = api.post(
        "/keys",
        {
            "org": "Acme Grid",
            "purposes": ["vuln-detection", "remediation"],
            "name": "ci scanner",
            "expires": "30d",
            "limits": {"requests_per_minute": 60},
        },
    )
    assert issued.status_code == 201, issued.text
    assert issued.headers["cache-control"] == "no-store"
    secret = issued.json()["secret"]
    key = issued.json()["key"]
    assert re.match(KEY_PATTERN, secret)
    assert key["state"] == "active" and key["org_id"] == org["id"]
    assert key["purposes"] == ["vuln-detection", "remediation"]
    assert key["limits"] == {"requests_per_minute": 60, "tokens_per_minute": None}

    principal = registry.authenticate(secret)
    assert principal.org.id == org["id"] and principal.key.id == key["id"]

    # Shown once: no listing, event or read returns the secret (or anything like a digest).
    for path in ("/keys", f"/keys?org={org['id']}", "/events?limit=1000", f"/orgs/{org['id']}"):
        text = api.get(path, as_="auditor").text
        assert secret not in text and secret[-43:] not in text
        assert "digest" not in text
    listed = api.ok("GET", "/keys")["items"]
    assert [k["id"] for k in listed] == [key["id"]] and "secret" not in listed[0]

    detail = api.ok("GET", "/orgs/Acme Grid", as_="auditor")
    assert detail["organisation"]["id"] == org["id"]
    assert [a["status"] for a in detail["applications"]] == ["approved"]

    revoked = api.ok("POST", f"/keys/{key['id']}/revoke", {"reason": "rotated"})
    assert revoked["state"] == "revoked" and revoked["revoke_reason"] == "rotated"
    with pytest.raises(CredentialError, match="revoked"):
        registry.authenticate(secret)
    with unchanged(registry, ops.root):
        assert_problem(api.post(f"/keys/{key['id']}/revoke", {"reason": "again"}), 409)

    kinds = [e["kind"] for e in api.ok("GET", "/events?limit=1000")["items"]]
    assert kinds[-8:] == [
        "org.created",
        "application.submitted",
        "application.approved",
        "org.status",
        "application.approved",
        "org.status",
        "key.issued",
        "key.revoked",
    ]


def test_org_reads_by_id_and_name_and_filters(api: Api) -> None:
    acme = api.approved_org("Acme")
    api.ok("POST", "/orgs", {"name": "Beta", "kind": "maintainer", "tier": "maintainer"})
    assert api.ok("GET", f"/orgs/{acme}")["organisation"]["name"] == "Acme"
    assert api.ok("GET", "/orgs/Acme")["organisation"]["id"] == acme
    names = [o["name"] for o in api.ok("GET", "/orgs", as_="auditor")["items"]]
    assert names == ["Acme", "Beta"]
    approved = api.ok("GET", "/orgs?status=approved")["items"]
    assert [o["name"] for o in approved] == ["Acme"]
    applied = api.ok("GET", "/orgs?status=applied")["items"]
    assert [o["name"] for o in applied] == ["Beta"]


def test_status_changes_suspend_reinstate_revoke(api: Api, registry: RegistryService) -> None:
    org = api.approved_org("Acme")
    secret = api.ok("POST", "/keys", {"org": org, "purposes": ["general"]})["secret"]

    suspended = api.ok("POST", f"/orgs/{org}/status", {"action": "suspend", "reason": "abuse"})
    assert suspended["status"] == "suspended"
    with pytest.raises(CredentialError, match="suspended"):
        registry.authenticate(secret)

    reinstated = api.ok("POST", f"/orgs/{org}/status", {"action": "reinstate", "reason": "ok"})
    assert reinstated["status"] == "approved"
    assert registry.authenticate(secret).org.id == org

    assert_problem(api.post(f"/orgs/{org}/status", {"action": "reinstate", "reason": "twice"}), 409)
    revoked = api.ok("POST", f"/orgs/{org}/status", {"action": "revoke", "reason": "left"})
    assert revoked["status"] == "revoked"
    with pytest.raises(CredentialError):
        registry.authenticate(secret)
    statuses = [
        (e["data"]["status"], e["data"]["reason"])
        for e in api.ok("GET", f"/events?subject={org}&kind=org.status")["items"]
    ]
    assert statuses[-3:] == [("suspended", "abuse"), ("approved", "ok"), ("revoked", "left")]


def test_report_opt_in_is_set_shown_and_recorded(api: Api) -> None:
    org = api.approved_org("Acme")
    assert api.ok("GET", f"/orgs/{org}")["organisation"]["report_opt_in"] is False
    assert api.ok("PUT", f"/orgs/{org}/report-opt-in", {"opt_in": True})["report_opt_in"] is True
    assert api.ok("GET", f"/orgs/{org}")["organisation"]["report_opt_in"] is True
    # Not a boolean, or an unknown field: refused, nothing changes.
    for bad in ({"opt_in": "yes"}, {"opt_in": 1}, {}, {"opt_in": False, "extra": 1}):
        assert_problem(api.request("PUT", f"/orgs/{org}/report-opt-in", bad), 422)
    assert api.ok("GET", f"/orgs/{org}")["organisation"]["report_opt_in"] is True
    assert_problem(api.request("PUT", "/orgs/nobody/report-opt-in", {"opt_in": True}), 404)
    api.ok("PUT", f"/orgs/{org}/report-opt-in", {"opt_in": False})
    changes = [
        (e["data"]["report_opt_in"], e["actor"])
        for e in api.ok("GET", f"/events?subject={org}&kind=org.report_opt_in")["items"]
    ]
    assert [opt for opt, _ in changes] == [True, False]
    assert all(actor.startswith("operator:") for _, actor in changes)


def test_rejection_and_renewal_application(api: Api) -> None:
    created = api.ok("POST", "/orgs", {"name": "Gamma", "kind": "partner", "tier": "partner"})
    org, app_id = created["organisation"]["id"], created["application"]["id"]
    rejected = api.ok(
        "POST",
        f"/applications/{app_id}/decisions",
        {"decision": "reject", "reason": "no evidence"},
        as_="rev-a",
    )
    assert rejected["organisation"]["status"] == "rejected"
    assert [a["id"] for a in api.ok("GET", "/applications?status=rejected")["items"]] == [app_id]
    assert api.ok("GET", "/applications")["items"] == []

    renewal = api.post(
        f"/orgs/{org}/applications",
        {"tier": "maintainer", "evidence": {"text": "now with a security policy"}},
        as_="rev-b",
    )
    assert renewal.status_code == 201, renewal.text
    assert renewal.json()["tier"] == "maintainer"
    assert [a["id"] for a in api.ok("GET", "/applications")["items"]] == [renewal.json()["id"]]
    assert len(api.ok("GET", "/applications?status=all")["items"]) == 2


def test_key_expiry_is_seen_by_authentication(api: Api, registry: RegistryService, clock) -> None:
    org = api.approved_org("Acme", tier="public", kind="public")
    issued = api.ok("POST", "/keys", {"org": org, "purposes": ["general"], "expires": "90m"})
    assert registry.authenticate(issued["secret"]).key.id == issued["key"]["id"]
    clock.advance(minutes=91)
    with pytest.raises(CredentialError, match="expired"):
        registry.authenticate(issued["secret"])
    assert [k["state"] for k in api.ok("GET", "/keys")["items"]] == ["expired"]


def test_operators_created_by_admin_get_a_working_token_once(
    api: Api, registry: RegistryService, ops: Ops
) -> None:
    created = api.post("/operators", {"name": "carol", "roles": ["auditor"]})
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    token = created.json()["token"]
    assert re.match(TOKEN_PATTERN, token)
    assert created.json()["operator"]["roles"] == ["auditor"]

    listed = api.get("/operators", as_="auditor")
    assert sorted(o["name"] for o in listed.json()["items"]) == [
        "auditor",
        "carol",
        "rev-a",
        "rev-b",
        "root",
    ]
    assert token not in listed.text and "token" not in listed.text
    events = api.get("/events?kind=operator.created&limit=1000").text
    assert token not in events and token[-43:] not in events

    as_carol = api.get("/orgs", as_=None, headers={"Authorization": f"Bearer {token}"})
    assert as_carol.status_code == 200
    with unchanged(registry, ops.root):
        assert_problem(api.post("/operators", {"name": "carol", "roles": ["admin"]}), 409)


def test_events_page_by_sequence_and_filter(api: Api) -> None:
    acme = api.approved_org("Acme")
    api.ok("POST", "/orgs", {"name": "Beta", "kind": "partner", "tier": "partner"})
    everything = api.ok("GET", "/events?limit=1000", as_="auditor")["items"]
    seqs = [e["seq"] for e in everything]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)

    pages, after = [], 0
    while True:
        page = api.ok("GET", f"/events?after={after}&limit=3")
        if not page["items"]:
            assert page["next_after"] == after
            break
        assert len(page["items"]) <= 3
        pages.extend(page["items"])
        after = page["next_after"]
    assert pages == everything

    created = api.ok("GET", "/events?kind=org.created")["items"]
    assert [e["data"]["name"] for e in created] == ["Acme", "Beta"]
    about_acme = api.ok("GET", f"/events?subject={acme}")["items"]
    assert {e["subject"] for e in about_acme} == {acme}
    assert all(e["actor"].startswith("operator:") for e in about_acme)


def test_openapi_document_lists_every_route(api: Api) -> None:
    response = api.get("/openapi.json", as_=None)
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.")
    assert doc["servers"] == [{"url": "/admin/v1"}]
    operations = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    assert operations == {
        ("POST", "/orgs"),
        ("GET", "/orgs"),
        ("GET", "/orgs/{ref}"),
        ("POST", "/orgs/{ref}/status"),
        ("PUT", "/orgs/{ref}/report-opt-in"),
        ("POST", "/orgs/{ref}/applications"),
        ("GET", "/applications"),
        ("POST", "/applications/{app_id}/decisions"),
        ("POST", "/keys"),
        ("GET", "/keys"),
        ("POST", "/keys/{key_id}/revoke"),
        ("POST", "/operators"),
        ("GET", "/operators"),
        ("GET", "/events"),
        ("POST", "/assets"),
        ("GET", "/assets"),
        ("GET", "/assets/{asset_id}"),
        ("POST", "/assets/{asset_id}/challenges"),
        ("POST", "/assets/{asset_id}/verify"),
        ("POST", "/assets/{asset_id}/attest"),
        ("POST", "/assets/{asset_id}/approve"),
        ("POST", "/assets/{asset_id}/release"),
        ("POST", "/assets/{asset_id}/revoke"),
        ("POST", "/findings"),
        ("GET", "/findings"),
        ("GET", "/findings/{finding_id}"),
        ("GET", "/cases"),
        ("GET", "/cases/{case_id}"),
        ("GET", "/cases/{case_id}/details"),
        ("GET", "/cases/{case_id}/timeline"),
        ("GET", "/cases/{case_id}/advisory"),
        ("POST", "/cases/{case_id}/maintainers"),
        ("POST", "/cases/{case_id}/notify"),
        ("POST", "/cases/{case_id}/links"),
        ("POST", "/cases/{case_id}/status"),
        ("POST", "/cases/{case_id}/deadline"),
        ("POST", "/cases/{case_id}/close"),
        ("POST", "/cases/{case_id}/publish"),
        ("GET", "/credits/accounts"),
        ("GET", "/credits/accounts/{account}/transfers"),
        ("POST", "/credits/pools/{pool}/fund"),
        ("POST", "/credits/grants"),
        ("GET", "/credits/grants"),
        ("GET", "/credits/orgs/{org}"),
        ("GET", "/credits/check"),
        ("POST", "/credits/sweep"),
        ("POST", "/credits/allocations/propose"),
        ("POST", "/credits/allocations/apply"),
        ("GET", "/sessions"),
        ("GET", "/sessions/{session_id}"),
        ("POST", "/sessions/{session_id}/hold"),
        ("POST", "/sessions/{session_id}/release"),
        ("POST", "/sessions/{session_id}/terminate"),
        ("GET", "/alerts"),
        ("GET", "/alerts/{alert_id}"),
        ("POST", "/alerts/{alert_id}/ack"),
        ("POST", "/alerts/{alert_id}/resolve"),
        ("POST", "/held/{held_id}/decide"),
    }
    schemes = doc["components"]["securitySchemes"]
    assert schemes["operatorToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["operatorToken"]["description"],
    }
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            assert operation["security"] == [{"operatorToken": []}], (method, path)
            problem = operation["responses"]["4XX"]["content"]
            assert problem == {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }
            assert "422" not in operation["responses"]
    # Every reference resolves (the document was post-processed).
    refs = set(re.findall(r'"\$ref":\s*"#/components/schemas/([^"]+)"', response.text))
    assert refs and refs <= set(doc["components"]["schemas"])
    # Request bodies forbid unknown fields and bound their strings.
    org_create = doc["components"]["schemas"]["OrgCreate"]
    assert org_create["additionalProperties"] is False
    assert org_create["properties"]["name"]["maxLength"] == 200


def test_healthz_is_untouched_by_the_admin_api(api: Api) -> None:
    response = api.http.get("/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"
