"""Helpers for the console tests: a live uvicorn server, and a browser-like client that
signs in through the sign-in form and posts forms with the CSRF token a page carried.

Usage in a test (fixtures from this folder's conftest.py)::

    def test_something(signed: SignIn) -> None:
        admin = signed("root")                  # a ConsoleClient, signed in as root
        page = admin.get("/orgs")               # GET /console/orgs, 200 asserted
        admin.post("/keys/key_x/revoke", {"reason": "r"}, confirm=True)

Operators (conftest ``operators``): root (admin), rev-a and rev-b (reviewer), auditor
(auditor), each with the console password PASSWORD.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import httpx

from enclave.registry import Operator, Organisation, RegistryService

PREFIX = "/console"
PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf" value="([^"]*)"')


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = _CSRF.search(html)
    assert found, "no form with a CSRF field on the page"
    return found.group(1)


class ConsoleClient:
    """One browser: its own cookie jar. Paths are below /console."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30, follow_redirects=False)
        self.csrf = ""

    def close(self) -> None:
        self.http.close()

    def sign_in(self, name: str, password: str = PASSWORD) -> httpx.Response:
        """Fill in the sign-in form as a browser would; returns the POST's response."""
        form = self.http.get(PREFIX + "/signin")
        assert form.status_code == 200, form.text
        response = self.http.post(
            PREFIX + "/signin",
            data={"csrf": csrf_of(form.text), "name": name, "password": password},
        )
        if response.status_code == 303:
            self.csrf = csrf_of(self.get("/").text)
        return response

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, PREFIX + path, **kwargs)

    def get(self, path: str, *, status: int | None = 200, **kwargs: Any) -> httpx.Response:
        response = self.request("GET", path, **kwargs)
        if status is not None:
            assert response.status_code == status, (response.status_code, response.text)
        return response

    def post(
        self,
        path: str,
        data: dict[str, Any] | None = None,
        *,
        confirm: bool = False,
        csrf: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """POST a form with this session's CSRF token (or ``csrf``, "" for none);
        ``confirm`` ticks the "I confirm" box destructive actions need."""
        fields = dict(data or {})
        token = self.csrf if csrf is None else csrf
        if token:
            fields["csrf"] = token
        if confirm:
            fields["confirm"] = "yes"
        return self.request("POST", path, data=fields, **kwargs)

    def done(self, response: httpx.Response) -> httpx.Response:
        """Follow a 303 after a successful POST; the page it leads to."""
        assert response.status_code == 303, (response.status_code, response.text)
        location = response.headers["location"]
        assert location.startswith(PREFIX + "/"), location
        return self.get(location.removeprefix(PREFIX))


SignIn = Callable[[str], ConsoleClient]


def approved(
    registry: RegistryService, ops: dict[str, Operator], name: str, kind: str = "maintainer"
) -> Organisation:
    """An organisation (tier = kind) created by root and approved by rev-a and rev-b."""
    _, application = registry.create_org(ops["root"], name=name, kind=kind, tier=kind)
    for reviewer in ("rev-a", "rev-b"):
        _, org = registry.decide(ops[reviewer], application.id, decision="approve", reason="ok")
    return org


def error_message(response: httpx.Response) -> str:
    """The message of a console error page, unescaped."""
    found = re.search(r'<p class="error" role="alert">(.*?)</p>', response.text, re.S)
    assert found, response.text
    return html.unescape(found.group(1))
