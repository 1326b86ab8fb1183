"""RequestLimits on its own: each API's error shape, exact bounds, the body replayed intact.

Over the session's uvicorn server with a small app of two "APIs": ``/admin`` answering
problem+json and ``/v1`` answering an OpenAI-style error object, as the client APIs will.
A few edge cases that a well-behaved HTTP client cannot produce (a bad Content-Length, a
client vanishing mid-body) drive the middleware directly through the ASGI interface.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Scope

from enclave.errors import EnclaveError
from enclave.gateway import problems
from enclave.gateway.limits import RequestLimits, by_path_prefix
from serving import LiveServer

LIMIT = 4096
DEPTH = 8


def openai_error(scope: Scope, error: EnclaveError) -> ASGIApp:
    body = {
        "error": {"message": error.message, "type": "invalid_request_error", "code": error.code}
    }
    return JSONResponse(body, status_code=error.status)


async def echo(request: Request) -> Response:
    body = await request.body()
    return JSONResponse({"length": len(body), "sha256": hashlib.sha256(body).hexdigest()})


def limited(app: ASGIApp) -> RequestLimits:
    return RequestLimits(
        app,
        max_body_bytes=LIMIT,
        max_json_depth=DEPTH,
        render=by_path_prefix({"/admin": problems.render_error}, default=openai_error),
        require_json=lambda scope: scope["path"].startswith("/admin"),
    )


@pytest.fixture
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    app = Starlette(
        routes=[
            Route("/admin/echo", echo, methods=["POST"]),
            Route("/v1/echo", echo, methods=["GET", "POST"]),
        ]
    )
    with live_server.mounted(limited(app)) as url, httpx.Client(base_url=url) as client:
        yield client


JSON = {"Content-Type": "application/json"}


def test_each_api_refuses_in_its_own_shape(http: httpx.Client) -> None:
    big = b"x" * (LIMIT + 1)
    admin = http.post("/admin/echo", content=big, headers=JSON)
    assert admin.status_code == 413
    assert admin.headers["content-type"] == "application/problem+json"
    assert admin.json()["code"] == "body_too_large"

    client = http.post("/v1/echo", content=big, headers=JSON)
    assert client.status_code == 413
    assert client.headers["content-type"] == "application/json"
    assert client.json()["error"]["code"] == "body_too_large"


@pytest.mark.parametrize("streamed", [False, True])
def test_the_limit_is_exact_and_the_body_arrives_intact(http: httpx.Client, streamed: bool) -> None:
    def send(size: int) -> httpx.Response:
        data = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
        if not streamed:
            return http.post("/v1/echo", content=data)

        def chunks() -> Iterator[bytes]:
            for start in range(0, len(data), 1000):
                yield data[start : start + 1000]

        return http.post("/v1/echo", content=chunks())

    at_limit = send(LIMIT)
    assert at_limit.status_code == 200
    expected = bytes(range(256)) * (LIMIT // 256) + b"z" * (LIMIT % 256)
    assert at_limit.json() == {"length": LIMIT, "sha256": hashlib.sha256(expected).hexdigest()}
    assert send(LIMIT + 1).status_code == 413


def test_requests_without_a_body_pass_untouched(http: httpx.Client) -> None:
    assert http.get("/v1/echo").json()["length"] == 0


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        (b"[" * DEPTH + b"]" * DEPTH, False),
        (b"[" * (DEPTH + 1) + b"]" * (DEPTH + 1), True),
        (b'{"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}}', True),
        (b'{"text": "' + b"[[[[{{{{" * 20 + b'"}', False),  # brackets inside a string
        (b'{"t": "\\\\\\"[[[[[[[[[[", "u": [1]}', False),  # escaped quote, then brackets
        (b'["\\\\", ' + b"[" * DEPTH + b"]" * DEPTH + b"]", True),  # escaped backslash
    ],
)
def test_json_depth(http: httpx.Client, body: bytes, refused: bool) -> None:
    response = http.post("/admin/echo", content=body, headers=JSON)
    if refused:
        assert response.status_code == 400
        assert response.json()["code"] == "json_too_deep"
    else:
        assert response.status_code == 200, response.text


def test_depth_is_checked_only_for_json(http: httpx.Client) -> None:
    deep = b"[" * 50 + b"]" * 50
    assert http.post("/v1/echo", content=deep, headers={"Content-Type": "text/plain"}).is_success
    refused = http.post("/v1/echo", content=deep, headers={"Content-Type": "application/ld+json"})
    assert refused.status_code == 400


def test_content_type_is_required_only_where_asked(http: httpx.Client) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert http.post("/v1/echo", content=b"a=1", headers=form).status_code == 200
    refused = http.post("/admin/echo", content=b"a=1", headers=form)
    assert refused.status_code == 415
    assert refused.json()["detail"] == (
        "expected Content-Type: application/json, got application/x-www-form-urlencoded"
    )


# -- direct ASGI calls, for what a real HTTP client will not send ------------------------


class Recorder:
    """An ASGI app that records that it ran and what body it read."""

    def __init__(self) -> None:
        self.called = False
        self.body = b""

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        self.called = True
        if scope["type"] == "http":
            message = await receive()
            self.body = message.get("body", b"")
            await Response(b"ok")(scope, receive, send)


async def _call(app: ASGIApp, scope: Scope, messages: list[Message]) -> list[Message]:
    sent: list[Message] = []
    pending = list(messages)

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def _scope(headers: list[tuple[bytes, bytes]], path: str = "/v1/echo") -> Scope:
    return {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
    }


@pytest.mark.anyio
async def test_invalid_content_length_is_400_and_the_app_never_runs() -> None:
    app = Recorder()
    sent = await _call(limited(app), _scope([(b"content-length", b"12abc")]), [])
    assert sent[0]["status"] == 400 and not app.called


@pytest.mark.anyio
async def test_a_client_gone_mid_body_gets_nothing_and_the_app_never_runs() -> None:
    app = Recorder()
    first = {"type": "http.request", "body": b"{", "more_body": True}
    sent = await _call(limited(app), _scope([(b"transfer-encoding", b"chunked")]), [first])
    assert sent == [] and not app.called


@pytest.mark.anyio
async def test_other_scopes_pass_through() -> None:
    app = Recorder()
    await _call(limited(app), {"type": "lifespan"}, [])
    assert app.called


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
