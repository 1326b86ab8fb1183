from __future__ import annotations

import orjson
import pytest

from enclave.errors import AuthError, EnclaveError, StoreError
from enclave.gateway.client_errors import (
    BadRequest,
    InvalidBody,
    ModelNotFound,
    PolicyDenied,
    UpstreamError,
    UpstreamTimeout,
    error_body,
)
from enclave.gateway.limits import BodyTooLarge


@pytest.mark.parametrize(
    ("error", "status", "openai_type", "anthropic_type"),
    [
        (BadRequest("x"), 400, "invalid_request_error", "invalid_request_error"),
        (AuthError("x"), 401, "authentication_error", "authentication_error"),
        (PolicyDenied("x"), 403, "permission_error", "permission_error"),
        (ModelNotFound("x"), 404, "invalid_request_error", "not_found_error"),
        (BodyTooLarge("x"), 413, "invalid_request_error", "request_too_large"),
        (InvalidBody("x", param="model"), 422, "invalid_request_error", "invalid_request_error"),
        (UpstreamError("x"), 502, "server_error", "api_error"),
        (UpstreamTimeout("x"), 504, "server_error", "timeout_error"),
    ],
)
def test_native_shapes(
    error: EnclaveError, status: int, openai_type: str, anthropic_type: str
) -> None:
    got, body = error_body("openai", error, "req_1")
    assert got == status
    openai = orjson.loads(body)
    assert set(openai["error"]) == {"message", "type", "param", "code"}
    assert openai["error"]["type"] == openai_type
    got, body = error_body("anthropic", error, "req_1")
    anthropic = orjson.loads(body)
    assert got == status
    assert anthropic == {
        "type": "error",
        "error": {"type": anthropic_type, "message": "x"},
        "request_id": "req_1",
    }


def test_param_and_hint_reach_the_client() -> None:
    _, body = error_body("openai", InvalidBody("bad", param="model", hint="see docs"), "r")
    error = orjson.loads(body)["error"]
    assert error["param"] == "model" and error["message"] == "bad (hint: see docs)"


def test_internal_details_stay_in_the_log() -> None:
    _, body = error_body("openai", StoreError("psycopg: connection to 10.0.0.5 refused"), "r")
    assert b"10.0.0.5" not in body and b"unavailable" in body
    _, body = error_body("anthropic", EnclaveError("KeyError: 'secret'"), "req_9")
    assert b"secret" not in body and b"req_9" in body
