"""The console's gate: sign-in and sign-out, sessions, CSRF, cookies and headers.

Every route is found by walking the mounted console app, so a page added later is held
to the same rules without a new test.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from console_support import PASSWORD, PREFIX, ConsoleClient, SignIn, csrf_of, error_message
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import update

from enclave.app import build_app
from enclave.console import ConsoleAccounts, signin
from enclave.console.pages import PAGES
from enclave.console.signin import PRE_COOKIE
from enclave.registry import Operator, RegistryService
from enclave.runtime import Runtime
from enclave.store import Database
from enclave.store.console_repo import SqlConsoleStore
from enclave.store.tables import operators as operators_table


def console_routes() -> list[tuple[str, str]]:
    """(method, path with placeholders filled) of every console route but sign-in: the
    routers the console app includes (console/app.py: signin.router and PAGES)."""
    found: list[tuple[str, str]] = []
    for router in (signin.router, *(page.router for page in PAGES)):
        for route in router.routes:
            if not isinstance(route, APIRoute) or route.path == "/signin":
                continue
            path = re.sub(r"\{[^}]+\}", "x_1", route.path)
            found.extend((m, path) for m in sorted(route.methods) if m != "HEAD")
    return found


def events(registry: RegistryService, actor: Operator) -> list[object]:
    return list(registry.list_events(actor, limit=1000))


def test_every_route_needs_a_session(
    browser: ConsoleClient,
    runtime: Runtime,
    registry: RegistryService,
    operators: dict[str, Operator],
) -> None:
    routes = console_routes()
    assert {("GET", "/"), ("POST", "/signout"), ("POST", "/keys/x_1/revoke")} <= set(routes)
    assert {("POST", "/sessions/x_1/terminate"), ("POST", "/vetting/x_1/decide")} <= set(routes)
    before = events(registry, operators["root"])
    for cookie in (None, "forged-cookie-value"):
        if cookie:
            browser.http.cookies.set("enclave_console", cookie, path=PREFIX)
        for method, path in routes:
            response = browser.request(method, path, data={"csrf": "x", "confirm": "yes"})
            if method == "GET":
                assert response.status_code == 303, (method, path, response.status_code)
                assert response.headers["location"].startswith(f"{PREFIX}/signin?next=")
            else:
                assert response.status_code == 401, (method, path, response.status_code)
                assert "sign in" in error_message(response)
    assert events(registry, operators["root"]) == before


def test_every_post_needs_the_sessions_csrf_token(
    signed: SignIn, runtime: Runtime, registry: RegistryService, operators: dict[str, Operator]
) -> None:
    root, other = signed("root"), signed("rev-a")
    assert root.csrf and other.csrf and root.csrf != other.csrf
    before = events(registry, operators["root"])
    posts = [path for method, path in console_routes() if method == "POST"]
    assert "/signout" in posts
    for path in posts:
        for token in ("", "wrong", other.csrf):
            response = root.post(path, {"reason": "r"}, confirm=True, csrf=token)
            assert response.status_code == 403, (path, token, response.status_code)
            assert "CSRF" in error_message(response)
    assert events(registry, operators["root"]) == before
    root.get("/")  # still signed in: a refused POST changes nothing


def test_sign_in_page_and_form_need_their_own_csrf_token(browser: ConsoleClient) -> None:
    page = browser.get("/signin")
    assert PRE_COOKIE in page.cookies
    refused = browser.http.post(
        PREFIX + "/signin", data={"csrf": "guess", "name": "root", "password": PASSWORD}
    )
    assert refused.status_code == 403 and "enclave_console" not in refused.cookies
    fresh = ConsoleClient(browser.http.base_url.__str__())  # no sign-in cookie at all
    try:
        token = csrf_of(page.text)
        response = fresh.http.post(
            PREFIX + "/signin", data={"csrf": token, "name": "root", "password": PASSWORD}
        )
        assert response.status_code == 403
    finally:
        fresh.close()


def test_sign_in_sets_a_strict_cookie_and_records_the_event(
    browser: ConsoleClient, registry: RegistryService, operators: dict[str, Operator]
) -> None:
    response = browser.sign_in("root")
    assert response.status_code == 303 and response.headers["location"] == f"{PREFIX}/"
    cookie = next(v for k, v in response.headers.multi_items() if v.startswith("enclave_console="))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "samesite", "path", "max-age"} <= attributes
    assert "samesite=strict" in cookie.lower() and "path=/console" in cookie.lower()
    assert "secure" not in attributes  # plain http here; see the https test below
    kinds = [e.event.kind for e in events(registry, operators["root"])]  # type: ignore[attr-defined]
    assert kinds[-1] == "console.signin"
    page = browser.get("/")
    assert "root (admin)" in page.text


def test_cookie_is_secure_over_https(runtime: Runtime, operators: dict[str, Operator]) -> None:
    # The ASGI scope's scheme is https, as uvicorn sets it behind TLS (or from a trusted
    # proxy's X-Forwarded-Proto); Starlette's TestClient drives the app in-process
    # (not as a context manager: the gateway's lifespan is not needed here).
    http = TestClient(build_app(runtime), base_url="https://console.test", follow_redirects=False)
    form = http.get(PREFIX + "/signin")
    assert "secure" in form.headers["set-cookie"].lower()
    response = http.post(
        PREFIX + "/signin",
        data={"csrf": csrf_of(form.text), "name": "root", "password": PASSWORD},
    )
    assert response.status_code == 303
    cookie = next(v for k, v in response.headers.multi_items() if v.startswith("enclave_console="))
    assert "; secure" in cookie.lower() and "httponly" in cookie.lower()
    http.close()


@pytest.mark.parametrize(
    ("name", "password"),
    [("root", "wrong password here"), ("nobody", PASSWORD), ("root", ""), ("", PASSWORD)],
)
def test_wrong_credentials_are_refused_alike(
    browser: ConsoleClient,
    registry: RegistryService,
    operators: dict[str, Operator],
    name: str,
    password: str,
) -> None:
    response = browser.sign_in(name, password)
    assert response.status_code in (400, 401)
    assert "enclave_console" not in response.cookies
    if name and password:
        assert error_message(response) == "wrong operator name or password"
        last = events(registry, operators["root"])[-1]
        assert last.event.kind == "console.signin_failed"  # type: ignore[attr-defined]
        assert PASSWORD not in str(last) and "nobody" not in str(last)
    assert browser.get("/", status=303).headers["location"].startswith(f"{PREFIX}/signin")


def test_operator_without_password_cannot_sign_in(
    browser: ConsoleClient, registry: RegistryService, operators: dict[str, Operator]
) -> None:
    registry.create_operator(operators["root"], name="fresh", roles=["admin"])
    assert browser.sign_in("fresh", PASSWORD).status_code == 401


def test_disabled_operator_is_refused_and_signed_out(
    signed: SignIn, browser: ConsoleClient, db: Database, operators: dict[str, Operator]
) -> None:
    rev = signed("rev-a")
    # No service disables operators yet (issue 1 keeps the column); set it directly.
    with db.engine.begin() as conn:
        conn.execute(
            update(operators_table)
            .where(operators_table.c.id == operators["rev-a"].id)
            .values(disabled_at=datetime(2026, 1, 1, tzinfo=UTC))
        )
    assert rev.get("/", status=303).headers["location"].startswith(f"{PREFIX}/signin")
    response = browser.sign_in("rev-a")
    assert response.status_code == 401 and "disabled" in error_message(response)


def test_sign_out_ends_the_session_on_the_server(
    signed: SignIn, console_url: str, registry: RegistryService, operators: dict[str, Operator]
) -> None:
    root = signed("root")
    stolen = root.http.cookies.get("enclave_console", path=PREFIX)
    assert stolen
    out = root.post("/signout")
    assert out.status_code == 303 and out.headers["location"] == f"{PREFIX}/signin?done=signed-out"
    assert "Signed out." in root.get("/signin?done=signed-out").text
    replay = ConsoleClient(console_url)
    try:
        replay.http.cookies.set("enclave_console", stolen, path=PREFIX)
        assert replay.get("/orgs", status=303).headers["location"].startswith(f"{PREFIX}/signin")
        assert replay.post("/signout", csrf=root.csrf).status_code == 401
    finally:
        replay.close()
    kinds = [e.event.kind for e in events(registry, operators["root"])]  # type: ignore[attr-defined]
    assert kinds[-1] == "console.signout"


def test_expired_session_is_refused(signed: SignIn, clock: Any) -> None:
    root = signed("root")
    root.get("/")
    clock.advance(minutes=479)
    root.get("/")
    clock.advance(minutes=2)
    assert root.get("/", status=303).headers["location"].startswith(f"{PREFIX}/signin")
    assert root.post("/signout").status_code == 401


def test_new_password_ends_the_operators_sessions(
    signed: SignIn, accounts: ConsoleAccounts, operators: dict[str, Operator]
) -> None:
    rev = signed("rev-b")
    accounts.set_password(operators["root"], "rev-b", "another long password")
    assert rev.get("/", status=303).status_code == 303


def test_sign_in_returns_to_the_page_asked_for_and_nowhere_else(browser: ConsoleClient) -> None:
    asked = browser.get("/alerts?status=open", status=303).headers["location"]
    assert asked == f"{PREFIX}/signin?next=%2Fconsole%2Falerts%3Fstatus%3Dopen"
    for target, expected in (
        ("/console/alerts?status=open", "/console/alerts?status=open"),
        ("https://evil.example/", "/console/"),
        ("//evil.example/console/", "/console/"),
        ("/console/\\evil", "/console/"),
    ):
        client = ConsoleClient(str(browser.http.base_url))
        try:
            form = client.get("/signin", params={"next": target})
            response = client.http.post(
                PREFIX + "/signin",
                data={
                    "csrf": csrf_of(form.text),
                    "name": "root",
                    "password": PASSWORD,
                    "next": target,
                },
            )
            assert response.headers["location"] == expected
        finally:
            client.close()


def test_pages_carry_security_headers_and_no_inline_script(signed: SignIn) -> None:
    root = signed("root")
    for path in ("/", "/signin", "/orgs", "/nope"):
        response = root.get(path, status=None)
        assert response.headers["content-security-policy"] == (
            "default-src 'self'; frame-ancestors 'none'"
        )
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
        assert "<script>" not in response.text and " style=" not in response.text
        assert " on" + "click=" not in response.text
    assert root.get("/nope", status=404).text.count("no console page at /console/nope") == 1
    assert root.get("/static/console.js").headers["content-type"].startswith("text/javascript")


def test_a_hash_with_weaker_parameters_is_upgraded_at_sign_in(
    signed: SignIn, db: Database, operators: dict[str, Operator]
) -> None:
    store = SqlConsoleStore(db.engine)
    with store.reader() as unit:
        before = unit.get_password_hash(operators["auditor"].id)
    assert before is not None and before.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    signed("auditor")
    with store.reader() as unit:
        after = unit.get_password_hash(operators["auditor"].id)
    assert after is not None and after.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert signed("auditor").get("/").status_code == 200  # the new hash verifies


def test_an_oversized_form_is_refused_with_a_console_page(signed: SignIn, runtime: Runtime) -> None:
    root = signed("root")
    limit = runtime.settings.max_body_bytes
    response = root.post("/alerts/alr_x/resolve", {"resolution": "x" * (limit + 1)})
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-frame-options"] == "DENY"
    assert "larger than" in error_message(response)


def test_failed_sign_ins_are_throttled_per_address(
    browser: ConsoleClient, clock: Any, registry: RegistryService, operators: dict[str, Operator]
) -> None:
    for _ in range(10):
        assert browser.sign_in("root", "not the password").status_code == 401
    recorded = len(registry.list_events(operators["root"], limit=1000))
    throttled = browser.sign_in("root")  # even the right password is not checked now
    assert throttled.status_code == 429 and "enclave_console" not in throttled.cookies
    assert "too many failed sign-ins" in error_message(throttled)
    assert len(registry.list_events(operators["root"], limit=1000)) == recorded
    clock.advance(minutes=10)
    assert browser.sign_in("root").status_code == 303


def test_a_failed_sign_in_keeps_the_page_asked_for(browser: ConsoleClient) -> None:
    target = "/console/alerts?status=open"
    form = browser.get("/signin", params={"next": target})
    failed = browser.http.post(
        PREFIX + "/signin",
        data={"csrf": csrf_of(form.text), "name": "root", "password": "wrong", "next": target},
    )
    assert failed.status_code == 401 and "alerts?status=open" in failed.text
    again = browser.http.post(
        PREFIX + "/signin",
        data={"csrf": csrf_of(failed.text), "name": "root", "password": PASSWORD, "next": target},
    )
    assert again.status_code == 303 and again.headers["location"] == target
