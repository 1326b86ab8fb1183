"""Roles over HTTP: auditor reads only, reviewer vets, admin does everything.

The table of mutations is checked against the OpenAPI document, so a mutating route added
later without a row here fails ``test_the_table_covers_every_route``.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from admin_support import MAX_BODY, Api, Ops, assert_problem, unchanged
from aiosmtpd.controller import Controller
from monitor_support import Monitored, record_session

from enclave.config import Settings
from enclave.config.disclosure import DisclosureConfig
from enclave.registry import RegistryService
from enclave.runtime import Runtime
from enclave.store.monitor_repo import build_monitor

SCHEMAS = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "schemas"


class _Sink:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


@pytest.fixture
def smtp_port() -> Iterator[int]:
    """A loopback SMTP server, so that `POST /cases/{id}/notify` can succeed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(_Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port
    controller.stop()


@pytest.fixture
def api_settings(settings: Settings, smtp_port: int) -> Settings:
    disclosure = DisclosureConfig.model_validate(
        {
            "data_key": "ab" * 32,
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "schema_dir": SCHEMAS,
        }
    )
    return settings.model_copy(update={"max_body_bytes": MAX_BODY, "disclosure": disclosure})


@dataclass(frozen=True)
class World:
    acme: str  # an approved partner organisation
    beta_app: str  # a pending application of another organisation
    key_id: str  # an active key of Acme
    case: str  # a disclosure case in triage with one maintainer
    maintainer: str  # that maintainer's participant id
    finding: str  # the case's finding
    other_case: str  # a second case, without maintainers
    assets: dict[str, str]  # what each asset route acts on -> asset id (see _assets)
    allocation: dict[str, Any]  # a proposed allocation from pool "oss" (with its digest)
    monitored: Monitored  # a monitored session of Acme's key with alerts and a held call


VECTOR = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"


def _finding(cwe: str) -> dict[str, Any]:
    return {
        "title": "Overflow",
        "purl": "pkg:npm/left-pad",
        "versions": ["1.0.0"],
        "location": "index.js:3",
        "cwe": cwe,
        "cvss_vector": VECTOR,
        "description": "details",
        "reporting_org": "Acme",
    }


def _assets(api: Api, acme: str, beta: str) -> dict[str, str]:
    """Assets each asset route can act on without a network: a domain verified by
    attestation, a host under it, an attested binary, a package, a repo, a held overlap."""

    def add(org: str, kind: str, value: str) -> str:
        return str(api.ok("POST", "/assets", {"org": org, "kind": kind, "value": value})["id"])

    def attested(asset: str) -> None:
        api.ok("POST", f"/assets/{asset}/attest", {"reason": "contract seen"}, as_="rev-b")

    domain = add(acme, "domain", "acme.example")
    attested(domain)
    api.ok("POST", f"/assets/{domain}/approve", {"reason": "agreed"})
    binary = add(acme, "binary", "sha256:" + "a" * 64)
    attested(binary)
    held = add(beta, "domain", "acme.example")
    attested(held)
    api.ok("POST", f"/assets/{held}/approve", {"reason": "agreed"})
    return {
        "domain": domain,
        "host": add(acme, "host", "db1.acme.example"),
        "binary": binary,
        "package": add(acme, "package", "pkg:pypi/acme-tools"),
        "repo": add(acme, "repo", "https://git.acme.example/team/app"),
        "held": held,
    }


M = 1_000_000  # micro-credits per credit


def _allocation(api: Api, acme: str) -> dict[str, Any]:
    """Fund pool "oss" and propose an allocation from it (proposing grants nothing)."""
    api.ok("POST", "/credits/pools/oss/fund", {"amount": 1000 * M, "create": True})
    request = {
        "pool": "oss",
        "budget": 10 * M,
        "assets": [{"org": acme, "asset": "https://git.acme.example/team/app",
                    "signals": {"contributor_count": 12, "dependents_count": 4000}}],
    }  # fmt: skip
    proposal = api.ok("POST", "/credits/allocations/propose", request)
    return {**request, "digest": proposal["digest"]}


@pytest.fixture
def world(api: Api, runtime: Runtime, registry: RegistryService) -> World:
    acme = api.approved_org("Acme")
    beta = api.ok("POST", "/orgs", {"name": "Beta", "kind": "partner", "tier": "partner"})
    key = api.ok("POST", "/keys", {"org": acme, "purposes": ["general"]})
    monitor = build_monitor(runtime.settings, runtime.db)
    submitted = api.ok("POST", "/findings", _finding("CWE-787"))
    case = submitted["case"]["id"]
    vendor = api.ok("POST", f"/cases/{case}/maintainers", {"name": "m", "email": "m@example.org"})
    other = api.ok("POST", "/findings", _finding("CWE-125"))["case"]["id"]
    return World(
        acme=acme,
        beta_app=beta["application"]["id"],
        key_id=key["key"]["id"],
        case=case,
        maintainer=vendor["id"],
        finding=submitted["finding"]["id"],
        other_case=other,
        assets=_assets(api, acme, beta["organisation"]["id"]),
        allocation=_allocation(api, acme),
        monitored=record_session(monitor, registry, key["secret"]),
    )


Request = tuple[str, dict[str, Any]]
MUTATIONS: dict[tuple[str, str], Callable[[World], Request]] = {
    ("POST", "/orgs"): lambda w: (
        "/orgs",
        {"name": "Gamma", "kind": "partner", "tier": "partner"},
    ),
    ("POST", "/orgs/{ref}/applications"): lambda w: (
        f"/orgs/{w.acme}/applications",
        {"tier": "partner", "evidence": {"text": "annual renewal"}},
    ),
    ("POST", "/applications/{app_id}/decisions"): lambda w: (
        f"/applications/{w.beta_app}/decisions",
        {"decision": "approve", "reason": "evidence checked"},
    ),
    ("POST", "/keys"): lambda w: ("/keys", {"org": w.acme, "purposes": ["general"]}),
    ("POST", "/keys/{key_id}/revoke"): lambda w: (f"/keys/{w.key_id}/revoke", {"reason": "x"}),
    ("POST", "/operators"): lambda w: ("/operators", {"name": "eve", "roles": ["admin"]}),
    # Disclosure, in an order an admin can follow: notify before the deadline moves,
    # every maintainer fixed before the early publication.
    ("POST", "/findings"): lambda w: ("/findings", _finding("CWE-79")),
    ("POST", "/cases/{case_id}/maintainers"): lambda w: (
        f"/cases/{w.other_case}/maintainers",
        {"name": "n", "email": "n@example.org"},
    ),
    ("POST", "/cases/{case_id}/notify"): lambda w: (f"/cases/{w.case}/notify", {}),
    ("POST", "/cases/{case_id}/links"): lambda w: (
        f"/cases/{w.case}/links",
        {"participant": w.maintainer},
    ),
    ("POST", "/cases/{case_id}/status"): lambda w: (
        f"/cases/{w.case}/status",
        {"participant": w.maintainer, "status": "fixed", "fixed_version": "1.0.1"},
    ),
    ("POST", "/cases/{case_id}/deadline"): lambda w: (
        f"/cases/{w.case}/deadline",
        {"reason": "fix rolling out", "grace": True},
    ),
    ("POST", "/cases/{case_id}/publish"): lambda w: (
        f"/cases/{w.case}/publish",
        {"early_reason": "fixed and released"},
    ),
    ("POST", "/cases/{case_id}/close"): lambda w: (
        f"/cases/{w.other_case}/close",
        {"state": "withdrawn", "reason": "reporter withdrew"},
    ),
    ("POST", "/assets"): lambda w: (
        "/assets",
        {"org": w.acme, "kind": "domain", "value": "new.example"},
    ),
    ("POST", "/assets/{asset_id}/challenges"): lambda w: (
        f"/assets/{w.assets['domain']}/challenges",
        {"method": "dns-01"},
    ),
    ("POST", "/assets/{asset_id}/verify"): lambda w: (f"/assets/{w.assets['host']}/verify", {}),
    ("POST", "/assets/{asset_id}/attest"): lambda w: (
        f"/assets/{w.assets['package']}/attest",
        {"reason": "published by them"},
    ),
    ("POST", "/assets/{asset_id}/approve"): lambda w: (
        f"/assets/{w.assets['binary']}/approve",
        {"reason": "checked"},
    ),
    ("POST", "/assets/{asset_id}/release"): lambda w: (
        f"/assets/{w.assets['held']}/release",
        {"reason": "both confirmed"},
    ),
    ("POST", "/assets/{asset_id}/revoke"): lambda w: (
        f"/assets/{w.assets['repo']}/revoke",
        {"reason": "archived"},
    ),
    ("POST", "/credits/pools/{pool}/fund"): lambda w: (
        "/credits/pools/oss/fund",
        {"amount": 5 * M},
    ),
    ("POST", "/credits/grants"): lambda w: (
        "/credits/grants",
        {"org": w.acme, "pool": "oss", "amount": M},
    ),
    ("POST", "/credits/sweep"): lambda w: ("/credits/sweep", {}),
    ("POST", "/credits/allocations/apply"): lambda w: ("/credits/allocations/apply", w.allocation),
    # The monitor's triage (issue 7): the held call is decided before the session's
    # release would decide it.
    ("POST", "/alerts/{alert_id}/ack"): lambda w: (
        f"/alerts/{w.monitored.flagged_alert}/ack",
        {"note": "looking"},
    ),
    ("POST", "/alerts/{alert_id}/resolve"): lambda w: (
        f"/alerts/{w.monitored.flagged_alert}/resolve",
        {"resolution": "own lab"},
    ),
    ("POST", "/held/{held_id}/decide"): lambda w: (
        f"/held/{w.monitored.held}/decide",
        {"decision": "reject", "reason": "not in the plan"},
    ),
    ("POST", "/sessions/{session_id}/hold"): lambda w: (
        f"/sessions/{w.monitored.session}/hold",
        {"reason": "look closer"},
    ),
    ("POST", "/sessions/{session_id}/release"): lambda w: (
        f"/sessions/{w.monitored.session}/release",
        {},
    ),
    ("POST", "/sessions/{session_id}/terminate"): lambda w: (
        f"/sessions/{w.monitored.session}/terminate",
        {"reason": "done"},
    ),
    ("PUT", "/orgs/{ref}/report-opt-in"): lambda w: (
        f"/orgs/{w.acme}/report-opt-in",
        {"opt_in": True},
    ),
    ("POST", "/orgs/{ref}/status"): lambda w: (
        f"/orgs/{w.acme}/status",
        {"action": "suspend", "reason": "audit finding"},
    ),
}
READS: dict[tuple[str, str], Callable[[World], str]] = {
    ("GET", "/orgs"): lambda w: "/orgs",
    ("GET", "/orgs/{ref}"): lambda w: f"/orgs/{w.acme}",
    ("GET", "/applications"): lambda w: "/applications?status=all",
    ("GET", "/keys"): lambda w: "/keys",
    ("GET", "/operators"): lambda w: "/operators",
    ("GET", "/events"): lambda w: "/events",
    ("GET", "/findings"): lambda w: "/findings",
    ("GET", "/findings/{finding_id}"): lambda w: f"/findings/{w.finding}",
    ("GET", "/cases"): lambda w: "/cases",
    ("GET", "/cases/{case_id}"): lambda w: f"/cases/{w.case}",
    ("GET", "/cases/{case_id}/timeline"): lambda w: f"/cases/{w.case}/timeline",
    ("GET", "/assets"): lambda w: "/assets",
    ("GET", "/assets/{asset_id}"): lambda w: f"/assets/{w.assets['domain']}",
    ("GET", "/credits/accounts"): lambda w: "/credits/accounts",
    ("GET", "/credits/accounts/{account}/transfers"): lambda w: "/credits/accounts/oss/transfers",
    ("GET", "/credits/grants"): lambda w: "/credits/grants",
    ("GET", "/credits/orgs/{org}"): lambda w: f"/credits/orgs/{w.acme}",
    ("GET", "/credits/check"): lambda w: "/credits/check",
    ("GET", "/sessions"): lambda w: "/sessions",
    ("GET", "/sessions/{session_id}"): lambda w: f"/sessions/{w.monitored.session}",
    ("GET", "/alerts"): lambda w: "/alerts?status=open",
    ("GET", "/alerts/{alert_id}"): lambda w: f"/alerts/{w.monitored.flagged_alert}",
}
# A read made with POST (its body is too large for a query string): every role may propose
# an allocation, since proposing grants nothing.
POST_READS: dict[tuple[str, str], Callable[[World], Request]] = {
    ("POST", "/credits/allocations/propose"): lambda w: (
        "/credits/allocations/propose",
        {k: v for k, v in w.allocation.items() if k != "digest"},
    ),
}
# Reads not every role may make: embargoed details (admin only, each read recorded), and
# the advisory, which exists only once a case is disclosed (tests/integration/
# test_disclosure_e2e.py reads it).
RESTRICTED_READS: dict[tuple[str, str], Callable[[World], str]] = {
    ("GET", "/cases/{case_id}/details"): lambda w: f"/cases/{w.case}/details",
    ("GET", "/cases/{case_id}/advisory"): lambda w: f"/cases/{w.case}/advisory",
}
REVIEWER_MAY = {
    ("POST", "/findings"),
    ("POST", "/orgs"),
    ("POST", "/orgs/{ref}/applications"),
    ("POST", "/applications/{app_id}/decisions"),
    # Admins and reviewers manage assets (issue 8).
    ("POST", "/assets"),
    ("POST", "/assets/{asset_id}/challenges"),
    ("POST", "/assets/{asset_id}/verify"),
    ("POST", "/assets/{asset_id}/attest"),
    ("POST", "/assets/{asset_id}/approve"),
    ("POST", "/assets/{asset_id}/release"),
    ("POST", "/assets/{asset_id}/revoke"),
    # Admins and reviewers triage the monitor's sessions, alerts and held calls (issue 7).
    ("POST", "/alerts/{alert_id}/ack"),
    ("POST", "/alerts/{alert_id}/resolve"),
    ("POST", "/held/{held_id}/decide"),
    ("POST", "/sessions/{session_id}/hold"),
    ("POST", "/sessions/{session_id}/release"),
    ("POST", "/sessions/{session_id}/terminate"),
}


def test_the_table_covers_every_route(api: Api) -> None:
    doc = api.get("/openapi.json", as_=None).json()
    operations = {(m.upper(), path) for path, item in doc["paths"].items() for m in item}
    assert operations == set(MUTATIONS) | set(READS) | set(RESTRICTED_READS) | set(POST_READS)


def test_only_admins_read_embargoed_details(api: Api, world: World) -> None:
    path = RESTRICTED_READS["GET", "/cases/{case_id}/details"](world)
    for who in ("auditor", "rev-a"):
        assert_problem(api.get(path, as_=who), 403, "forbidden")
    body = api.ok("GET", path)
    assert body["findings"][0]["description"] == "details"


def test_admin_may_make_every_mutation(api: Api, world: World) -> None:
    # Also shows the table's requests are valid, so the 403s below come from the role check.
    # In table order, which leaves the suspension of Acme for last.
    for (method, template), make in MUTATIONS.items():
        path, body = make(world)
        response = api.request(method, path, body)
        assert response.is_success, (template, response.text)


def test_auditor_cannot_mutate_anything(
    api: Api, world: World, registry: RegistryService, ops: Ops
) -> None:
    with unchanged(registry, ops.root):
        for (method, _), make in MUTATIONS.items():
            path, body = make(world)
            problem = assert_problem(
                api.request(method, path, body, as_="auditor"), 403, "forbidden"
            )
            assert "auditor" in problem["detail"]


def test_reviewer_may_vet_but_not_administer(
    api: Api, world: World, registry: RegistryService, ops: Ops
) -> None:
    with unchanged(registry, ops.root):
        for route, make in MUTATIONS.items():
            if route not in REVIEWER_MAY:
                path, body = make(world)
                response = api.request(route[0], path, body, as_="rev-a")
                assert "needs role admin" in assert_problem(response, 403, "forbidden")["detail"]
    for route in sorted(REVIEWER_MAY):
        path, body = MUTATIONS[route](world)
        response = api.request(route[0], path, body, as_="rev-a")
        assert response.is_success, response.text


def test_reviewer_cannot_issue_keys_even_for_an_approved_org(
    api: Api, world: World, registry: RegistryService, ops: Ops
) -> None:
    with unchanged(registry, ops.root):
        response = api.post("/keys", {"org": world.acme, "purposes": ["general"]}, as_="rev-b")
        assert_problem(response, 403, "forbidden")


def test_every_role_reads_everything(api: Api, world: World) -> None:
    for who in ("auditor", "rev-a", "admin"):
        for make in READS.values():
            response = api.get(make(world), as_=who)
            assert response.status_code == 200, (who, response.text)
        for (method, _), post_read in POST_READS.items():
            path, body = post_read(world)
            response = api.request(method, path, body, as_=who)
            assert response.status_code == 200, (who, response.text)
