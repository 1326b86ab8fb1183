"""The public log: C2SP tlog-tiles (https://c2sp.org/tlog-tiles) plus proof endpoints.

    GET /log/checkpoint                      the latest signed checkpoint (text/plain)
    GET /log/tile/<L>/<N>[.p/<W>]            hashes of tree level 8L, nodes N*256 on
    GET /log/tile/entries/<N>[.p/<W>]        entry bundle: uint16 length + entry, each
    GET /log/proof/inclusion?index=&tree_size=       JSON, as `enclave audit prove`
    GET /log/proof/consistency?old_size=&new_size=   JSON, as `enclave audit consistency`

Tiles never change once served (a partial tile is a prefix of its full tile), so they are
cacheable forever; the checkpoint is not. Nothing here needs the signing key. When the key
file is readable, the router's lifespan also runs the background integrator.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from enclave.auditlog import (
    AuditLog,
    BackgroundIntegrator,
    LastSignedFile,
    LogInputError,
    consistency_json,
    inclusion_json,
    load_signer,
)
from enclave.auditlog.tiles import MAX_LEVEL, parse_tile_path
from enclave.errors import EnclaveError
from enclave.gateway import problems
from enclave.store.auditlog_repo import SqlAuditLog

logger = logging.getLogger("enclave.auditlog")
IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}
FRESH = {"Cache-Control": "no-cache"}


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = app.state.runtime.settings
    worker = None
    if settings.log_integrate_seconds > 0 and not settings.log_key_path.exists():
        logger.warning(
            "audit log: no signing key at %s; this process serves the log but does not "
            "integrate (run `enclave init`, or `enclave audit integrate --watch`)",
            settings.log_key_path,
        )
    elif settings.log_integrate_seconds > 0:
        signer = load_signer(settings.log_key_path, expected_name=settings.log_origin)
        memory = LastSignedFile(settings.log_key_path)
        store = SqlAuditLog(app.state.runtime.db.engine)
        log = AuditLog(store=store, signer=signer, memory=memory)
        worker = BackgroundIntegrator(log, settings.log_integrate_seconds)
        worker.start()
        app.state.log_integrator = worker
    try:
        yield
    finally:
        if worker is not None:
            worker.stop()


router = APIRouter(prefix="/log", lifespan=_lifespan, include_in_schema=False)


def _log(request: Request) -> AuditLog:
    state = request.app.state
    log: AuditLog | None = getattr(state, "auditlog", None)
    if log is None:
        log = AuditLog(store=SqlAuditLog(state.runtime.db.engine))
        state.auditlog = log
    return log


def _answer(make: Callable[[], Response]) -> Response:
    try:
        return make()
    except EnclaveError as exc:
        return problems.error_response(exc)


def _number(name: str, value: str) -> int:
    if not re.fullmatch(r"0|[1-9][0-9]{0,18}", value):
        raise LogInputError(f"query parameter {name}: expected a non-negative integer")
    return int(value)


def _required(name: str, value: str | None) -> int:
    if value is None:
        raise LogInputError(f"query parameter {name} is required")
    return _number(name, value)


def _optional(name: str, value: str | None) -> int | None:
    return None if value is None else _number(name, value)


@router.get("/checkpoint")
def checkpoint(request: Request) -> Response:
    return _answer(
        lambda: Response(
            _log(request).latest_checkpoint().note,
            media_type="text/plain; charset=utf-8",
            headers=FRESH,
        )
    )


@router.get("/tile/{level}/{rest:path}")
def tile(request: Request, level: str, rest: str) -> Response:
    def make() -> Response:
        index, width = parse_tile_path(rest)
        if level == "entries":
            body = _log(request).entry_bundle(index, width)
        elif re.fullmatch(r"0|[1-9][0-9]?", level) and int(level) <= MAX_LEVEL:
            body = _log(request).tile(int(level), index, width)
        else:
            raise LogInputError(f"tile level {level!r}: expected 0 to {MAX_LEVEL} or 'entries'")
        return Response(body, media_type="application/octet-stream", headers=IMMUTABLE)

    return _answer(make)


@router.get("/proof/inclusion")
def inclusion(request: Request, index: str | None = None, tree_size: str | None = None) -> Response:
    def make() -> Response:
        leaf = _required("index", index)
        proof = _log(request).inclusion_proof(leaf, _optional("tree_size", tree_size))
        return JSONResponse(inclusion_json(proof), headers=FRESH)

    return _answer(make)


@router.get("/proof/consistency")
def consistency(
    request: Request, old_size: str | None = None, new_size: str | None = None
) -> Response:
    def make() -> Response:
        old = _required("old_size", old_size)
        proof = _log(request).consistency_proof(old, _optional("new_size", new_size))
        return JSONResponse(consistency_json(proof), headers=FRESH)

    return _answer(make)


__all__ = ["router"]
