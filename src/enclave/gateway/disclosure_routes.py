"""Public disclosure routes: maintainer links (no account; the token in the URL is the
credential) and the public case pages.

Threat-model notes: a token in a URL ends up in browser history and proxy logs, so links
expire (disclosure.link_days), are used up by the first action taken through them, and
every view and action is recorded on the case's timeline. Answers carry
``Cache-Control: no-store`` and ``Referrer-Policy: no-referrer`` so the token is neither
cached nor sent onwards in a Referer header (RFC 9111 §5.2.2.5; W3C Referrer Policy §3.1).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from enclave.disclosure import DisclosureService
from enclave.disclosure import views as shapes
from enclave.errors import EnclaveError, InputError
from enclave.gateway.problems import error_response
from enclave.runtime import Runtime
from enclave.store.disclosure_repo import build_disclosure

_PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
CaseRef = Annotated[str, Path(min_length=1, max_length=40)]
Token = Annotated[str, Path(min_length=8, max_length=200)]


class DisclosureProvider:
    """Builds the service on first use, so that a server whose state directory predates
    disclosure (no data key yet) still starts; only disclosure routes then answer with the
    configuration problem."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._service: DisclosureService | None = None
        self._lock = threading.Lock()

    def __call__(self) -> DisclosureService:
        with self._lock:
            if self._service is None:
                self._service = build_disclosure(
                    self._runtime.settings, self._runtime.db, clock=self._runtime.registry.now
                )
            return self._service


class LinkActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    action: str = Field(min_length=1, max_length=20, examples=["acknowledge"])
    version: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, max_length=2000)


def _answer(call: Callable[[], Any], *, status: int = 200, private: bool = True) -> Response:
    try:
        body = call()
    except EnclaveError as exc:
        response = error_response(exc)
        if private:
            response.headers.update(_PRIVATE)
        return response
    return JSONResponse(body, status_code=status, headers=_PRIVATE if private else None)


def build_router(provider: Callable[[], DisclosureService]) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/disclosure/cases/{case_id}/links/{token}")
    def view(case_id: CaseRef, token: Token) -> Response:
        """The case's details for the maintainer holding the link (each view recorded)."""
        return _answer(lambda: provider().link_view(case_id, token))

    @router.post("/disclosure/cases/{case_id}/links/{token}")
    async def act(case_id: CaseRef, token: Token, request: Request) -> Response:
        """acknowledge | extension (reason) | fixed (version) | dispute (reason)."""
        try:
            body = LinkActionBody.model_validate_json(await request.body())
        except ValidationError as exc:
            refused = error_response(InputError(f"invalid body: {exc.errors()[0]['msg']}"))
            refused.headers.update(_PRIVATE)
            return refused

        def run() -> dict[str, Any]:
            issued = provider().link_act(
                case_id, token, body.action, version=body.version, reason=body.reason
            )
            return {"next": shapes.link(issued)}

        # The service is synchronous (database I/O): off the event loop.
        return await run_in_threadpool(_answer, run)

    @router.get("/disclosures/{case_id}")
    def page(case_id: CaseRef) -> Response:
        """Transparency facts before publication; the advisories after."""
        return _answer(lambda: provider().public_page(case_id), private=False)

    return router


__all__ = ["DisclosureProvider", "LinkActionBody", "build_router"]
