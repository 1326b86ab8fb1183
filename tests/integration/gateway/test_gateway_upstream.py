"""Upstream faults, mapped to 502/504 in each API's native error shape."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from gateway_support import (
    Gateway,
    Swappable,
    anthropic_error,
    openai_error,
    run_gateway,
    sdk_anthropic,
    sdk_openai,
)

from enclave.config import Settings
from enclave.registry import Operator, RegistryService
from enclave.store import Database

ASK = {"messages": [{"role": "user", "content": "hi"}]}
ASK_CLAUDE = {"max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}


def _event(gateway: Gateway) -> dict[str, Any]:
    return dict(gateway.events()[-1].event.data)


def test_upstream_500_is_502_in_both_shapes(gateway: Gateway) -> None:
    error = openai_error(gateway.chat(gateway.keys.public, {**ASK, "model": "failing"}), 502)
    assert error["type"] == "server_error" and error["code"] == "upstream_error"
    assert "failed with HTTP 500" in error["message"]
    assert _event(gateway)["outcome"] == "upstream_error"
    response = gateway.messages(gateway.keys.public, {**ASK_CLAUDE, "model": "failing-claude"})
    anthropic_error(response, 502, "api_error")
    client = sdk_openai(gateway)
    with pytest.raises(openai.APIStatusError) as raised:
        client.chat.completions.create(model="failing", **ASK)  # type: ignore[call-overload]
    assert raised.value.status_code == 502


def test_upstream_timeout_is_504_in_both_shapes(gateway: Gateway) -> None:
    error = openai_error(gateway.chat(gateway.keys.public, {**ASK, "model": "slow"}), 504)
    assert error["code"] == "upstream_timeout"
    assert _event(gateway)["outcome"] == "upstream_timeout"
    # The gateway hung up on the silent upstream, which saw the disconnect.
    assert gateway.upstream.disconnected.wait(timeout=10)
    response = gateway.messages(gateway.keys.public, {**ASK_CLAUDE, "model": "slow-claude"})
    anthropic_error(response, 504, "timeout_error")


def test_upstream_rate_limit_is_passed_back(gateway: Gateway) -> None:
    response = gateway.chat(gateway.keys.public, {**ASK, "model": "limited"})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json()["error"]["message"] == "fake upstream says 429"
    assert _event(gateway)["outcome"] == "rate_limited"


def test_upstream_rejecting_the_gateways_key_is_502(gateway: Gateway) -> None:
    error = openai_error(gateway.chat(gateway.keys.public, {**ASK, "model": "wrong-key"}), 502)
    assert "credentials" in error["message"]
    assert "fake upstream" not in error["message"]  # the upstream's words stay inside


def test_upstream_redirects_are_not_followed(gateway: Gateway) -> None:
    # A redirect would carry the request, and the provider key, to an address the
    # operator never configured.
    error = openai_error(gateway.chat(gateway.keys.public, {**ASK, "model": "redirecting"}), 502)
    assert "307" in error["message"]
    assert [seen.path for seen in gateway.upstream.requests] == ["/v1/chat/completions"]


def test_upstream_400_about_the_request_is_passed_back(gateway: Gateway) -> None:
    response = gateway.messages(gateway.keys.public, {**ASK_CLAUDE, "model": "bad-param"})
    error = anthropic_error(response, 400)
    assert error["message"] == "fake upstream says 400"
    assert _event(gateway)["outcome"] == "upstream_rejected"


def test_stream_broken_by_the_upstream_ends_with_a_native_error_event(
    gateway: Gateway,
) -> None:
    body = {**ASK, "model": "broken", "stream": True}
    with gateway.http.stream(
        "POST",
        "/v1/chat/completions",
        json=body,
        headers=gateway.headers(gateway.keys.public),
    ) as response:
        assert response.status_code == 200
        text = response.read().decode()
    assert text.rstrip().endswith("}")
    assert '"code":"api_error"' in text.splitlines()[-2] or '"api_error"' in text
    data = _event(gateway)
    assert data["outcome"] == "upstream_broken"
    assert data["delivered"]["content_deltas"] >= 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def unreachable(
    gateway_settings: Settings,
    db: Database,
    registry: RegistryService,
    admin: Operator,
    second_admin: Operator,
    clock: Any,
    enclave_server: tuple[str, Any, Swappable],
    upstream: Any,
) -> Iterator[Gateway]:
    providers = dict(gateway_settings.providers)
    providers["oai"] = providers["oai"].model_copy(
        update={"base_url": f"http://127.0.0.1:{_closed_port()}/v1"}
    )
    settings = gateway_settings.model_copy(update={"providers": providers})
    yield from run_gateway(
        settings, db, registry, admin, second_admin, clock, enclave_server, upstream
    )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_unreachable_upstream_is_502(unreachable: Gateway) -> None:
    error = openai_error(
        unreachable.chat(unreachable.keys.public, {**ASK, "model": "gpt-fake"}), 502
    )
    assert "ClientConnectorError" in error["message"] or "failed" in error["message"]
    assert _event(unreachable)["outcome"] == "upstream_error"


def test_anthropic_sdk_sees_502_as_a_server_error(gateway: Gateway) -> None:
    client = sdk_anthropic(gateway)
    with pytest.raises(anthropic.APIStatusError) as raised:
        client.messages.create(model="failing-claude", **ASK_CLAUDE)  # type: ignore[call-overload]
    assert raised.value.status_code == 502
    assert isinstance(raised.value, anthropic.InternalServerError)
    assert raised.value.body["error"]["type"] == "api_error"  # type: ignore[index]
