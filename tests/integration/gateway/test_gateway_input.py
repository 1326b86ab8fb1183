"""Malformed requests: a clear 4xx in the API's native shape, nothing sent upstream."""

from __future__ import annotations

from typing import Any

import pytest
from gateway_support import Gateway, anthropic_error, openai_error

OK = {"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}]}
OK_CLAUDE = {
    "model": "claude-fake",
    "max_tokens": 8,
    "messages": [{"role": "user", "content": "hi"}],
}


def _post(gateway: Gateway, path: str, content: bytes, **headers: str) -> Any:
    sent = {
        "Authorization": f"Bearer {gateway.keys.public}",
        "content-type": "application/json",
        **headers,
    }
    return gateway.http.post(path, content=content, headers=sent)


# Parsing and header checks touch no database: SQLite is enough here (refusals are
# recorded on both backends in test_gateway_access and test_gateway_events).
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture(autouse=True)
def nothing_reaches_the_upstream(gateway: Gateway) -> Any:
    yield
    assert gateway.upstream.requests == []


@pytest.mark.parametrize(
    ("content", "status", "param"),
    [
        (b"{not json", 400, None),
        (b"", 400, None),
        (b"[1, 2]", 422, None),
        (b'{"messages": [{"role": "user", "content": "x"}]}', 422, "model"),
        (b'{"model": "gpt-fake"}', 422, "messages"),
        (b'{"model": "gpt-fake", "messages": []}', 422, "messages"),
        (b'{"model": "gpt-fake", "messages": ["hi"]}', 422, "messages[0]"),
        (b'{"model": 7, "messages": [{"role": "user"}]}', 422, "model"),
        (b'{"model": "gpt-fake", "messages": [{"role": "user"}], "stream": "yes"}', 422, "stream"),
        (
            b'{"model": "gpt-fake", "messages": [{"role": "user"}], "stream_options": 1}',
            422,
            "stream_options",
        ),
    ],
    ids=[
        "not-json",
        "empty",
        "not-object",
        "no-model",
        "no-messages",
        "empty-messages",
        "message-not-object",
        "model-not-string",
        "stream-not-bool",
        "stream-options-not-object",
    ],
)
def test_malformed_openai_bodies(
    gateway: Gateway, content: bytes, status: int, param: str | None
) -> None:
    error = openai_error(_post(gateway, "/v1/chat/completions", content), status)
    assert error["param"] == param


@pytest.mark.parametrize(
    "body",
    [
        {"model": "claude-fake", "messages": [{"role": "user", "content": "x"}]},
        {**OK_CLAUDE, "max_tokens": 0},
        {**OK_CLAUDE, "max_tokens": True},
        {**OK_CLAUDE, "system": 5},
    ],
    ids=["no-max-tokens", "zero-max-tokens", "bool-max-tokens", "system-not-text"],
)
def test_malformed_anthropic_bodies(gateway: Gateway, body: dict[str, Any]) -> None:
    anthropic_error(gateway.messages(gateway.keys.public, body), 422, "invalid_request_error")


def test_oversize_body_is_413_in_both_shapes(gateway: Gateway) -> None:
    big = (
        b'{"model": "gpt-fake", "messages": [{"role": "user", "content": "'
        + b"a" * (gateway.client.settings.max_body_bytes)
        + b'"}]}'
    )
    openai_error(_post(gateway, "/v1/chat/completions", big), 413)
    response = _post(gateway, "/v1/messages", big, **{"anthropic-version": "2023-06-01"})
    anthropic_error(response, 413, "request_too_large")


def test_deep_json_is_refused(gateway: Gateway) -> None:
    depth = gateway.client.settings.max_json_depth + 1
    deep = (
        b'{"model": "gpt-fake", "messages": [{"role": "user", "content": '
        + (b"[" * depth + b"]" * depth)
        + b"}]}"
    )
    error = openai_error(_post(gateway, "/v1/chat/completions", deep), 400)
    assert "nesting" in error["message"]


def test_wrong_content_type_is_415(gateway: Gateway) -> None:
    response = _post(
        gateway, "/v1/chat/completions", b"model=gpt-fake", **{"content-type": "text/plain"}
    )
    openai_error(response, 415)
    response = _post(gateway, "/v1/messages", b"x", **{"content-type": "application/xml"})
    anthropic_error(response, 415)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"X-Enclave-Session": "has spaces"}, 400),
        ({"X-Enclave-Session": "x" * 101}, 400),
        ({"X-Enclave-Purpose": "gen\teral"}, 400),
        ({"Authorization": "Bearer"}, 401),
        ({"X-Padding": "p" * 20_000}, 431),
    ],
    ids=["session-spaces", "session-long", "purpose-control", "bearer-empty", "too-large"],
)
def test_bad_headers(gateway: Gateway, headers: dict[str, str], status: int) -> None:
    sent = {"Authorization": f"Bearer {gateway.keys.public}", **headers}
    response = gateway.http.post("/v1/chat/completions", json=OK, headers=sent)
    openai_error(response, status)


@pytest.mark.parametrize("value", ["v" * 600, "caf\xe9"], ids=["long", "not-ascii"])
def test_bad_anthropic_version_header(gateway: Gateway, value: str) -> None:
    # Forwarded upstream, so held to RFC 9110 §5.5 (visible ASCII) and a length limit.
    sent = {"x-api-key": gateway.keys.public, "anthropic-version": value.encode("latin-1")}
    response = gateway.http.post("/v1/messages", json=OK_CLAUDE, headers=sent)
    anthropic_error(response, 400)


def test_wrong_method_and_unknown_path(gateway: Gateway) -> None:
    response = gateway.http.get(
        "/v1/chat/completions", headers={"Authorization": f"Bearer {gateway.keys.public}"}
    )
    openai_error(response, 405)
    response = gateway.http.get("/v1/embeddings")
    openai_error(response, 404, "unknown_url")
    response = gateway.http.get("/v1/nope", headers={"anthropic-version": "2023-06-01"})
    anthropic_error(response, 404, "not_found_error")
    response = gateway.http.post(
        "/v1/models", headers={"Authorization": f"Bearer {gateway.keys.public}"}
    )
    openai_error(response, 405)


def test_refusals_are_recorded_without_bodies(gateway: Gateway) -> None:
    _post(gateway, "/v1/chat/completions", b'{"model": 1, "messages": "secret text"}')
    (event,) = gateway.events()
    data = event.event.data
    assert data["outcome"] == "invalid" and data["status"] == 422
    assert data["request_sha256"].startswith("sha256:")
    assert "secret text" not in str(data)
