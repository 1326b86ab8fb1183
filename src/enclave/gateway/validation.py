"""The few request fields the gateway must understand, checked before anything is sent.

Everything else is the upstream's to validate: the gateway forwards fields it does not
know (new API parameters work without a gateway release) and passes the upstream's own
4xx answer back unchanged.
"""

from __future__ import annotations

from typing import Any

import orjson

from enclave.gateway.client_errors import Api, BadRequest, InvalidBody

_MAX_MODEL = 256


def parse_body(body: bytes) -> dict[str, Any]:
    if not body:
        raise BadRequest("the request body is empty; expected a JSON object")
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise InvalidBody("the request body must be a JSON object")
    return parsed


def _require(ok: bool, message: str, param: str) -> None:
    if not ok:
        raise InvalidBody(message, param=param)


def check(api: Api, request: dict[str, Any]) -> tuple[str, bool]:
    """Validate the fields routing and accounting rely on; return (model, stream)."""
    model = request.get("model")
    _require(
        isinstance(model, str) and 0 < len(model) <= _MAX_MODEL,
        "model: expected a model name (GET /v1/models lists them)",
        "model",
    )
    messages = request.get("messages")
    _require(
        isinstance(messages, list) and len(messages) > 0,
        "messages: expected a non-empty array of messages",
        "messages",
    )
    assert isinstance(messages, list)
    for index, message in enumerate(messages):
        _require(
            isinstance(message, dict) and isinstance(message.get("role"), str),
            f"messages[{index}]: expected an object with a string role",
            f"messages[{index}]",
        )
    stream = request.get("stream", False)
    _require(stream is None or isinstance(stream, bool), "stream: expected true or false", "stream")
    if api == "openai":
        options = request.get("stream_options")
        _require(
            options is None or isinstance(options, dict),
            "stream_options: expected an object",
            "stream_options",
        )
    else:
        max_tokens = request.get("max_tokens")
        _require(
            isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens > 0,
            "max_tokens: expected a positive integer (required by the Messages API)",
            "max_tokens",
        )
        system = request.get("system")
        _require(
            system is None or isinstance(system, str | list),
            "system: expected a string or an array of content blocks",
            "system",
        )
    assert isinstance(model, str)
    return model, bool(stream)


__all__ = ["check", "parse_body"]
