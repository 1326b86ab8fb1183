"""Helpers for the admin API tests: an API client, problem assertions (the live server is
tests/serving.py's)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from enclave.registry import Operator, RegistryService

PREFIX = "/admin/v1"
MAX_BODY = 16 * 1024  # small, so that the size tests send little
KEY_PATTERN = r"^enc_[a-z2-9]{12}_[A-Za-z0-9_-]{43}$"
TOKEN_PATTERN = r"^eop_[a-z2-9]{12}_[A-Za-z0-9_-]{43}$"


@dataclass(frozen=True)
class Ops:
    """The operators every API test has, with their tokens (admin, rev-a, rev-b, auditor)."""

    root: Operator
    tokens: dict[str, str]


_UNSET: Any = object()


class Api:
    """A client for the admin API acting as one of the fixture operators (default admin)."""

    def __init__(self, http: httpx.Client, tokens: dict[str, str]) -> None:
        self.http = http
        self.tokens = tokens

    def request(
        self,
        method: str,
        path: str,
        body: Any = _UNSET,
        *,
        as_: str | None = "admin",
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        sent = dict(headers or {})
        if as_ is not None:
            sent.setdefault("Authorization", f"Bearer {self.tokens[as_]}")
        if body is not _UNSET:
            kwargs["json"] = body
        return self.http.request(method, PREFIX + path, headers=sent, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = _UNSET, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, body, **kwargs)

    def ok(self, method: str, path: str, body: Any = _UNSET, **kwargs: Any) -> Any:
        response = self.request(method, path, body, **kwargs)
        assert response.is_success, response.text
        return response.json()

    def approved_org(self, name: str, *, tier: str = "partner", kind: str = "partner") -> str:
        """Create an organisation and approve it with two reviewers; returns its id."""
        created = self.ok("POST", "/orgs", {"name": name, "kind": kind, "tier": tier})
        app_id = created["application"]["id"]
        for reviewer in ("rev-a", "rev-b"):
            decided = self.ok(
                "POST",
                f"/applications/{app_id}/decisions",
                {"decision": "approve", "reason": "evidence checked"},
                as_=reviewer,
            )
            if decided["organisation"]["status"] == "approved":
                break
        org_id: str = created["organisation"]["id"]
        return org_id


def snapshot(registry: RegistryService, actor: Operator) -> tuple[object, ...]:
    """Everything the registry holds, to show that a refused request changed nothing."""
    return (
        registry.list_events(actor, limit=1000),
        registry.list_orgs(actor),
        registry.list_applications(actor, status=None),
        registry.list_keys(actor),
        registry.list_operators(actor),
    )


@contextmanager
def unchanged(registry: RegistryService, actor: Operator) -> Iterator[None]:
    before = snapshot(registry, actor)
    yield
    assert snapshot(registry, actor) == before


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> Any:
    """An RFC 9457 problem with the given status (and code), and nothing internal in it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "about:blank"
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    if code is not None:
        assert body["code"] == code, body
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body
