"""Bad input to the admin API: each gets a problem+json and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from admin_support import MAX_BODY, PREFIX, Api, Ops, assert_problem, unchanged
from sqlalchemy import update

from enclave.registry import RegistryService
from enclave.store import Database
from enclave.store.tables import operator_tokens


@pytest.fixture
def frozen(registry: RegistryService, ops: Ops) -> Iterator[None]:
    """Assert that the test body leaves the registry exactly as it found it."""
    with unchanged(registry, ops.root):
        yield


@pytest.fixture
def acme(api: Api) -> str:
    return api.approved_org("Acme")


ORG = {"name": "Delta", "kind": "partner", "tier": "partner"}


# -- references to things that do not exist, and state conflicts --------------------


UNKNOWN = [
    ("GET", "/orgs/nobody", None),
    ("POST", "/orgs/nobody/status", {"action": "suspend", "reason": "x"}),
    ("POST", "/orgs/nobody/applications", {"tier": "partner"}),
    ("POST", "/keys", {"org": "nobody", "purposes": ["general"]}),
    ("GET", "/keys?org=nobody", None),
    ("POST", "/applications/app_0000/decisions", {"decision": "approve", "reason": "x"}),
    ("POST", "/keys/key_0000/revoke", {"reason": "x"}),
]


# Table-driven tests loop inside one test (one database set-up for the whole table);
# each assertion names its case.
def test_unknown_things_are_404(api: Api, acme: str, frozen: None) -> None:
    for method, path, body in UNKNOWN:
        kwargs = {} if body is None else {"body": body}
        assert_problem(api.request(method, path, **kwargs), 404, "not_found")


def test_duplicate_org_name_is_409(api: Api, acme: str, frozen: None) -> None:
    problem = assert_problem(api.post("/orgs", {**ORG, "name": "Acme"}), 409, "conflict")
    assert "already exists" in problem["detail"]


def test_purpose_the_tier_does_not_allow_is_400(
    api: Api, registry: RegistryService, ops: Ops
) -> None:
    public = api.approved_org("Walk-in", tier="public", kind="public")
    with unchanged(registry, ops.root):
        response = api.post("/keys", {"org": public, "purposes": ["general", "binary-testing"]})
        problem = assert_problem(response, 400, "invalid_input")
        assert "does not allow" in problem["detail"] and "general" in problem["hint"]


BAD_KEYS = [
    ({"purposes": ["mind-reading"]}, 400, "unknown purpose"),
    ({"purposes": ["general"], "expires": "30x"}, 400, "expected a number"),
    ({"purposes": ["general"], "expires": "400d"}, 400, "at most"),
    ({"purposes": ["general"], "expires": "0d"}, 400, "future"),
    ({"purposes": []}, 422, "at least 1"),
    ({"purposes": ["general"], "limits": {"requests_per_minute": 0}}, 422, "greater than"),
    ({"purposes": ["general"], "limits": {"requests_per_minute": "60"}}, 422, "integer"),
]


def test_bad_key_requests(api: Api, acme: str, frozen: None) -> None:
    for body, status, fragment in BAD_KEYS:
        problem = assert_problem(api.post("/keys", {"org": acme, **body}), status)
        assert fragment in problem["detail"], (body, problem)


def test_key_for_an_org_not_yet_approved_is_409(api: Api, registry: RegistryService, ops: Ops):
    api.ok("POST", "/orgs", ORG)
    with unchanged(registry, ops.root):
        problem = assert_problem(api.post("/keys", {"org": "Delta", "purposes": ["general"]}), 409)
        assert "applied" in problem["detail"]


def test_decision_on_a_decided_application_is_409(api: Api, registry: RegistryService, ops: Ops):
    created = api.ok("POST", "/orgs", {**ORG, "tier": "public", "kind": "public"})
    app_id = created["application"]["id"]
    api.ok("POST", f"/applications/{app_id}/decisions", {"decision": "approve", "reason": "ok"})
    with unchanged(registry, ops.root):
        late = api.post(
            f"/applications/{app_id}/decisions",
            {"decision": "reject", "reason": "late"},
            as_="rev-a",
        )
        assert_problem(late, 409, "conflict")


# -- malformed bodies ---------------------------------------------------------------


def _raw(api: Api, path: str, content: bytes, content_type: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {api.tokens['admin']}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return api.http.post(PREFIX + path, content=content, headers=headers)


def test_malformed_json_is_400(api: Api, frozen: None) -> None:
    for content in (b'{"name": "Delta",', b"{'name': 'Delta'}", b"nul", b'{"a": 1}}'):
        response = _raw(api, "/orgs", content, "application/json")
        problem = assert_problem(response, 400, "malformed_json")
        assert "not valid JSON" in problem["detail"], content


def test_body_that_is_not_utf8_is_400(api: Api, frozen: None) -> None:
    assert_problem(_raw(api, "/orgs", b'{"name": "\xff\xfe"}', "application/json"), 400)


def test_json_that_is_not_the_expected_object_is_422(api: Api, frozen: None) -> None:
    for content, pointer in [(b"[]", "#"), (b'"Delta"', "#"), (b"", "#"), (b"{}", "#/name")]:
        response = _raw(api, "/orgs", content, "application/json")
        problem = assert_problem(response, 422, "validation_failed")
        assert pointer in [e.get("pointer") for e in problem["errors"]], (content, problem)


def test_wrong_content_type_is_415(api: Api, frozen: None) -> None:
    content = b'{"name": "Delta", "kind": "partner", "tier": "partner"}'
    for content_type in (
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/jsonp",
        "text/json",
    ):
        response = _raw(api, "/orgs", content, content_type)
        assert_problem(response, 415, "unsupported_media_type")


def test_json_with_charset_parameter_is_accepted(api: Api) -> None:
    content = b'{"name": "Delta", "kind": "partner", "tier": "partner"}'
    response = _raw(api, "/orgs", content, "application/json; charset=utf-8")
    assert response.status_code == 201, response.text


def test_body_over_the_size_limit_is_413_by_content_length(api: Api, frozen: None) -> None:
    body = {
        **ORG,
        "evidence": {"text": "x" * 9000, "links": ["https://e.example/" + "y" * 1900] * 4},
    }
    response = api.post("/orgs", body)
    assert int(response.request.headers["content-length"]) > MAX_BODY
    problem = assert_problem(response, 413, "body_too_large")
    assert str(MAX_BODY) in problem["detail"]


def test_body_over_the_size_limit_is_413_when_streamed(api: Api, frozen: None) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "Delta", "kind": "partner", "tier": "partner", "sector": "'
        for _ in range(MAX_BODY // 1024 + 1):
            yield b"s" * 1024
        yield b'"}'

    response = api.http.post(
        PREFIX + "/orgs",
        content=chunks(),
        headers={
            "Authorization": f"Bearer {api.tokens['admin']}",
            "Content-Type": "application/json",
        },
    )
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_problem(response, 413, "body_too_large")


def test_json_nested_too_deep_is_400(api: Api, frozen: None) -> None:
    evil = (
        b'{"name": "Delta", "kind": "partner", "tier": "partner", "sector": '
        + (b"[" * 100 + b"]" * 100)
        + b"}"
    )
    assert_problem(_raw(api, "/orgs", evil, "application/json"), 400, "json_too_deep")


# -- schema violations ----------------------------------------------------------------


SCHEMA_VIOLATIONS: list[tuple[str, dict[str, Any], str]] = [
    ("/orgs", {**ORG, "admin": True}, "#/admin"),
    ("/orgs", {**ORG, "evidence": {"text": "x", "score": 10}}, "#/evidence/score"),
    ("/orgs", {**ORG, "name": "n" * 201}, "#/name"),
    ("/orgs", {**ORG, "name": ""}, "#/name"),
    ("/orgs", {**ORG, "sector": "s" * 201}, "#/sector"),
    ("/orgs", {**ORG, "kind": "galaxy"}, "#/kind"),
    ("/orgs", {**ORG, "evidence": {"text": "t" * 10_001}}, "#/evidence/text"),
    ("/orgs", {**ORG, "evidence": {"links": ["https://x.example"] * 51}}, "#/evidence/links"),
    (
        "/orgs",
        {**ORG, "evidence": {"attachments": [{"name": "a", "sha256": "md5:00"}]}},
        "#/evidence/attachments/0/sha256",
    ),
    ("/orgs", {**ORG, "tier": 7}, "#/tier"),
    ("/operators", {"name": "eve", "roles": ["god"]}, "#/roles/0"),
    ("/operators", {"name": "eve", "roles": []}, "#/roles"),
    ("/keys", {"org": "Acme", "purposes": ["general"], "name": "k" * 201}, "#/name"),
    ("/keys", {"org": "Acme", "purposes": ["p" * 41]}, "#/purposes/0"),
    ("/keys", {"org": "Acme", "purposes": ["general"] * 17}, "#/purposes"),
    ("/keys", {"org": "Acme", "purposes": ["general"], "scope": ["a"] * 101}, "#/scope"),
    ("/keys", {"org": "Acme", "purposes": ["general"], "expires": "9" * 17}, "#/expires"),
]


def test_schema_violations_are_422_with_a_pointer(api: Api, acme: str, frozen: None) -> None:
    """Unknown fields, oversize strings and lists, wrong types and enum values."""
    for path, body, pointer in SCHEMA_VIOLATIONS:
        problem = assert_problem(api.post(path, body), 422, "validation_failed")
        assert pointer in [e.get("pointer") for e in problem["errors"]], (pointer, problem)
        assert problem["detail"].startswith(pointer), (pointer, problem)


def test_oversize_reason_and_unknown_decision_are_422(
    api: Api, registry: RegistryService, ops: Ops
) -> None:
    app_id = api.ok("POST", "/orgs", ORG)["application"]["id"]
    path = f"/applications/{app_id}/decisions"
    with unchanged(registry, ops.root):
        for body, pointer in [
            ({"decision": "approve", "reason": "r" * 10_001}, "#/reason"),
            ({"decision": "approve", "reason": ""}, "#/reason"),
            ({"decision": "maybe", "reason": "r"}, "#/decision"),
            ({"decision": "approve"}, "#/reason"),
        ]:
            problem = assert_problem(api.post(path, body, as_="rev-a"), 422)
            assert pointer in [e["pointer"] for e in problem["errors"]]


def test_blank_reason_is_refused_by_the_service(api: Api, acme: str, frozen: None) -> None:
    response = api.post(f"/orgs/{acme}/status", {"action": "suspend", "reason": "   "})
    assert "must not be empty" in assert_problem(response, 400, "invalid_input")["detail"]


def test_errors_do_not_echo_input_values(api: Api, frozen: None) -> None:
    secret_like = "enc_abcdefghijkm_" + "S" * 43
    response = api.post("/orgs", {**ORG, "kind": secret_like})
    assert_problem(response, 422)
    assert secret_like not in response.text


def test_bad_query_parameters_are_422(api: Api) -> None:
    for query, parameter in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("after=-1", "after"),
    ]:
        problem = assert_problem(api.get(f"/events?{query}"), 422, "validation_failed")
        first = problem["errors"][0]
        assert first == {"parameter": parameter, "in": "query", "detail": first["detail"]}


def test_unknown_status_filters_are_422(api: Api) -> None:
    assert_problem(api.get("/orgs?status=happy"), 422)
    assert_problem(api.get("/applications?status=maybe"), 422)


# -- routes ---------------------------------------------------------------------------


def test_unknown_admin_routes_are_404_problems(api: Api) -> None:
    for path in ("/admin/v1/nothing", "/admin/v2/orgs", "/admin/", "/admin/v1/"):
        response = api.http.get(path, headers={"Authorization": f"Bearer {api.tokens['admin']}"})
        assert_problem(response, 404, "not_found")


def test_wrong_method_is_405_with_allow(api: Api, frozen: None) -> None:
    response = api.request("DELETE", "/orgs")
    assert_problem(response, 405, "method_not_allowed")
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}


# -- authentication -------------------------------------------------------------------


BAD_AUTHORIZATION = [
    (None, "unauthenticated"),
    ("Basic cm9vdDpyb290", "unauthenticated"),
    ("Bearer", "unauthenticated"),
    ("Bearer eop_short", "invalid_credential"),
    ("Bearer eop_abcdefghijkm_" + "A" * 43, "invalid_credential"),  # well-formed, unknown
    ("Bearer enc_abcdefghijkm_" + "A" * 43, "invalid_credential"),  # a client API key
]


def test_missing_or_invalid_token_is_401_on_every_route(api: Api, acme: str, frozen: None) -> None:
    routes = [
        ("GET", "/orgs", None),
        ("GET", "/events", None),
        ("POST", "/orgs", ORG),
        ("POST", "/keys", {"org": acme, "purposes": ["general"]}),
        ("POST", "/operators", {"name": "eve", "roles": ["admin"]}),
    ]
    for authorization, code in BAD_AUTHORIZATION:
        headers = {} if authorization is None else {"Authorization": authorization}
        for method, path, body in routes:
            kwargs = {} if body is None else {"body": body}
            response = api.request(method, path, as_=None, headers=headers, **kwargs)
            problem = assert_problem(response, 401, code)
            assert response.headers["www-authenticate"].startswith("Bearer"), problem
            assert "A" * 43 not in response.text, problem


def test_a_client_key_is_not_an_operator_token(api: Api, acme: str) -> None:
    secret = api.ok("POST", "/keys", {"org": acme, "purposes": ["general"]})["secret"]
    response = api.get("/orgs", as_=None, headers={"Authorization": f"Bearer {secret}"})
    assert_problem(response, 401, "invalid_credential")


def test_a_revoked_operator_token_is_401(
    api: Api, db: Database, registry: RegistryService, ops: Ops
) -> None:
    assert api.get("/orgs", as_="rev-a").status_code == 200
    prefix = ops.tokens["rev-a"].split("_")[1]
    # No API revokes operator tokens yet; the store honours revoked_at, so set it there.
    with db.engine.begin() as conn:
        conn.execute(
            update(operator_tokens)
            .where(operator_tokens.c.prefix == prefix)
            .values(revoked_at=registry.now())
        )
    with unchanged(registry, ops.root):
        assert_problem(api.get("/orgs", as_="rev-a"), 401, "invalid_credential")
        decision = api.post(
            "/applications/app_0/decisions", {"decision": "approve", "reason": "x"}, as_="rev-a"
        )
        assert_problem(decision, 401, "invalid_credential")
