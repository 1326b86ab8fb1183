"""The client APIs' errors, each in its provider's native error object.

OpenAI (https://platform.openai.com/docs/guides/error-codes)::

    {"error": {"message": "...", "type": "invalid_request_error", "param": null, "code": "..."}}

Anthropic (https://docs.anthropic.com/en/api/errors)::

    {"type": "error", "error": {"type": "not_found_error", "message": "..."}, "request_id": "..."}

The official SDKs raise their typed exceptions from the HTTP status (openai/_client.py
``_make_status_error``, anthropic likewise), so the status is what must be right; the body
says why. Every error reaching a client goes through :func:`error_body`: services raise
EnclaveErrors, never HTTP exceptions, and a response never carries a traceback.
"""

from __future__ import annotations

import logging
from typing import Literal

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from enclave.errors import (
    AuthError,
    EnclaveError,
    InputError,
    NotFound,
    PermissionDenied,
    StoreError,
)

Api = Literal["openai", "anthropic"]
logger = logging.getLogger("enclave.gateway")


class GatewayError(EnclaveError):
    """An error of the client APIs; ``param`` names the offending request field."""

    code = "gateway_error"

    def __init__(self, message: str, *, hint: str | None = None, param: str | None = None):
        super().__init__(message, hint=hint)
        self.param = param


class BadRequest(GatewayError, InputError):
    """Unparseable body or malformed header."""

    code = "invalid_request"
    status = 400


class InvalidBody(GatewayError, InputError):
    """Well-formed JSON that is not a valid request of this API."""

    code = "invalid_body"
    status = 422


class MissingCredential(GatewayError, AuthError):
    code = "invalid_api_key"


class ModelNotFound(GatewayError, NotFound):
    code = "model_not_found"


class UnknownEndpoint(GatewayError, NotFound):
    code = "unknown_url"


class ModelNotAvailable(GatewayError, PermissionDenied):
    """The model exists but the caller's tier has no route to it."""

    code = "model_not_available"


class PurposeDenied(GatewayError, PermissionDenied):
    code = "purpose_not_allowed"


class PolicyDenied(GatewayError, PermissionDenied):
    code = "policy_denied"


class SafeguardsBlocked(PolicyDenied):
    """Refused by policy on the safeguards' verdict; the message names the category and
    the reference (the request id) to quote in an appeal."""

    code = "safeguards_blocked"

    def __init__(self, message: str, *, category: str, reference: str) -> None:
        super().__init__(message)
        self.category = category
        self.reference = reference


class MethodNotAllowed(GatewayError, InputError):
    code = "method_not_allowed"
    status = 405


class HeadersTooLarge(GatewayError, InputError):
    code = "headers_too_large"
    status = 431  # RFC 6585 §5


class UpstreamError(GatewayError):
    """The provider failed or answered something unusable (RFC 9110 §15.6.3)."""

    code = "upstream_error"
    status = 502


class UpstreamTimeout(UpstreamError):
    """The provider was silent for longer than its read timeout (RFC 9110 §15.6.5)."""

    code = "upstream_timeout"
    status = 504


class InternalError(GatewayError):
    code = "internal_error"
    status = 500


class CreditsExhausted(GatewayError):
    """The organisation's credits do not cover the request's worst case (the ledger's
    InsufficientCredits). Anthropic answers 402 ``billing_error``; OpenAI answers an
    exhausted quota with 429 ``insufficient_quota`` (its error-codes guide), which
    error_body applies for the OpenAI shape. No Retry-After: waiting does not help."""

    code = "insufficient_quota"
    status = 402


class ModelNotPriced(GatewayError):
    """The routed variant has no price, so its worst case cannot be reserved: refused
    (fail closed) rather than served unreserved. An operator's configuration problem."""

    code = "model_not_priced"
    status = 503


# status -> (OpenAI error type, Anthropic error type). The OpenAI types are the ones its
# API returns; Anthropic's are its documented list.
_TYPES: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "invalid_request_error"),
    401: ("authentication_error", "authentication_error"),
    403: ("permission_error", "permission_error"),
    404: ("invalid_request_error", "not_found_error"),
    405: ("invalid_request_error", "invalid_request_error"),
    413: ("invalid_request_error", "request_too_large"),
    415: ("invalid_request_error", "invalid_request_error"),
    422: ("invalid_request_error", "invalid_request_error"),
    402: ("insufficient_quota", "billing_error"),
    429: ("rate_limit_error", "rate_limit_error"),
    431: ("invalid_request_error", "invalid_request_error"),
    502: ("server_error", "api_error"),
    503: ("server_error", "overloaded_error"),
    504: ("server_error", "timeout_error"),
}
# For errors raised outside the gateway (registry, limits): OpenAI's usual codes.
_OPENAI_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded"}


def error_body(api: Api, error: EnclaveError, request_id: str) -> tuple[int, bytes]:
    """The status and native error object for ``error``."""
    status = error.status
    message = error.message
    if isinstance(error, StoreError):
        # Store messages quote the driver; keep them in the log, not in the response.
        logger.error("store unavailable (request %s): %s", request_id, error.message)
        message = "the gateway's database is unavailable; retry shortly"
    elif status >= 500 and not isinstance(error, UpstreamError | InternalError | ModelNotPriced):
        logger.error("request %s failed: %s", request_id, error.diagnostics())
        message = f"internal error (request {request_id})"
    if error.hint and status < 500:
        message = f"{message} (hint: {error.hint})"
    openai_type, anthropic_type = _TYPES.get(
        status, ("invalid_request_error", "invalid_request_error")
    )
    if status >= 500 and status not in _TYPES:
        openai_type, anthropic_type = "server_error", "api_error"
    if status == 402 and api == "openai":
        status = 429  # OpenAI's status for insufficient_quota; its type stays
    if api == "anthropic":
        body = {
            "type": "error",
            "error": {"type": anthropic_type, "message": message},
            "request_id": request_id,
        }
    else:
        body = {
            "error": {
                "message": message,
                "type": openai_type,
                "param": getattr(error, "param", None),
                "code": error.code
                if isinstance(error, GatewayError)
                else _OPENAI_CODES.get(status, error.code),
            }
        }
    return status, orjson.dumps(body)


def api_for(scope: Scope) -> Api:
    """Which API's shape a /v1 request expects: Anthropic's for /v1/messages and for any
    request carrying ``anthropic-version`` (its SDK always sends it), else OpenAI's."""
    path: str = scope.get("path", "")
    if path.startswith("/v1/messages"):
        return "anthropic"
    for name, _ in scope.get("headers", ()):
        if name == b"anthropic-version":
            return "anthropic"
    return "openai"


def error_app(api: Api, error: EnclaveError, request_id: str = "-") -> ASGIApp:
    status, body = error_body(api, error, request_id)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="enclave"'))  # RFC 6750 §3

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def render_error(scope: Scope, error: EnclaveError) -> ASGIApp:
    """An ErrorRenderer for enclave.gateway.limits: refusals on /v1 in the native shape."""
    return error_app(api_for(scope), error)


__all__ = [
    "Api",
    "BadRequest",
    "CreditsExhausted",
    "GatewayError",
    "HeadersTooLarge",
    "InternalError",
    "InvalidBody",
    "MethodNotAllowed",
    "MissingCredential",
    "ModelNotAvailable",
    "ModelNotFound",
    "ModelNotPriced",
    "PolicyDenied",
    "PurposeDenied",
    "SafeguardsBlocked",
    "UpstreamError",
    "UpstreamTimeout",
    "UnknownEndpoint",
    "api_for",
    "error_app",
    "error_body",
    "render_error",
]
