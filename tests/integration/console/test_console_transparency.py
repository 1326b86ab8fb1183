"""Transparency reports through the console, over real HTTP: an admin publishes a report
for a period through the same service as `enclave report --publish` (the same event),
and the public /transparency pages serve exactly it; other roles, a missing CSRF token,
bad dates or a missing confirmation publish nothing; the organisation page's opt-in
toggle (admin, recorded) decides whether the next report names the organisation."""

from __future__ import annotations

import hashlib
import html
import re
from typing import Any

import httpx
import pytest
from console_support import ConsoleClient, SignIn, approved, error_message

from enclave.registry import Operator, RegistryService
from enclave.reports import Published, ReportService
from enclave.store import Database
from enclave.store.reports_repo import SqlReportStore

# The test clock starts at 2026-11-01 12:00Z: the default period is the 90 whole days
# before that day.
DEFAULT = {"from": "2026-08-03", "to": "2026-11-01"}


def published(db: Database) -> list[Published]:
    return ReportService(store=SqlReportStore(db.engine)).published()


def kinds(registry: RegistryService, actor: Operator) -> list[str]:
    return [e.event.kind for e in registry.list_events(actor, limit=1000)]


def public(client: ConsoleClient, path: str) -> httpx.Response:
    """A GET outside /console, as anyone on the internet would send it."""
    return client.http.get(path)


def test_publish_through_the_console_and_read_it_publicly(
    signed: SignIn,
    db: Database,
    clock: Any,
    registry: RegistryService,
    operators: dict[str, Operator],
) -> None:
    root = signed("root")
    page = root.get("/transparency").text
    assert 'href="/console/transparency" aria-current="page"' in page  # the nav entry
    assert "No transparency report has been published yet." in page
    assert f'value="{DEFAULT["from"]}"' in page and f'value="{DEFAULT["to"]}"' in page
    assert 'action="/console/transparency/publish"' in page and 'name="confirm"' in page
    assert '<a href="/transparency">public transparency reports</a>' in page  # footer

    page = root.done(root.post("/transparency/publish", DEFAULT, confirm=True)).text
    assert "Transparency report published" in page
    [report] = published(db)
    assert (report.period_from.isoformat(), report.period_to.isoformat()) == tuple(DEFAULT.values())
    assert report.created_by == f"operator:{operators['root'].id}"
    assert report.digest in page and f'href="/transparency/{report.id}"' in page
    assert f'href="/transparency/{report.id}.json"' in page and "root" in page

    index = public(root, "/transparency")
    assert index.status_code == 200 and f"/transparency/{report.id}" in index.text
    one = public(root, f"/transparency/{report.id}")
    assert one.status_code == 200
    assert f"Transparency report, {DEFAULT['from']} to {DEFAULT['to']}" in one.text
    body = public(root, f"/transparency/{report.id}.json")
    assert body.status_code == 200
    assert f"sha256:{hashlib.sha256(body.content).hexdigest()}" == report.digest
    assert body.json()["period"] == {**DEFAULT, "days": 90}

    [event] = [
        e.event
        for e in registry.list_events(operators["root"], limit=1000)
        if e.event.kind == "report.published"
    ]
    assert event.subject == report.id and event.actor == f"operator:{operators['root'].id}"
    assert event.data["digest"] == report.digest

    # A second report for the same period is a new report; the list is newest first.
    clock.advance(minutes=1)
    root.done(root.post("/transparency/publish", {"from": "", "to": ""}, confirm=True))
    newest, older = published(db)
    assert older.id == report.id and newest.period_from == report.period_from
    page = root.get("/transparency").text
    assert page.index(newest.id) < page.index(older.id)


def test_other_roles_cannot_publish_or_name(
    signed: SignIn, db: Database, registry: RegistryService, operators: dict[str, Operator]
) -> None:
    org = approved(registry, operators, "curl")
    clients = [signed("auditor"), signed("rev-a")]
    before = kinds(registry, operators["root"])
    for client in clients:
        page = client.get("/transparency").text  # every role reads and previews
        assert "/transparency/publish" not in page and "/transparency/preview" in page
        detail = client.get(f"/orgs/{org.id}").text
        assert "no (counts only)" in detail and "/report-opt-in" not in detail

        refused = client.post("/transparency/publish", DEFAULT, confirm=True)
        assert refused.status_code == 403, refused.text
        assert "publishing a transparency report" in error_message(refused)
        refused = client.post(f"/orgs/{org.id}/report-opt-in", {"named": "on"}, confirm=True)
        assert refused.status_code == 403, refused.text
    assert published(db) == []
    assert registry.get_org(operators["root"], org.id)[0].report_opt_in is False
    assert kinds(registry, operators["root"]) == before


