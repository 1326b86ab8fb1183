"""Assets over the admin API (real HTTP, SQLite and PostgreSQL): claim, what-to-publish,
attestation with four-eyes, holds, key scope; every refusal a problem that changes nothing.
(The challenge protocols themselves run against loopback servers in tests/unit/assets.)"""

from __future__ import annotations

from admin_support import Api, Ops, assert_problem, unchanged

from enclave.registry import RegistryService


def test_claim_challenge_attest_scope_and_revoke(
    api: Api, registry: RegistryService, ops: Ops
) -> None:
    acme = api.approved_org("Acme")
    beta = api.approved_org("Beta")
    domain = api.ok("POST", "/assets", {"org": acme, "kind": "domain", "value": "Acme.Example"})
    assert domain["value"] == "acme.example" and domain["state"] == "pending"

    issued = api.post(f"/assets/{domain['id']}/challenges", {"method": "dns-01"}, as_="rev-a")
    assert issued.status_code == 201, issued.text
    publish = issued.json()["publish"]
    assert publish["where"] == "_enclave-challenge.acme.example"
    assert publish["content"] in publish["instructions"]
    shown = api.ok("GET", f"/assets/{domain['id']}", as_="auditor")
    assert shown["publish"] == publish and shown["asset"]["challenge_method"] == "dns-01"

    with unchanged(registry, ops.root):
        scoped = api.post("/keys", {"org": acme, "purposes": ["general"], "scope": [domain["id"]]})
        assert "pending, not verified" in assert_problem(scoped, 400, "invalid_input")["detail"]

    api.ok("POST", f"/assets/{domain['id']}/attest", {"reason": "registrar letter"}, as_="rev-a")
    with unchanged(registry, ops.root):
        same = api.post(f"/assets/{domain['id']}/approve", {"reason": "me"}, as_="rev-a")
        assert "different operator" in (assert_problem(same, 409, "conflict").get("hint") or "")
    done = api.ok("POST", f"/assets/{domain['id']}/approve", {"reason": "ok"}, as_="rev-b")
    assert done["state"] == "verified"
    assert done["verification"]["method"] == "operator-attestation"

    key = api.ok("POST", "/keys", {"org": acme, "purposes": ["general"], "scope": [domain["id"]]})
    assert key["key"]["scope"] == [domain["id"]]
    with unchanged(registry, ops.root):
        foreign = api.post("/keys", {"org": beta, "purposes": ["general"], "scope": [domain["id"]]})
        assert "another organisation" in assert_problem(foreign, 400, "invalid_input")["detail"]

    # Beta's overlapping claim, once proven, is held for an operator.
    claim = api.ok("POST", "/assets", {"org": beta, "kind": "host", "value": "www.acme.example"})
    api.ok("POST", f"/assets/{claim['id']}/attest", {"reason": "they say so"}, as_="rev-a")
    held = api.ok("POST", f"/assets/{claim['id']}/approve", {"reason": "ok"}, as_="rev-b")
    assert held["state"] == "held" and domain["id"] in held["hold_reason"]
    assert [a["id"] for a in api.ok("GET", "/assets?status=held")["items"]] == [claim["id"]]

    assert registry.authenticate(key["secret"]).key.scope == (domain["id"],)
    gone = api.ok("POST", f"/assets/{domain['id']}/revoke", {"reason": "sold the domain"})
    assert gone["state"] == "revoked"
    assert registry.authenticate(key["secret"]).key.scope == ()
    kinds = [e["kind"] for e in api.ok("GET", f"/events?subject={domain['id']}")["items"]]
    assert kinds == [
        "asset.added",
        "asset.challenge_issued",
        "asset.attested",
        "asset.verified",
        "asset.revoked",
    ]


def test_refusals_are_problems_that_change_nothing(
    api: Api, registry: RegistryService, ops: Ops
) -> None:
    acme = api.approved_org("Acme")
    host = api.ok("POST", "/assets", {"org": acme, "kind": "host", "value": "db1.acme.example"})
    with unchanged(registry, ops.root):
        planet = api.post("/assets", {"org": acme, "kind": "planet", "value": "x"})
        assert assert_problem(planet, 422, "validation_failed")["errors"][0]["pointer"] == "#/kind"
        bad = api.post("/assets", {"org": acme, "kind": "repo", "value": "ext::sh%20-c%20id"})
        assert "git URL" in assert_problem(bad, 400, "invalid_input")["detail"]
        assert_problem(api.get("/assets/ast_nope"), 404, "not_found")
        wrong = api.post(f"/assets/{host['id']}/challenges", {"method": "http-01"})
        assert "cannot prove a host" in assert_problem(wrong, 400, "invalid_input")["detail"]
        denied = api.post(f"/assets/{host['id']}/revoke", {"reason": "x"}, as_="auditor")
        assert_problem(denied, 403, "forbidden")
    # A failed check is recorded (one event), the asset unchanged.
    before = api.ok("GET", f"/assets/{host['id']}")
    failed = api.post(f"/assets/{host['id']}/verify", {})
    problem = assert_problem(failed, 409, "challenge_failed")
    assert problem["detail"].startswith("not_covered:")
    assert api.ok("GET", f"/assets/{host['id']}") == before
    events = api.ok("GET", "/events?kind=asset.verification_failed")["items"]
    assert [e["data"]["outcome"] for e in events] == ["not_covered"]
