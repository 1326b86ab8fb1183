"""`enclave report` and /transparency against a real database (SQLite and PostgreSQL):
organisations, keys, credits and findings made through the services and the CLI, model
calls recorded with the gateway's own event builder, then the report's figures checked
against what was made, and the published report fetched over HTTP."""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cli_support import clean_env
from cli_support import run_cli as cli
from enclave.app import build_app
from enclave.clock import utcnow
from enclave.config import load_settings
from enclave.gateway.call import Call
from enclave.ledger.interface import PriceRef, TransferId
from enclave.policy.interface import Advice, PolicyDecision
from enclave.registry import OrgId, Principal
from enclave.runtime import Runtime, open_runtime
from enclave.safeguards.interface import Category, Verdict
from enclave.store.ledger_repo import open_credits

M = 1_000_000
HOSTILE = "<img src=x onerror=alert(1)>Quiet|Partner **Ltd**"
VECTOR = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"


@dataclass
class World:
    rt: Runtime
    tmp: Path
    today: str
    tomorrow: str
    yesterday: str


def _record(rt: Runtime, principal: Principal | None, purpose: str, *, blocked: bool) -> None:
    """One model call's `gateway.request` event, built by the gateway's own Call."""
    call = Call("openai", utcnow)
    call.principal = principal
    call.purpose = purpose
    call.status, call.outcome = (403, "denied") if blocked else (200, "ok")
    call.decision = PolicyDecision(
        allowed=not blocked,
        advice=Advice.BLOCK if blocked else Advice.ALLOW,
        policies=("public-block-high-risk",) if blocked else ("invoke-entitled",),
    )
    call.verdict = Verdict(Category("malware") if blocked else Category("none"), 0.93)
    with rt.db.unit() as unit:
        unit.append(call.event(0.01, 0.001))


