"""The ASGI application: the composition root. Nothing imports this module; uvicorn
loads it by name (``enclave.app:create_app``, factory mode)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from enclave import __version__
from enclave.config import load_settings
from enclave.runtime import Runtime, open_runtime


def build_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="Enclave",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # the admin API serves its own document at /admin/v1/openapi.json
    )
    app.state.runtime = runtime

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__})

    return app


def create_app() -> FastAPI:
    """uvicorn factory: settings from the environment, database must be initialised."""
    return build_app(open_runtime(load_settings()))


__all__ = ["build_app", "create_app"]
