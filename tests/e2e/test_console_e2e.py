"""The operator console in a real browser against a real `enclave serve` (issue 10): sign
in, approve an organisation with two operators, fund it, issue it a key, watch a demo agent
session raise an alert and terminate it, then publish a transparency report and read it
on the public pages."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from e2e_support import (
    ALICE,
    BOB,
    TIMEOUT_MS,
    EnclaveServer,
    Operator,
    agent_turn,
    chromium_problem,
    in_ci,
)
from playwright.sync_api import Browser, BrowserContext, Dialog, Locator, Page, expect

pytestmark = pytest.mark.e2e
if (_problem := chromium_problem()) and not in_ci():  # one line for the module, not one a test
    pytest.skip(f"browser tests skipped: {_problem}", allow_module_level=True)
expect.set_options(timeout=TIMEOUT_MS)

ORG = "Northwind Grid CERT"
SESSION = "e2e-agent-1"
# The shipped rules alert on reading cloud credentials (credential-access); for a vetted
# (partner) key the action is `flag`: the call is served, the alert stored, the session
# stays open for an operator to decide (docs/gateway.md, demo provider).
ALERTING = "cat ~/.aws/credentials"
BENIGN = "grep -n strcpy src/parser.c"


def sign_in(page: Page, operator: Operator) -> None:
    page.goto("/console/")
    expect(page).to_have_url(re.compile(r"/console/signin"))
    page.get_by_label("Operator name").fill(operator.name)
    page.get_by_label("Password").fill(operator.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_text(f"{operator.name} (admin)")).to_be_visible()


@contextmanager
def signed_in(browser: Browser, server: EnclaveServer, operator: Operator) -> Iterator[Page]:
    """A separate browser context (its own cookie jar): a second person at another desk."""
    ctx = browser.new_context(base_url=server.url)
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        page = ctx.new_page()
        sign_in(page, operator)
        yield page
    finally:
        ctx.close()


def nav(page: Page, label: str) -> None:
    """Follow LABEL in the console's main navigation bar."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name=label, exact=True).click()


def form_with(scope: Page | Locator, button: str) -> Locator:
    """The form (inside SCOPE) whose submit button is labelled BUTTON."""
    # `has` is matched relative to each form, so it is built from the page, not the scope.
    root = scope if isinstance(scope, Page) else scope.page
    return scope.locator("form").filter(has=root.get_by_role("button", name=button, exact=True))


def submit_confirmed(page: Page, form: Locator, button: str) -> list[str]:
    """Tick the form's "I confirm" box and submit it, accepting the browser's confirm()
    prompt; the prompts' messages."""
    prompts: list[str] = []

    def accept(dialog: Dialog) -> None:
        prompts.append(dialog.message)
        dialog.accept()

    form.get_by_label("I confirm").check()
    page.once("dialog", accept)
    form.get_by_role("button", name=button, exact=True).click()
    return prompts


def fact(page: Page, label: str) -> Locator:
    """The value next to LABEL in a page's facts list (<dt>LABEL</dt><dd>value</dd>)."""
    term = page.locator("dl.facts dt").filter(has_text=re.compile(f"^{re.escape(label)}$"))
    return term.locator("xpath=following-sibling::dd[1]")


def reload_until(page: Page, check: Callable[[], Locator], timeout: float = 15.0) -> Locator:
    """Reload PAGE until CHECK() finds something: the console is server-rendered, so an
    operator sees new activity by reloading."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found.count() > 0:
            return found
        assert time.monotonic() < deadline, f"not shown within {timeout}s on {page.url}"
        page.reload()


def apply_for_access(server: EnclaveServer, name: str, tier: str = "partner") -> dict[str, Any]:
    """An organisation's application, as the admin API receives it (the console has no
    form for it: applications arrive from the programme's intake)."""
    with server.admin_api() as api:
        response = api.post(
            "/orgs",
            json={
                "name": name,
                "kind": "partner",
                "tier": tier,
                "sector": "energy",
                "contact": "soc@northwind.example",
                "evidence": {
                    "text": "National CERT member since 2019; signed programme terms.",
                    "links": ["https://northwind.example/security"],
                },
            },
        )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