@pytest.fixture
def world(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    schemas = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "schemas"
    env = clean_env(
        monkeypatch, tmp_path, db_url, extra={"ENCLAVE_DISCLOSURE__SCHEMA_DIR": str(schemas)}
    )
    assert cli("init").code == 0
    rt = open_runtime(load_settings(environ=env))
    reg = rt.registry
    admin = reg.operator_for_cli(None)
    rev = reg.create_operator(admin, name="rev", roles=["reviewer"]).operator
    orgs = {}
    for i in range(5):
        org, application = reg.create_org(
            admin, name=f"Maintainer {i}", kind="maintainer", tier="maintainer", sector="oss"
        )
        reg.decide(admin, application.id, decision="approve", reason="ok")
        reg.decide(rev, application.id, decision="approve", reason="ok")
        orgs[f"m{i}"] = org
    partner, application = reg.create_org(
        admin, name=HOSTILE, kind="partner", tier="partner", sector="energy"
    )
    reg.decide(admin, application.id, decision="approve", reason="ok")
    reg.decide(rev, application.id, decision="approve", reason="ok")
    # Opt-in through the CLI: recorded, admin only.
    assert cli("org", "report-opt-in", "Maintainer 0", "--on").code == 0
    denied = cli("org", "report-opt-in", "Maintainer 1", "--on", "--as", "rev")
    assert denied.code == 3 and "needs role admin" in denied.stderr

    keys = {}
    for ref, org in [*orgs.items(), ("partner", partner)]:
        purposes = ["penetration-testing"] if ref == "partner" else ["vuln-detection"]
        keys[ref] = reg.issue_key(admin, org.id, purposes=purposes).key
    # Credits: 100 granted to each maintainer, 50 to the partner; usage posted for two.
    assert cli("credits", "fund", "--pool", "oss", "--amount", "10000", "--new").code == 0
    for org in [*orgs.values(), partner]:
        amount = "50" if org.id == partner.id else "100"
        assert (
            cli("credits", "grant", "--org", org.id, "--pool", "oss", "--amount", amount).code == 0
        )
    ledger, _ = open_credits(rt.db, rt.settings)
    price = PriceRef("demo", 1, 1, 0, 0)
    for ref, spend in (("m0", 3 * M), ("m1", 2 * M)):
        held = ledger.reserve(
            transfer_id=TransferId(f"req-{ref}"),
            org_id=OrgId(orgs[ref].id),
            amount=5 * M,
            timeout=timedelta(minutes=5),
            price=price,
            actor=f"key:{keys[ref].id}",
        )
        ledger.post(pending_id=held.id, amount=spend)

    # Model calls: 6 from Maintainer 0, one each from 1..4, two from the partner, and
    # one refused for malware from the demo organisation (public tier).
    principals = {
        ref: Principal(keys[ref], org) for ref, org in [*orgs.items(), ("partner", partner)]
    }
    for _ in range(6):
        _record(rt, principals["m0"], "vuln-detection", blocked=False)
    for i in range(1, 5):
        _record(rt, principals[f"m{i}"], "vuln-detection", blocked=False)
    for _ in range(2):
        _record(rt, principals["partner"], "penetration-testing", blocked=False)
    demo = reg.list_orgs(admin, status="approved")
    demo_org = next(o for o in demo if o.tier == "public")
    demo_key = next(k for k in reg.list_keys(admin) if k.org_id == demo_org.id)
    _record(rt, Principal(demo_key, demo_org), "general", blocked=True)

    (tmp_path / "desc.txt").write_text("overflow", encoding="utf-8")
    for purl in ("pkg:cargo/framekit", "pkg:cargo/otherkit"):
        submitted = cli(
            "findings", "submit", "--title", "Heap overflow", "--purl", purl,
            "--version", "0.3.0", "--location", "src/parse.rs:88", "--cwe", "CWE-787",
            "--cvss", VECTOR, "--description", "desc.txt", "--org", "Maintainer 0", "--json",
        )  # fmt: skip
        assert submitted.code == 0, submitted.stderr
    today = utcnow().date()
    try:
        yield World(
            rt,
            tmp_path,
            today.isoformat(),
            (today + timedelta(days=1)).isoformat(),
            (today - timedelta(days=1)).isoformat(),
        )
    finally:
        rt.close()


def _rows(breakdown: dict[str, Any]) -> dict[tuple[str, ...], str]:
    return {tuple(r["keys"]): r["shown"] for r in breakdown["rows"]}


def test_report_figures_match_what_was_done_and_name_only_opted_in(world: World) -> None:
    out = world.tmp / "report"
    made = cli("report", "--from", world.yesterday, "--to", world.tomorrow, "--out", str(out),
               "--json")  # fmt: skip
    assert made.code == 0, made.stderr
    files = sorted(p.name for p in out.iterdir())
    assert {"report.md", "report.html", "report.json", "requests-daily.svg"} <= set(files)
    assert made.json()["files"] == files and made.json()["published"] is None
    doc = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert doc["schema"] == "enclave.transparency-report/1"
    assert doc["period"]["from"] == world.yesterday and doc["period"]["to"] == world.tomorrow

    access = doc["access"]
    # 7 organisations: 5 maintainers, the partner and the demo organisation (public).
    # With the total, "<5" and "<5" summing to 2 would be 1 and 1, and hiding the 5 as
    # well leaves 7 = 5 + 1 + 1 pinned down: the totals are withheld instead.
    assert _rows(access["by_kind"]) == {
        ("maintainer",): "≥5",
        ("partner",): "<5",
        ("public",): "<5",
    }
    assert access["organisations"] == {"value": None, "shown": "withheld"}
    for table in ("by_kind", "by_sector", "by_tier"):
        assert access[table]["total"]["shown"] == "withheld"
    assert _rows(access["by_sector"])[("oss",)] == "≥5"

    requests = doc["requests"]["by_tier_purpose"]
    assert _rows(requests) == {
        ("maintainer", "vuln-detection"): "10",
        ("partner", "penetration-testing"): "<5",
        ("public", "general"): "<5",
    }
    assert requests["total"]["value"] == 13
    assert sum(d["requests"] for d in doc["requests"]["daily"]) == 13
    # One refusal: "<5", and the refused-per-day series, which would reveal it, is out.
    assert _rows(doc["blocked"]) == {("malware",): "<5"}
    assert doc["blocked"]["total"] == {"value": None, "shown": "<5"}
    assert {d["refused"] for d in doc["requests"]["daily"]} == {None}
    credits = {r["kind"]: r for r in doc["credits"]}
    assert credits["maintainer"]["granted"] == "500" and credits["maintainer"]["spent"] == "5"
    assert credits["partner"]["granted"] is None  # one organisation: withheld
    assert _rows(doc["findings"]) == {("critical", "triage"): "<5"}
    assert doc["checkpoint"]["tree_size"] > 0 and "\n— " in doc["checkpoint"]["note"]
    assert any(line["tier"] == "public" for line in doc["subtraction"]["lines"])

    # Named: only the organisation that opted in, with its own figures.
    assert doc["organisations"] == [
        {"name": "Maintainer 0", "kind": "maintainer", "tier": "maintainer", "requests": 6,
         "credits_spent": "3"}
    ]  # fmt: skip
    for name in files:
        text = (out / name).read_text(encoding="utf-8")
        for secret in ("Quiet", "Maintainer 1", "Maintainer 4", "onerror"):
            assert secret not in text, (name, secret)
        if name.endswith(".svg"):
            ET.fromstring(text.encode("utf-8"))


def test_bad_input_is_refused_and_writes_nothing(world: World) -> None:
    out = world.tmp / "never"
    for args, message in (
        (("--from", "2026-02-30"), "not a date"),
        (("--from", world.today, "--to", world.today), "must start before it ends"),
        (("--from", world.tomorrow, "--to", world.yesterday), "must start before it ends"),
    ):
        result = cli("report", *args, "--out", str(out))
        assert result.code == 2 and message in result.stderr, result.stderr
        assert not out.exists()
    full = world.tmp / "full"
    full.mkdir()
    (full / "keep.txt").write_text("x", encoding="utf-8")
    refused = cli("report", "--out", str(full))
    assert refused.code == 2 and "not empty" in refused.stderr
    assert [p.name for p in full.iterdir()] == ["keep.txt"]
    blocker = world.tmp / "file"
    blocker.write_text("x", encoding="utf-8")
    refused = cli("report", "--out", str(blocker / "sub"))
    assert refused.code == 2 and "not a writable directory" in refused.stderr
    # A reviewer may compute a report but not publish one; nothing is written then.
    denied = cli("report", "--out", str(out), "--publish", "--as", "rev")
    assert denied.code == 3 and "needs role admin" in denied.stderr and not out.exists()


def test_published_report_is_served_at_transparency(world: World) -> None:
    http = TestClient(build_app(world.rt))
    empty = http.get("/transparency")
    assert empty.status_code == 200 and "No transparency report has been published" in empty.text

    made = cli("report", "--from", world.yesterday, "--to", world.tomorrow,
               "--out", str(world.tmp / "pub"), "--publish", "--json")  # fmt: skip
    assert made.code == 0, made.stderr
    published = made.json()["published"]
    report_id = published["id"]
    events = world.rt.registry.list_events(
        world.rt.registry.operator_for_cli(None), kind="report.published"
    )
    assert [e.event.subject for e in events] == [report_id]
    assert events[0].event.data["digest"] == published["digest"]

    index = http.get("/transparency")
    assert index.status_code == 200 and f"/transparency/{report_id}" in index.text
    assert "script-src" not in index.headers["content-security-policy"]
    assert "default-src 'none'" in index.headers["content-security-policy"]
    page = http.get(f"/transparency/{report_id}")
    assert page.status_code == 200 and "Maintainer 0" in page.text
    assert "Quiet" not in page.text and "<img src=x" not in page.text

    body = http.get(f"/transparency/{report_id}.json")
    assert body.headers["content-type"] == "application/json"
    assert body.content == (world.tmp / "pub" / "report.json").read_bytes()
    assert made.json()["digest"] == published["digest"]
    assert body.headers["etag"] == f'"{published["digest"]}"'
    assert "sha256:" + hashlib.sha256(body.content).hexdigest() == published["digest"]

    chart = http.get(f"/transparency/{report_id}/charts/requests-daily.svg")
    assert chart.status_code == 200 and chart.headers["content-type"] == "image/svg+xml"
    assert "sandbox" in chart.headers["content-security-policy"]
    ET.fromstring(chart.content)

    for path in (
        "/transparency/rep_0000000000000000",
        "/transparency/nonsense",
        "/transparency/rep_0000000000000000.json",
        f"/transparency/{report_id}/charts/nope.svg",
    ):
        missing = http.get(path)
        assert missing.status_code == 404, path
        assert "text/html" in missing.headers["content-type"]
        assert "no published report" in missing.text
    # A decoded slash leaves the route altogether: still nothing but a 404.
    assert http.get(f"/transparency/{report_id}/charts/..%2f..%2fetc.svg").status_code == 404
