"""Sign-in and sign-out.

The sign-in form has no session yet, so its CSRF defence is a double-submit token: a
random value in a short-lived cookie of its own and in the form, which must match
(login CSRF: a page elsewhere must not sign a browser into someone else's account). The
session cookie is HttpOnly, SameSite=Strict, Path=/console, and Secure when the request
came over TLS (uvicorn's proxy-headers support sets the scheme from X-Forwarded-Proto of
a trusted proxy).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from enclave.console.accounts import CsrfRejected, SignInFailed, SignInRequired
from enclave.console.errors import safe_next
from enclave.console.framework import COOKIE, PREFIX, Posted, console, render

PRE_COOKIE = "enclave_console_signin"
PRE_SECONDS = 3600

router = APIRouter()


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _form(
    request: Request, *, status_code: int = 200, error: str = "", target: object = None
) -> HTMLResponse:
    """The sign-in page; ``target`` is where to go after signing in: the form's own
    ``next`` field when re-shown after a failure, else the query string's."""
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "signin.html",
        None,
        status_code=status_code,
        error=error,
        signin_token=token,
        next=safe_next(target if isinstance(target, str) else request.query_params.get("next")),
    )
    response.set_cookie(
        PRE_COOKIE,
        token,
        max_age=PRE_SECONDS,
        path=PREFIX,
        secure=_secure(request),
        httponly=True,
        samesite="strict",
    )
    return response


@router.get("/signin", name="signin")
def signin_page(request: Request) -> Response:
    try:
        console(request).accounts.resolve(request.cookies.get(COOKIE))
    except SignInRequired:
        return _form(request)
    return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)


async def _signin_form(request: Request) -> FormData:
    data = await request.form()
    sent, expected = data.get("csrf"), request.cookies.get(PRE_COOKIE)
    if (
        not isinstance(sent, str)
        or not expected
        or not hmac.compare_digest(sent.encode(), expected.encode())
    ):
        raise CsrfRejected(
            "the sign-in form's CSRF token is missing or wrong",
            hint="open the sign-in page again (cookies must be enabled)",
        )
    return data


@router.post("/signin")
def signin(request: Request, data: Annotated[FormData, Depends(_signin_form)]) -> Response:
    name, password = data.get("name"), data.get("password")
    if not isinstance(name, str) or not isinstance(password, str) or not name or not password:
        return _form(
            request,
            status_code=400,
            error="enter your operator name and password",
            target=data.get("next"),
        )
    # The peer address, or the client's as a trusted proxy reports it (uvicorn's
    # proxy-headers support, --forwarded-allow-ips): what failed sign-ins are counted by.
    source = request.client.host if request.client else ""
    try:
        new = console(request).accounts.sign_in(name, password, source=source)
    except SignInFailed as exc:  # and SignInThrottled (429), with its hint
        shown = f"{exc.message}; {exc.hint}" if exc.hint else exc.message
        return _form(request, status_code=exc.status, error=shown, target=data.get("next"))
    target = data.get("next")
    response = RedirectResponse(
        safe_next(target if isinstance(target, str) else None), status_code=303
    )
    response.set_cookie(
        COOKIE,
        new.cookie,
        max_age=int(console(request).accounts.lifetime.total_seconds()),
        path=PREFIX,
        secure=_secure(request),
        httponly=True,
        samesite="strict",
    )
    response.delete_cookie(PRE_COOKIE, path=PREFIX, httponly=True, samesite="strict")
    return response


@router.post("/signout", name="signout")
def signout(request: Request, form: Posted) -> Response:
    console(request).accounts.sign_out(form.who)
    response = RedirectResponse(f"{PREFIX}/signin?done=signed-out", status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
    return response


__all__ = ["PRE_COOKIE", "router"]
