"""enclave.app.ModelCalls: the server mounts the model calls ahead of FastAPI. Through
the lane or through the framework's routes, a client gets the same answers, refusals
included, and every other path still reaches the framework."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from gateway_support import Gateway, mounted

_HIDE = ("id", "created", "request_id")  # differ per request, whichever way it went


def _comparable(response: httpx.Response) -> tuple[int, str | None, Any]:
    try:
        body = response.json()
    except json.JSONDecodeError:
        body = response.text
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in _HIDE}
        if isinstance(body.get("error"), dict):
            body["error"] = {k: v for k, v in body["error"].items() if k != "message"} | {
                "message": body["error"]["message"].split("(request")[0]
            }
    return response.status_code, response.headers.get("content-type"), body


def _requests(gateway: Gateway) -> list[dict[str, Any]]:
    key = gateway.keys.public
    auth = {"authorization": f"Bearer {key}"}
    chat = {"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}]}
    deep: Any = "x"
    for _ in range(200):
        deep = [deep]
    return [
        {"method": "POST", "url": "/v1/chat/completions", "json": chat, "headers": auth},
        {
            "method": "POST",
            "url": "/v1/messages",
            "json": {"model": "claude-fake", "max_tokens": 5, "messages": chat["messages"]},
            "headers": {"x-api-key": key, "anthropic-version": "2023-06-01"},
        },
        # Refusals made before the pipeline (RequestLimits) and by it.
        {"method": "POST", "url": "/v1/chat/completions", "content": b"hi", "headers": auth},
        {
            "method": "POST",
            "url": "/v1/chat/completions",
            "json": {**chat, "deep": deep},
            "headers": auth,
        },
        {
            "method": "POST",
            "url": "/v1/chat/completions",
            "content": b"x" * (2 * 1024 * 1024),
            "headers": {**auth, "content-type": "application/json"},
        },
        {"method": "GET", "url": "/v1/chat/completions", "headers": auth},
        {"method": "POST", "url": "/v1/chat/completions", "json": chat},
        # Not a model call: the framework's.
        {"method": "GET", "url": "/v1/models", "headers": auth},
        {"method": "GET", "url": "/healthz"},
    ]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_lane_and_the_framework_answer_alike(gateway: Gateway) -> None:
    swappable = gateway.swappable
    lane = swappable.target  # ModelCalls, as `enclave serve` mounts it
    through_lane = [_comparable(gateway.http.request(**r)) for r in _requests(gateway)]
    gateway.idle()
    with mounted(swappable, lane.app):  # FastAPI alone, its own routes
        through_framework = [_comparable(gateway.http.request(**r)) for r in _requests(gateway)]
    swappable.target = lane
    assert through_lane == through_framework
    statuses = [status for status, _, _ in through_lane]
    assert statuses == [200, 200, 415, 400, 413, 405, 401, 200, 200]