# -- sign-in ---------------------------------------------------------------------------------


def test_sign_in_sets_a_strict_http_only_cookie_and_sign_out_ends_it(
    page: Page, context: BrowserContext
) -> None:
    page.goto("/console/signin")
    page.get_by_label("Operator name").fill(ALICE.name)
    page.get_by_label("Password").fill("not the password at all")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert "enclave_console" not in {c["name"] for c in context.cookies()}

    page.goto("/console/keys")
    expect(page).to_have_url(re.compile(r"/console/signin\?next=%2Fconsole%2Fkeys$"))
    page.get_by_label("Operator name").fill(ALICE.name)
    page.get_by_label("Password").fill(ALICE.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Keys")).to_be_visible()  # back where it started

    (cookie,) = [c for c in context.cookies() if c["name"] == "enclave_console"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/console"
    assert cookie["secure"] is False  # plain http on loopback; see the TLS test below
    assert "enclave_console" not in page.evaluate("document.cookie")  # scripts cannot read it

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("Signed out.")
    assert "enclave_console" not in {c["name"] for c in context.cookies()}
    page.goto("/console/keys")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_behind_a_tls_proxy_the_session_cookie_is_secure(
    browser: Browser, server: EnclaveServer
) -> None:
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1 (its default forwarded_allow_ips),
    # as from a TLS-terminating proxy on the same host.
    ctx = browser.new_context(
        base_url=server.url, extra_http_headers={"X-Forwarded-Proto": "https"}
    )
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        page = ctx.new_page()
        sign_in(page, BOB)
        (cookie,) = [c for c in ctx.cookies() if c["name"] == "enclave_console"]
        assert cookie["secure"] is True
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    finally:
        ctx.close()


# -- the operator's day ----------------------------------------------------------------------


def test_vet_fund_issue_watch_and_terminate_a_session(
    browser: Browser, server: EnclaveServer
) -> None:
    created = apply_for_access(server, ORG)
    org_id = created["organisation"]["id"]

    # Alice approves first: four-eyes leaves the application pending.
    with signed_in(browser, server, ALICE) as page:
        nav(page, "Vetting queue")
        row = page.get_by_role("row").filter(has_text=ORG)
        approve = form_with(row, "Approve")
        approve.get_by_label("Reason").fill("CERT membership confirmed with the national CERT")
        approve.get_by_role("button", name="Approve").click()
        expect(page.get_by_role("status")).to_have_text("Decision recorded.")
        expect(page.get_by_role("heading", name=ORG)).to_be_visible()
        expect(fact(page, "Status")).to_have_text("under_review")
        expect(page.locator("section.application").first).to_contain_text("pending")
        nav(page, "Vetting queue")
        row = page.get_by_role("row").filter(has_text=ORG)
        expect(row).to_contain_text("1 of 2")
        expect(row).to_contain_text("You have decided; another operator decides next.")
        expect(row.get_by_role("button", name="Approve")).to_have_count(0)

    # Bob approves second: the organisation is approved.
    with signed_in(browser, server, BOB) as page:
        nav(page, "Vetting queue")
        row = page.get_by_role("row").filter(has_text=ORG)
        expect(row).to_contain_text("approved by alice")
        approve = form_with(row, "Approve")
        approve.get_by_label("Reason").fill("contact verified by phone")
        approve.get_by_role("button", name="Approve").click()
        expect(page.get_by_role("status")).to_have_text("Decision recorded.")
        expect(fact(page, "Status")).to_have_text("approved")
        decisions = page.get_by_role("row").filter(has_text="approve")
        expect(decisions.filter(has_text="alice")).to_have_count(1)
        expect(decisions.filter(has_text="bob")).to_have_count(1)
        nav(page, "Vetting queue")
        expect(page.get_by_role("row").filter(has_text=ORG)).to_have_count(0)

    with signed_in(browser, server, ALICE) as page:
        # Credits: the demo model is priced, so the organisation needs a grant first.
        nav(page, "Credits")
        fund = form_with(page, "Fund")
        fund.get_by_role("textbox", name="Pool").fill("e2e-defenders")
        fund.get_by_role("checkbox", name="Open it if new").check()
        fund.get_by_role("textbox", name=re.compile("^Credits")).fill("5000")
        submit_confirmed(page, fund, "Fund")
        expect(page.get_by_role("status")).to_have_text("Pool funded.")
        grant = form_with(page, "Grant")
        grant.get_by_role("combobox", name="Organisation").select_option(label=f"{ORG} (partner)")
        grant.get_by_role("combobox", name="From pool").select_option("e2e-defenders")
        grant.get_by_role("textbox", name=re.compile("^Credits")).fill("250")
        submit_confirmed(page, grant, "Grant")
        expect(page.get_by_role("status")).to_have_text("Credits granted.")
        nav(page, "Credits")
        balances = page.get_by_role("row").filter(has_text=ORG)
        expect(balances).to_contain_text("250")

        # A key, whose secret is shown once.
        nav(page, "Keys")
        page.get_by_role("link", name="Issue a key").click()
        page.get_by_label("Organisation").select_option(label=ORG)
        page.get_by_label("Name (optional)").fill("northwind agent")
        page.get_by_label("vuln-detection").check()
        page.get_by_label("Expires in").fill("30d")
        page.get_by_role("button", name="Issue key").click()
        expect(page.get_by_role("heading", name="Key issued")).to_be_visible()
        expect(page.get_by_text("It is shown once")).to_be_visible()
        secret = page.locator("#secret").inner_text().strip()
        assert secret.startswith("enc_")
        page.get_by_role("link", name="Back to the keys").click()
        expect(page.get_by_role("row").filter(has_text="northwind agent")).to_have_count(1)
        assert secret not in page.content()
        assert secret[len("enc_") + 12 :] not in page.content()

        # The organisation's agent works through the gateway with that key.
        first = agent_turn(server, secret, BENIGN, SESSION)
        assert first.status_code == 200, first.text
        assert first.headers["x-enclave-session"] == SESSION
        second = agent_turn(server, secret, ALERTING, SESSION)
        assert second.status_code == 200, second.text
        assert second.json()["choices"][0]["finish_reason"] == "tool_calls"  # flagged, served

        # The operator sees the session and its alert...
        nav(page, "Sessions")
        reload_until(page, lambda: page.get_by_role("link", name=SESSION)).click()
        expect(page.get_by_role("heading", name=f"Session {SESSION}")).to_be_visible()
        expect(fact(page, "Organisation")).to_have_text(ORG)
        expect(fact(page, "Status")).to_have_text("active")
        alerts = page.locator("xpath=//h2[normalize-space()='Alerts']/following-sibling::*[1]")
        alert_rows = reload_until(
            page, lambda: alerts.get_by_role("row").filter(has_text="credential-access")
        )
        expect(alert_rows).to_have_count(1)
        expect(alert_rows).to_contain_text("flag")

        # ...and terminates it. The confirm() prompt, when dismissed, submits nothing.
        terminate = form_with(page, "Terminate")
        terminate.get_by_label("Reason").fill("reading cloud credentials is out of scope")
        terminate.get_by_label("I confirm").check()
        dismissed: list[str] = []

        def dismiss(dialog: Dialog) -> None:
            dismissed.append(dialog.message)
            dialog.dismiss()

        page.once("dialog", dismiss)
        terminate.get_by_role("button", name="Terminate").click()
        assert dismissed == ["terminate this session; it cannot be resumed?"]
        expect(fact(page, "Status")).to_have_text("active")
        prompts = submit_confirmed(page, terminate, "Terminate")
        assert prompts == ["terminate this session; it cannot be resumed?"]
        expect(page.get_by_role("status")).to_have_text("Session terminated.")
        expect(fact(page, "Status")).to_have_text("terminated")
        expect(fact(page, "Status reason")).to_have_text(
            "reading cloud credentials is out of scope"
        )
        expect(page.get_by_role("button", name="Terminate")).to_have_count(0)
        terminated = page.get_by_role("row").filter(has_text="monitor.session.terminated")
        expect(terminated).to_contain_text("operator:op_")  # recorded under alice

    # The next request in that session is refused; another session of the key still works.
    # An open session is trusted for 1 s (enclave.gateway.pipeline.SESSION_TTL), so the
    # refusal is polled for rather than expected on the very first call.
    deadline = time.monotonic() + 10
    while True:
        refused = agent_turn(server, secret, BENIGN, SESSION)
        if refused.status_code != 200 or time.monotonic() > deadline:
            break
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "session_terminated"
    other = agent_turn(server, secret, BENIGN, "e2e-agent-2")
    assert other.status_code == 200, other.text
    with server.admin_api() as api:
        org = api.get(f"/orgs/{org_id}").json()["organisation"]
    assert org["status"] == "approved"


# -- transparency ----------------------------------------------------------------------------


def test_a_published_transparency_report_is_public(
    browser: Browser, server: EnclaveServer, tmp_path: Any
) -> None:
    # Enough traffic of its own for a requests chart (daily counts under 5 are withheld).
    answered = [agent_turn(server, server.demo_key, "echo hello", "e2e-report") for _ in range(6)]
    assert {r.status_code for r in answered} == {200}
    server.wait_for_records({r.headers["x-enclave-request-id"] for r in answered})
    today = datetime.now(UTC).date()
    published = server.enclave_json(
        "report",
        "--from",
        (today - timedelta(days=30)).isoformat(),
        "--to",
        (today + timedelta(days=1)).isoformat(),
        "--out",
        str(tmp_path / "report"),
        "--publish",
    )["published"]
    assert published["url"].startswith("/transparency/")

    period = f"{today - timedelta(days=30)} to {today + timedelta(days=1)}"
    report_id = published["url"].rsplit("/", 1)[-1]

    # Operators see it listed in the console, under the admin who published it.
    with signed_in(browser, server, ALICE) as page:
        nav(page, "Transparency")
        row = page.get_by_role("row").filter(has_text=report_id)
        expect(row).to_contain_text(period)
        expect(row).to_contain_text("admin")  # `enclave report` acted as the first operator
        expect(row.get_by_role("link", name=report_id)).to_have_attribute("href", published["url"])

    ctx = browser.new_context(base_url=server.url)  # the public: no operator session
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        page = ctx.new_page()
        response = page.goto("/transparency")
        assert response is not None and response.status == 200
        expect(page.get_by_role("heading", level=1)).to_have_text(
            re.compile(r"^Transparency report, ")
        )
        published_list = page.locator(
            "xpath=//h2[normalize-space()='Published reports']/following-sibling::*[1]"
        )
        published_list.get_by_role("link", name=re.compile(f"^{period} ")).first.click()
        expect(page).to_have_url(re.compile(re.escape(published["url"]) + "$"))
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Transparency report, {period}")
        for section in ("Who had access", "Monitor alerts", "What each tier withholds"):
            expect(page.get_by_role("heading", name=section, level=2)).to_be_visible()
        # The charts are served from this origin under the page's CSP and load.
        expect(page.get_by_role("img", name=re.compile("^Requests per day"))).to_be_visible()
        assert page.evaluate(
            "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"
        )
        assert "enclave_console" not in {c["name"] for c in ctx.cookies()}
    finally:
        ctx.close()
