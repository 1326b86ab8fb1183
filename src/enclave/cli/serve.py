"""`enclave serve`: run the HTTP server (admin API, client APIs, log, /healthz)."""

from __future__ import annotations

import typer
import uvicorn

from enclave.cli import _common
from enclave.runtime import open_runtime


def serve(
    host: str | None = typer.Option(None, "--host", help="Bind address (ENCLAVE_HOST)."),
    port: int | None = typer.Option(None, "--port", help="Port (ENCLAVE_PORT)."),
) -> None:
    """Serve Enclave until interrupted."""
    settings = _common.settings()
    # Imported here only to keep `enclave --help` fast would be a function-local import;
    # the app module is loaded by uvicorn from its name instead (nothing imports it).
    runtime = _common.guarded(lambda: open_runtime(settings))
    runtime.close()
    bind_host = host or settings.host
    bind_port = port or settings.port
    _common.out.print(
        f"Enclave on http://{bind_host}:{bind_port}  (health: /healthz, admin: /admin/v1)"
    )
    uvicorn.run(
        "enclave.app:create_app",
        factory=True,
        host=bind_host,
        port=bind_port,
        log_level="warning",
        access_log=False,
        server_header=False,
    )
