"""What every request leaves behind: an event with hashes (not bodies), batched writes
that survive a clean shutdown, and Prometheus metrics."""

from __future__ import annotations

import asyncio
import hashlib
import stat
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from gateway_support import Gateway, Swappable, run_gateway

from enclave.config import Settings
from enclave.registry import Operator, RegistryService
from enclave.store import Database

SECRET_PROMPT = "the password is hunter2"
ASK = {"model": "gpt-fake", "messages": [{"role": "user", "content": SECRET_PROMPT}]}


def test_events_carry_hashes_of_bodies_not_bodies(gateway: Gateway) -> None:
    body = orjson.dumps(ASK)
    response = gateway.http.post(
        "/v1/chat/completions",
        content=body,
        headers={**gateway.headers(gateway.keys.public), "content-type": "application/json"},
    )
    assert response.status_code == 200
    (stored,) = gateway.events()
    event = stored.event
    data = event.data
    assert event.kind == "gateway.request"
    assert event.actor.startswith("key:key_")
    assert event.subject == response.headers["x-enclave-session"]
    assert data["request_sha256"] == "sha256:" + hashlib.sha256(body).hexdigest()
    assert data["response_sha256"] == "sha256:" + hashlib.sha256(response.content).hexdigest()
    assert data["bytes_in"] == len(body) and data["bytes_out"] == len(response.content)
    assert SECRET_PROMPT not in orjson.dumps(dict(data)).decode()
    assert "hunter2" not in response.headers.get("x-enclave-session", "")
    assert data["request_id"] == response.headers["x-enclave-request-id"]
    assert (data["model"], data["variant"], data["provider"]) == (
        "gpt-fake",
        "fake-safeguarded",
        "oai",
    )
    assert data["usage"] == {
        "input_tokens": 4,  # the fake counts words: "the password is hunter2"
        "output_tokens": 5,  # "echo: the password is hunter2"
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
    }
    assert data["latency_ms"] >= data["upstream_ms"] >= 0
    assert data["overhead_ms"] >= 0
    # Screened by the shipped classifier (the verdict, not the text) and charged: the
    # request id is the ledger's transfer id, the amount its usage at the test price.
    assert (data["screened"], data["charged"]) == (True, True)
    assert data["transfer"] == data["request_id"]
    assert isinstance(data["amount"], int) and data["amount"] > 0
    assert set(data["safeguards"]) == {"category", "score", "source"}
    assert not (gateway.client.settings.state_dir / "bodies").exists()


def _variant(
    gateway_settings: Settings,
    db: Database,
    registry: RegistryService,
    admin: Operator,
    second_admin: Operator,
    clock: Any,
    enclave_server: tuple[str, Any, Swappable],
    upstream: Any,
    **gateway: Any,
) -> Iterator[Gateway]:
    settings = gateway_settings.model_copy(
        update={"gateway": gateway_settings.gateway.model_copy(update=gateway)}
    )
    return run_gateway(settings, db, registry, admin, second_admin, clock, enclave_server, upstream)


@pytest.fixture
def storing(
    gateway_settings: Settings,
    db: Database,
    registry: RegistryService,
    admin: Operator,
    second_admin: Operator,
    clock: Any,
    enclave_server: tuple[str, Any, Swappable],
    upstream: Any,
) -> Iterator[Gateway]:
    yield from _variant(
        gateway_settings,
        db,
        registry,
        admin,
        second_admin,
        clock,
        enclave_server,
        upstream,
        store_bodies=True,
    )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_bodies_are_kept_by_hash_when_the_operator_enables_it(storing: Gateway) -> None:
    body = orjson.dumps({**ASK, "stream": True})
    with storing.http.stream(
        "POST",
        "/v1/chat/completions",
        content=body,
        headers={**storing.headers(storing.keys.public), "content-type": "application/json"},
    ) as response:
        streamed = response.read()
    (stored,) = storing.events()
    data = stored.event.data
    root = storing.client.settings.state_dir / "bodies" / "sha256"
    for digest, expected in ((data["request_sha256"], body), (data["response_sha256"], streamed)):
        hexpart = digest.removeprefix("sha256:")
        path = root / hexpart[:2] / hexpart
        assert path.read_bytes() == expected
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SECRET_PROMPT not in orjson.dumps(dict(data)).decode()  # still not in the event


def test_nothing_is_lost_on_a_clean_shutdown(
    gateway_settings: Settings,
    db: Database,
    registry: RegistryService,
    admin: Operator,
    second_admin: Operator,
    clock: Any,
    enclave_server: tuple[str, Any, Swappable],
    upstream: Any,
) -> None:
    # A flush interval far longer than the test: only the shutdown can write the events.
    running = _variant(
        gateway_settings,
        db,
        registry,
        admin,
        second_admin,
        clock,
        enclave_server,
        upstream,
        record_interval_ms=10_000,
    )
    gateway = next(running)

    async def burst() -> None:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
            headers = gateway.headers(gateway.keys.public)
            replies = await asyncio.gather(
                *(http.post("/v1/chat/completions", json=ASK, headers=headers) for _ in range(60))
            )
            assert {r.status_code for r in replies} == {200}

    asyncio.run(burst())
    assert gateway.client.recorder.written == 0  # still queued
    running.close()  # the fixture's teardown: ClientApi.close(), as at lifespan shutdown
    events = registry.list_events(admin, kind="gateway.request", limit=1000)
    assert len(events) == 60
    assert len({e.event.data["request_id"] for e in events}) == 60


def test_metrics_are_exposed(gateway: Gateway) -> None:
    gateway.chat(gateway.keys.public, ASK)
    gateway.chat(gateway.keys.public, {**ASK, "model": "failing"})
    gateway.chat(gateway.keys.public, {**ASK, "model": "partner-only"})
    response = gateway.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    lines = set(text.splitlines())
    assert 'enclave_gateway_requests_total{api="openai",outcome="ok",status="200"} 1.0' in lines
    assert (
        'enclave_gateway_requests_total{api="openai",outcome="upstream_error",status="502"} 1.0'
        in lines
    )
    assert 'enclave_gateway_requests_total{api="openai",outcome="denied",status="403"} 1.0' in lines
    assert 'enclave_gateway_policy_decisions_total{advice="allow"} 2.0' in lines
    assert 'enclave_gateway_upstream_errors_total{kind="status_500",provider="oai"} 1.0' in lines
    assert 'enclave_gateway_overhead_seconds_count{api="openai",stream="false"} 3.0' in lines
    bucket = 'enclave_gateway_request_duration_seconds_bucket{api="openai",le="120.0",'
    assert bucket + 'stream="false"} 3.0' in lines
    assert "enclave_gateway_events_pending" in text
    assert "key_" not in text and "org_" not in text  # no caller identities in labels
