"""Screenshots of the operator console and the public transparency pages, for docs/console.md.

    make screenshots            # or: .venv/bin/python scripts/console_screenshots.py [--out DIR]

Starts a throw-away Enclave in demo mode with the end-to-end harness (tests/e2e/e2e_support.py:
`enclave init` on a temporary SQLite file, `enclave serve` on a free port), seeds a small but
realistic programme through the same interfaces an operator and a client use (admin API,
gateway, CLI), then signs in with Debian's chromium and saves one PNG per page. Nothing here
touches ./enclave.db or .enclave/. Organisation names and addresses are fictional (.example).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from e2e_support import (  # noqa: E402 - the harness lives with the tests it serves
    ALICE,
    BOB,
    TIMEOUT_MS,
    EnclaveServer,
    agent_turn,
    chromium_problem,
    launch_chromium,
)
from playwright.sync_api import sync_playwright  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
VECTOR = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:P/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
VIEWPORT = {"width": 1280, "height": 860}


def credits(amount: int) -> int:
    """The admin API counts micro-credits."""
    return amount * 1_000_000


def ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, f"{response.request.url}: {response.text}"
    return response.json()


def apply(api: httpx.Client, name: str, *, kind: str, tier: str, sector: str, evidence: str) -> str:
    domain = name.lower().replace(" ", "-") + ".example"
    created = ok(
        api.post(
            "/orgs",
            json={
                "name": name,
                "kind": kind,
                "tier": tier,
                "sector": sector,
                "contact": f"security@{domain}",
                "evidence": {"text": evidence, "links": [f"https://{domain}/security"]},
            },
        )
    )
    return str(created["application"]["id"])


def decide(api: httpx.Client, app_id: str, decision: str, reason: str) -> dict[str, Any]:
    result: dict[str, Any] = ok(
        api.post(f"/applications/{app_id}/decisions", json={"decision": decision, "reason": reason})
    )
    return result


def agent(server: EnclaveServer, key: str, session: str, *commands: str) -> None:
    """An agent session through the gateway: one chat call per command."""
    for command in commands:
        response = agent_turn(server, key, command, session, timeout=60)
        assert response.status_code == 200, response.text


def seed(server: EnclaveServer, work: Path) -> dict[str, str]:
    """A programme a few weeks in; returns ids the screenshots open."""
    alice, bob = server.admin_api("alice"), server.admin_api("bob")
    with alice, bob:
        northwind = apply(
            alice,
            "Northwind Grid CERT",
            kind="partner",
            tier="partner",
            sector="energy",
            evidence="National CERT member since 2019; signed the programme terms.",
        )
        decide(alice, northwind, "approve", "CERT membership confirmed with the national CERT")
        org = decide(bob, northwind, "approve", "contact verified by phone")["organisation"]
        libxml = apply(
            alice,
            "libxml2 maintainers",
            kind="maintainer",
            tier="maintainer",
            sector="open source",
            evidence="Maintainers of libxml2 (GNOME); OpenSSF criticality 0.83.",
        )
        decide(bob, libxml, "approve", "maintainer identity checked against GNOME GitLab")
        maint = decide(alice, libxml, "approve", "commit history matches")["organisation"]
        riverside = apply(
            bob,
            "Riverside Hospital SOC",
            kind="partner",
            tier="partner",
            sector="health",
            evidence="Hospital security operations centre; ISO 27001 certificate attached.",
        )
        decide(bob, riverside, "approve", "certificate checked with the issuer")
        apply(
            alice,
            "Harbor Freight Labs",
            kind="partner",
            tier="partner",
            sector="logistics",
            evidence="Red team of a shipping company; references from two partners.",
        )
        quick = apply(
            bob,
            "QuickScan Ltd",
            kind="partner",
            tier="partner",
            sector="consulting",
            evidence="Website only.",
        )
        decide(bob, quick, "reject", "no verifiable security practice; invited to re-apply")

        ok(
            alice.post(
                "/credits/pools/defenders-2026/fund",
                json={"amount": credits(50_000), "create": True},
            )
        )
        ok(
            alice.post(
                "/credits/pools/oss-maintainers/fund",
                json={"amount": credits(20_000), "create": True},
            )
        )
        ok(
            alice.post(
                "/credits/grants",
                json={"org": org["id"], "pool": "defenders-2026", "amount": credits(2_500)},
            )
        )
        ok(
            alice.post(
                "/credits/grants",
                json={"org": maint["id"], "pool": "oss-maintainers", "amount": credits(1_000)},
            )
        )

        key = ok(
            alice.post(
                "/keys",
                json={
                    "org": org["id"],
                    "purposes": ["vuln-detection"],
                    "name": "northwind triage agent",
                    "expires": "90d",
                },
            )
        )["secret"]
        lost = ok(
            bob.post(
                "/keys",
                json={"org": org["id"], "purposes": ["remediation"], "name": "laptop key"},
            )
        )["key"]
        ok(alice.post(f"/keys/{lost['id']}/revoke", json={"reason": "laptop reported lost"}))
        maint_key = ok(
            bob.post(
                "/keys",
                json={
                    "org": maint["id"],
                    "purposes": ["vuln-detection"],
                    "name": "fuzz-triage bot",
                    "expires": "180d",
                },
            )
        )["secret"]

        agent(server, key, "triage-parser-42", "grep -n strcpy src/parser.c", "make test")
        agent(
            server,
            key,
            "recon-7",
            "ls -la ~",
            "cat ~/.aws/credentials",
        )
        agent(server, maint_key, "fuzz-xmlreader", "grep -rn xmlStrncat parser.c")
        agent(server, server.demo_key, "hello-demo", "echo hello")

        sessions = ok(alice.get("/sessions"))["items"]
        by_client = {s["client_session_id"]: s for s in sessions}
        alerts = ok(alice.get("/alerts"))["items"]
        finding = ok(
            alice.post(
                "/findings",
                json={
                    "title": "Heap overflow in xmlStrncat with a crafted length",
                    "purl": "pkg:github/gnome/libxml2",
                    "versions": ["2.12.0", "2.12.1"],
                    "location": "xmlstring.c:xmlStrncat",
                    "cwe": "CWE-787",
                    "cvss_vector": VECTOR,
                    "description": "A length near INT_MAX wraps the size computation.",
                    "reporting_org": "libxml2 maintainers",
                    "session_id": by_client["fuzz-xmlreader"]["id"],
                },
            )
        )

    # Two organisations agreed to be named in the public report.
    server.enclave("org", "report-opt-in", org["id"], "--on", as_operator="alice")
    server.enclave("org", "report-opt-in", maint["id"], "--on", as_operator="bob")
    today = datetime.now(UTC).date()
    server.enclave(
        "report",
        "--from",
        (today - timedelta(days=30)).isoformat(),
        "--to",
        (today + timedelta(days=1)).isoformat(),
        "--out",
        str(work / "report"),
        "--publish",
    )
    return {
        "org": org["id"],
        "session": by_client["recon-7"]["id"],
        "alert": alerts[0]["id"] if alerts else "",
        "case": _case_id(finding),
    }


def _case_id(submitted: dict[str, Any]) -> str:
    case = submitted.get("case")
    if isinstance(case, dict):
        return str(case.get("id", ""))
    return str(submitted.get("case_id", ""))


def shoot(server: EnclaveServer, ids: dict[str, str], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            ctx = browser.new_context(
                base_url=server.url, viewport=VIEWPORT, locale="en-GB", timezone_id="UTC"
            )
            ctx.set_default_timeout(TIMEOUT_MS)
            page = ctx.new_page()

            def save(name: str, path: str | None = None) -> None:
                if path is not None:
                    response = page.goto(path)
                    assert response is not None and response.status == 200, (path, response)
                target = out / f"{name}.png"
                page.screenshot(path=str(target), full_page=True)
                saved.append(target)

            page.goto("/console/signin")
            page.get_by_label("Operator name").fill(ALICE.name)
            save("signin")
            page.get_by_label("Password").fill(ALICE.password)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("heading", name="Overview").wait_for()
            save("overview")
            save("organisations", "/console/orgs")
            save("vetting", "/console/vetting")
            save("organisation", f"/console/orgs/{ids['org']}")
            save("keys", "/console/keys")
            save("sessions", "/console/sessions")
            save("session-alert", f"/console/sessions/{ids['session']}")
            save("alerts", "/console/alerts")
            if ids["alert"]:
                save("alert", f"/console/alerts/{ids['alert']}")
            save("credits", "/console/credits")
            save("disclosure", "/console/disclosure")
            if ids["case"]:
                save("disclosure-case", f"/console/disclosure/{ids['case']}")
            page.goto("/console/audit")
            page.get_by_role("button", name="Verify now").click()
            page.get_by_role("status").wait_for()  # the verification's outcome
            save("audit-log")
            save("policies", "/console/policies")
            save("console-transparency", "/console/transparency")
            public = browser.new_context(base_url=server.url, viewport=VIEWPORT)
            page = public.new_page()
            save("transparency", "/transparency")
            public.close()
            ctx.close()
        finally:
            browser.close()
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"directory (default {OUT})")
    args = parser.parse_args(argv)
    problem = chromium_problem()
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="enclave-screens-") as tmp:
        work = Path(tmp)
        with EnclaveServer.start(work / "server", operators=[ALICE, BOB]) as server:
            ids = seed(server, work)
            saved = shoot(server, ids, args.out)
    for path in saved:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
