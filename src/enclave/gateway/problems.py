"""RFC 9457 problem details: the admin API's one error shape, built here and nowhere else.

Every admin-API error is ``application/problem+json`` with the members of RFC 9457 §3.1
(``type``, ``title``, ``status``, ``detail``) and two extension members (§3.2): ``code``, the
stable machine-readable kind (``EnclaveError.code``), and ``hint``, what the caller can do.

``type`` is ``about:blank`` (§4.2.1): the status code names the kind of problem, ``title`` is
its RFC 9110 reason phrase, and ``code`` carries the finer kind. §3.1.1 asks that problem type
URIs be stable and, when dereferenced, document the type; we serve no such documents, so we
do not mint URIs that would resolve to nothing.

Threat model: a response never carries a traceback, SQL, a driver message or a request value
echoed back (a body field may hold a secret). An unexpected exception is logged here with an
incident id that the 500 response repeats as ``instance`` (§3.1.5), so an operator can find
the log line while the caller learns nothing about internals.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from enclave.errors import EnclaveError, StoreError

PROBLEM_JSON = "application/problem+json"
logger = logging.getLogger("enclave.gateway")
AllowedMethods = Callable[[str], Iterable[str]]

# Python 3.11 still uses the RFC 7231 phrases for these two; RFC 9110 §15.5.14 and §15.5.21
# renamed them.
_PHRASES = {413: "Content Too Large", 422: "Unprocessable Content"}
_HTTP_CODES = {400: "malformed_body", 404: "not_found", 405: "method_not_allowed"}
_MAX_ITEMS = 20  # validation errors listed per response; the rest are counted
# RFC 6750 §3: a 401 names the scheme the client must use.
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="enclave-admin"'}


def title(status: int) -> str:
    return _PHRASES.get(status) or HTTPStatus(status).phrase


def problem_response(
    status: int,
    *,
    code: str,
    detail: str,
    hint: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title(status),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if hint:
        body["hint"] = hint
    body.update(extensions)
    return Response(
        orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


def error_response(exc: EnclaveError) -> Response:
    """The problem for an error raised on purpose, from a service or a middleware."""
    if isinstance(exc, StoreError):
        # Store messages quote the driver (host names, SQL state); keep them in the log.
        logger.error("store unavailable: %s", exc.message)
        return problem_response(
            exc.status, code=exc.code, detail="the database is unavailable", hint="try again later"
        )
    if exc.status >= 500:
        logger.error("%s: %s", exc.code, exc.message)
    headers = _CHALLENGE if exc.status == 401 else None
    return problem_response(
        exc.status, code=exc.code, detail=exc.message, hint=exc.hint, headers=headers
    )


def render_error(scope: Scope, exc: EnclaveError) -> ASGIApp:
    """An ``ErrorRenderer`` for ``RequestLimits``: the same problem shape for its refusals."""
    return error_response(exc)


def _json_pointer(parts: Sequence[int | str]) -> str:
    # RFC 6901 §3: "~" is written "~0" and "/" is written "~1"; "#" makes it a URI fragment.
    escaped = (str(p).replace("~", "~0").replace("/", "~1") for p in parts)
    return "#" + "".join("/" + p for p in escaped)


def _where(loc: Sequence[int | str]) -> dict[str, str]:
    # The shape of RFC 9457 §3's example: a JSON Pointer into the body, else the parameter.
    if not loc:
        return {"pointer": "#"}
    origin, rest = loc[0], loc[1:]
    if origin == "body":
        return {"pointer": _json_pointer(rest)}
    return {"parameter": str(rest[0]) if rest else str(origin), "in": str(origin)}


def validation_response(exc: RequestValidationError) -> Response:
    errors = list(exc.errors())
    for error in errors:
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "decode error")
            position = error.get("loc", ("body", "?"))[-1]
            return problem_response(
                400,
                code="malformed_json",
                detail=f"the request body is not valid JSON ({reason} at character {position})",
                hint="send one JSON object with Content-Type: application/json",
            )
    # Input values are deliberately not echoed: pydantic's "input" may be a secret.
    items = [{**_where(e.get("loc", ())), "detail": str(e.get("msg", "invalid"))} for e in errors]
    first = items[0] if items else {"pointer": "#", "detail": "invalid"}
    place = first.get("pointer") or first.get("parameter")
    more = f" (and {len(items) - 1} more)" if len(items) > 1 else ""
    return problem_response(
        422,
        code="validation_failed",
        detail=f"{place}: {first['detail']}{more}",
        hint="the admin API's schema is at /admin/v1/openapi.json",
        errors=items[:_MAX_ITEMS],
    )


def http_response(
    request: Request, exc: HTTPException, allowed_methods: AllowedMethods | None = None
) -> Response:
    """Framework-raised HTTP errors: unknown route, wrong method, unreadable body."""
    status = exc.status_code
    headers = exc.headers
    if status == 404:
        detail = f"no route for {request.method} {request.url.path}"
    elif status == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
        if allowed_methods is not None:
            # RFC 9110 §15.5.6: Allow lists every method of the resource; Starlette's names
            # only the first route matching the path (GET and POST are two routes).
            path = request.url.path.removeprefix(request.scope.get("root_path", ""))
            headers = {**(headers or {}), "Allow": ", ".join(sorted(allowed_methods(path)))}
    else:
        detail = exc.detail if isinstance(exc.detail, str) else title(status)
    code = _HTTP_CODES.get(status, f"http_{status}")
    return problem_response(status, code=code, detail=detail, headers=headers)


def internal_error_response() -> Response:
    incident = f"urn:uuid:{uuid.uuid4()}"
    logger.exception("unhandled error; incident %s", incident)
    return problem_response(
        500,
        code="internal_error",
        detail="an unexpected error occurred; it has been logged",
        hint="report the incident id to the operators",
        instance=incident,
    )


class ProblemGuard:
    """Turns any exception that escaped the handlers into a 500 problem.

    A pure ASGI middleware rather than a handler for ``Exception``: Starlette's
    ServerErrorMiddleware re-raises after responding, which would surface the error again in
    the parent app and the server. This one logs once (with the incident id) and stops it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            if started:
                # Half a response is on the wire: nothing to replace it with. Re-raising
                # makes the server drop the connection so the client sees a truncation.
                logger.exception("error after the response started")
                raise
            await internal_error_response()(scope, receive, send)


async def _enclave_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, EnclaveError)
    return error_response(exc)


async def _validation_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return validation_response(exc)


def install(app: FastAPI, *, allowed_methods: AllowedMethods | None = None) -> None:
    """Make ``app`` answer every error, expected or not, as problem+json.

    ``allowed_methods`` maps a path (below the app's mount point) to the methods its routes
    accept, for the Allow header of a 405.
    """

    async def http_handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return http_response(request, exc, allowed_methods)

    app.add_exception_handler(EnclaveError, _enclave_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(HTTPException, http_handler)
    app.add_middleware(ProblemGuard)


async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """An ASGI app answering 404 for paths under /admin outside any API version."""
    if scope["type"] != "http":
        return
    response = problem_response(
        404,
        code="not_found",
        detail=f"no route for {scope['method']} {scope['path']}",
        hint="the admin API lives under /admin/v1",
    )
    await response(scope, receive, send)


__all__ = [
    "PROBLEM_JSON",
    "AllowedMethods",
    "ProblemGuard",
    "error_response",
    "install",
    "not_found",
    "problem_response",
    "render_error",
    "title",
    "validation_response",
]
