"""Every console error as an HTML page, in one place.

An EnclaveError keeps its status (a RoleDenied is a 403 page, a bad form field a 400, an
unknown id a 404); a missing session on a GET redirects to the sign-in page and on any
other method is a 401 page. Nothing internal reaches the page: an unexpected exception
is logged with an incident id and shown as that id.
"""

from __future__ import annotations

import html
import logging
import uuid
from http import HTTPStatus
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from enclave.console.accounts import SignInRequired
from enclave.console.framework import COOKIE, PREFIX, console
from enclave.errors import EnclaveError

logger = logging.getLogger("enclave.console")


def error_page(
    request: Request, status: int, message: str, hint: str | None = None
) -> HTMLResponse:
    title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    html = (
        console(request)
        .templates.get_template("error.html")
        .render(
            request=request,
            me=None,
            csrf="",
            notice="",
            prefix=PREFIX,
            path=request.url.path,
            status=status,
            title=title,
            message=message,
            hint=hint,
        )
    )
    return HTMLResponse(html, status_code=status)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path only (no open redirect)."""
    if (
        target
        and target.startswith(PREFIX + "/")
        and not target.startswith("//")
        and "\\" not in target
        and all(32 < ord(ch) < 127 for ch in target)
    ):
        return target
    return PREFIX + "/"


async def _enclave(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, EnclaveError)
    if isinstance(exc, SignInRequired):
        if request.method in ("GET", "HEAD"):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            response: Response = RedirectResponse(
                f"{PREFIX}/signin?{urlencode({'next': safe_next(target)})}", status_code=303
            )
        else:
            response = error_page(request, 401, exc.message, "sign in again, then retry")
        if COOKIE in request.cookies:
            response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
        return response
    return error_page(request, exc.status, exc.message, exc.hint)


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg', '')}"
        for e in exc.errors()
    )
    return error_page(request, 400, f"the request is not valid: {problems}")


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "error"
    if exc.status_code == 404:
        message = f"no console page at {request.url.path}"
    return error_page(request, exc.status_code, message)


def render_error(scope: Scope, exc: EnclaveError) -> ASGIApp:
    """An ``ErrorRenderer`` for the gateway's ``RequestLimits`` (a form body over the size
    limit): a plain page in the console's shape, with its security headers, rather than
    the admin API's problem+json. The console's app and templates are not reached yet."""
    text = html.escape(exc.message)
    hint = f"<p>{html.escape(exc.hint)}</p>" if exc.hint else ""
    return HTMLResponse(
        f"<!doctype html><title>{exc.status}</title><h1>{exc.status}</h1>"
        f'<p class="error" role="alert">{text}</p>{hint}',
        status_code=exc.status,
        headers={k.decode(): v.decode() for k, v in PageGuard.HEADERS},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(EnclaveError, _enclave)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_middleware(PageGuard)


class PageGuard:
    """Security headers on every console response, and any exception that escaped the
    handlers as a 500 page with an incident id (pure ASGI, like gateway.problems'
    ProblemGuard, so the error is logged once and not re-raised into the parent app)."""

    HEADERS = (
        # No inline script or style anywhere: console.js and console.css are files.
        (b"content-security-policy", b"default-src 'self'; frame-ancestors 'none'"),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"cache-control", b"no-store"),  # pages show secrets once and private data
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def secured(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                names = {name for name, _ in self.HEADERS}
                headers = [(n, v) for n, v in message.get("headers", []) if n not in names]
                message["headers"] = headers + list(self.HEADERS)
            await send(message)

        try:
            await self.app(scope, receive, secured)
        except Exception:
            if started:
                logger.exception("console error after the response started")
                raise
            incident = uuid.uuid4()
            logger.exception("console error; incident %s", incident)
            response = HTMLResponse(
                "<!doctype html><title>Error</title><h1>500 Internal Server Error</h1>"
                f"<p>An unexpected error occurred; it has been logged as incident {incident}.",
                status_code=500,
            )
            await response(scope, receive, secured)


__all__ = ["PageGuard", "error_page", "install", "render_error", "safe_next"]
