"""The credits routes of the admin API over real HTTP (uvicorn on loopback), on SQLite and
PostgreSQL. The routes are mounted here as the composition root will mount them
(``app.state.credits`` and ``include_router``; see docs/credits.md, "Admin API")."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from enclave.config import Settings
from enclave.gateway.admin import build_admin_app
from enclave.gateway.admin.credits import router as credits_router
from enclave.registry import Operator, RegistryService
from enclave.store import Database
from enclave.store.ledger_repo import open_credits
from serving import serve

M = 1_000_000


@pytest.fixture
def api(
    db: Database, settings: Settings, registry: RegistryService, admin: Operator, reviewers, clock
) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    tokens = {"admin": registry.create_operator(admin, name="root2", roles=["admin"]).token}
    tokens["auditor"] = registry.create_operator(admin, name="aud", roles=["auditor"]).token
    for name in ("curl", "zlib"):
        _, application = registry.create_org(admin, name=name, kind="maintainer", tier="maintainer")
        for reviewer in reviewers:
            registry.decide(reviewer, application.id, decision="approve", reason="ok")
    _, credits = open_credits(db, settings, clock=clock)
    app = build_admin_app(registry)
    app.state.credits = credits
    app.include_router(credits_router)

    with serve(app) as url, httpx.Client(base_url=f"{url}/credits", timeout=30) as http:
        yield http, tokens


def _auth(tokens: dict[str, str], who: str = "admin") -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[who]}"}


def _problem(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    if code:
        assert body["code"] == code, body
    return body


def test_fund_grant_read_check_sweep(api):
    http, tokens = api
    h = _auth(tokens)
    funded = http.post("/pools/oss/fund", json={"amount": 1000 * M, "create": True}, headers=h)
    assert funded.status_code == 201, funded.text
    assert funded.json()["credits"] == "1,000"
    body = {"org": "curl", "pool": "oss", "amount": 250 * M, "expires": "90d", "transfer_id": "g1"}
    granted = http.post("/grants", json=body, headers=h)
    assert granted.status_code == 201 and granted.json()["grant_expires_at"]
    assert http.post("/grants", json=body, headers=h).json() == granted.json()  # idempotent

    auditor = _auth(tokens, "auditor")
    statement = http.get("/orgs/curl", headers=auditor).json()
    assert statement["account"]["available"] == 250 * M
    assert [g["grant"]["id"] for g in statement["grants"]] == ["g1"]
    kinds = {a["kind"] for a in http.get("/accounts", headers=auditor).json()["items"]}
    assert kinds == {"issuer", "pool", "org", "consumed"}
    transfers = http.get("/accounts/oss/transfers", headers=auditor).json()["items"]
    assert [t["code"] for t in transfers] == ["grant", "fund"]
    assert http.get("/check", headers=auditor).json()["ok"] is True
    assert http.post("/sweep", headers=h).json()["expired"] == []


def test_refusals_are_problems_and_change_nothing(api):
    http, tokens = api
    h = _auth(tokens)
    http.post("/pools/oss/fund", json={"amount": 10 * M, "create": True}, headers=h)
    before = http.get("/accounts", headers=h).json()
    cases = [
        (http.post, "/grants", {"org": "curl", "pool": "oss", "amount": 1.5}, 422, None),
        (http.post, "/grants", {"org": "curl", "pool": "oss", "amount": "1"}, 422, None),
        (http.post, "/grants", {"org": "curl", "pool": "oss", "amount": -1}, 422, None),
        (http.post, "/grants", {"org": "ghost", "pool": "oss", "amount": 1}, 404,
         "unknown_account"),
        (http.post, "/grants", {"org": "curl", "pool": "oss", "amount": 11 * M}, 402,
         "insufficient_credits"),
        (http.post, "/pools/new/fund", {"amount": 1}, 404, "unknown_account"),
    ]  # fmt: skip
    for method, path, body, status, code in cases:
        _problem(method(path, json=body, headers=h), status, code)
    denied = http.post("/sweep", headers=_auth(tokens, "auditor"))
    _problem(denied, 403)
    _problem(http.get("/accounts"), 401)
    assert http.get("/accounts", headers=h).json() == before


def test_allocation_is_applied_only_as_confirmed(api):
    http, tokens = api
    h = _auth(tokens)
    http.post("/pools/oss/fund", json={"amount": 1000 * M, "create": True}, headers=h)
    request = {
        "pool": "oss",
        "budget": 600 * M,
        "assets": [
            {"org": "curl", "asset": "https://github.com/curl/curl",
             "signals": {"contributor_count": 1200, "dependents_count": 450000}},
            {"org": "zlib", "asset": "https://github.com/madler/zlib",
             "signals": {"contributor_count": 60, "dependents_count": 90000}},
        ],
    }  # fmt: skip
    proposal = http.post("/allocations/propose", json=request, headers=h).json()
    assert [c["org_name"] for c in proposal["candidates"]] == ["curl", "zlib"]
    assert http.get("/orgs/curl", headers=h).json()["account"] is None  # nothing granted
    wrong = http.post("/allocations/apply", json={**request, "digest": "0" * 64}, headers=h)
    _problem(wrong, 409, "conflict")
    applied = http.post(
        "/allocations/apply", json={**request, "digest": proposal["digest"]}, headers=h
    )
    assert applied.status_code == 201, applied.text
    assert sum(t["amount"] for t in applied.json()["items"]) == 600 * M
    bad = {**request, "assets": [{"org": "curl", "asset": "x", "signals": {"stars": 5}}]}
    _problem(http.post("/allocations/propose", json=bad, headers=h), 400, "invalid_input")