def test_csrf_is_required(
    signed: SignIn, db: Database, registry: RegistryService, operators: dict[str, Operator]
) -> None:
    org = approved(registry, operators, "curl")
    root, other = signed("root"), signed("rev-a")
    before = kinds(registry, operators["root"])
    for token in ("", "wrong", other.csrf):
        refused = root.post("/transparency/publish", DEFAULT, confirm=True, csrf=token)
        assert refused.status_code == 403, (token, refused.text)
        refused = root.post(
            f"/orgs/{org.id}/report-opt-in", {"named": "on"}, confirm=True, csrf=token
        )
        assert refused.status_code == 403, (token, refused.text)
    assert published(db) == []
    assert registry.get_org(operators["root"], org.id)[0].report_opt_in is False
    assert kinds(registry, operators["root"]) == before


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"from": "2026-13-01", "to": "2026-11-01"}, "'2026-13-01' is not a date"),
        ({"from": "last week", "to": "2026-11-01"}, "is not a date (YYYY-MM-DD)"),
        ({"from": "2026-08-03", "to": "20261101"}, "is not a date (YYYY-MM-DD)"),
        ({"from": "2026-10-01", "to": "2026-10-01"}, "must start before it ends"),
        ({"from": "2026-10-02", "to": "2026-10-01"}, "must start before it ends"),
        ({"from": "2026-10-01", "to": "2026-11-02"}, "ends after today"),
        ({"from": "2027-01-01", "to": "2027-02-01"}, "ends after today"),
        ({"from": "2000-01-01", "to": "2026-11-01"}, "longer than 3660 days"),
    ],
)
def test_bad_dates_are_a_400_page_and_publish_nothing(
    signed: SignIn,
    db: Database,
    registry: RegistryService,
    operators: dict[str, Operator],
    fields: dict[str, str],
    message: str,
) -> None:
    root = signed("root")
    before = kinds(registry, operators["root"])
    refused = root.post("/transparency/publish", fields, confirm=True)
    assert refused.status_code == 400, refused.text
    assert message in error_message(refused)
    preview = root.get("/transparency/preview", params=fields, status=400)
    assert message in error_message(preview)
    assert published(db) == []
    assert kinds(registry, operators["root"]) == before


def test_publishing_needs_confirmation(
    signed: SignIn, db: Database, registry: RegistryService, operators: dict[str, Operator]
) -> None:
    root = signed("root")
    refused = root.post("/transparency/publish", DEFAULT)
    assert refused.status_code == 400 and "needs confirmation" in error_message(refused)
    assert published(db) == []
    assert "report.published" not in kinds(registry, operators["root"])


def test_opt_in_decides_what_the_next_report_names(
    signed: SignIn,
    db: Database,
    clock: Any,
    registry: RegistryService,
    operators: dict[str, Operator],
) -> None:
    org = approved(registry, operators, "curl <&> co")
    clock.advance(days=2)  # the approval (2026-11-01) falls in the default period
    root = signed("root")

    def names_in_next_report() -> list[str]:
        clock.advance(minutes=1)  # newest first: each report a minute after the last
        root.done(root.post("/transparency/publish", {"from": "", "to": ""}, confirm=True))
        body = public(root, f"/transparency/{published(db)[0].id}.json").json()
        return [o["name"] for o in body["organisations"]]

    assert names_in_next_report() == []
    detail = root.get(f"/orgs/{org.id}").text
    assert "no (counts only)" in detail and "Name it in reports" in detail

    refused = root.post(f"/orgs/{org.id}/report-opt-in", {"named": "on"})
    assert refused.status_code == 400 and "needs confirmation" in error_message(refused)
    refused = root.post(f"/orgs/{org.id}/report-opt-in", {"named": "maybe"}, confirm=True)
    assert refused.status_code == 400 and "named must be one of" in error_message(refused)
    assert registry.get_org(operators["root"], org.id)[0].report_opt_in is False

    page = root.done(root.post(f"/orgs/{org.id}/report-opt-in", {"named": "on"}, confirm=True))
    assert "now named in public transparency reports" in page.text
    assert "Stop naming it in reports" in page.text
    assert registry.get_org(operators["root"], org.id)[0].report_opt_in is True
    [event] = [
        e.event
        for e in registry.list_events(operators["root"], limit=1000)
        if e.event.kind == "org.report_opt_in"
    ]
    assert event.subject == org.id and event.data["report_opt_in"] is True
    assert names_in_next_report() == ["curl <&> co"]

    page = root.done(root.post(f"/orgs/{org.id}/report-opt-in", {"named": "off"}, confirm=True))
    assert "no longer named" in page.text
    assert names_in_next_report() == []
    assert len(published(db)) == 3


def test_preview_publishes_nothing(
    signed: SignIn,
    db: Database,
    clock: Any,
    registry: RegistryService,
    operators: dict[str, Operator],
) -> None:
    for name in ("a", "b", "c", "d", "e", "f"):  # enough organisations for a shown count
        approved(registry, operators, name)
    clock.advance(days=1)
    auditor = signed("auditor")
    before = kinds(registry, operators["root"])
    page = auditor.get("/transparency/preview", params={"from": "2026-10-01", "to": "2026-11-02"})
    text = page.text
    assert "Preview, not published" in text
    assert "Transparency report, 2026-10-01 to 2026-11-02" in text
    assert "Organisations with access during the period: 6." in text
    assert "<main>" in text and text.count("<main>") == 1  # the report's own is a div
    json_href = re.search(r'href="(/console/transparency/preview/[^"]+\.json)"', text)
    assert json_href, text
    doc = auditor.get(html.unescape(json_href.group(1)).removeprefix("/console")).json()
    assert doc["period"] == {"from": "2026-10-01", "to": "2026-11-02", "days": 32}
    charts = re.findall(r'<img src="(/console/transparency/preview/[^"]+\.svg)"', text)
    assert charts, text
    for src in charts:
        svg = auditor.get(html.unescape(src).removeprefix("/console"))
        assert svg.headers["content-type"].startswith("image/svg+xml")
        assert svg.text.lstrip().startswith("<svg") or "<svg" in svg.text[:200]
    missing = auditor.get(
        "/transparency/preview/2026-10-01/2026-11-02/charts/nothing.svg", status=404
    )
    assert "no chart" in error_message(missing)
    assert published(db) == []
    assert kinds(registry, operators["root"]) == before
