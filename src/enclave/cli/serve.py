"""`enclave serve`: run the HTTP server (admin API, client APIs, log, /healthz)."""

from __future__ import annotations

import typer
import uvicorn

from enclave.cli import _common, _demo
from enclave.gateway.providers import build_providers
from enclave.policy import PolicyEngine
from enclave.runtime import open_runtime


def serve(
    host: str | None = typer.Option(None, "--host", envvar="ENCLAVE_HOST", help="Bind address."),
    port: int | None = typer.Option(None, "--port", envvar="ENCLAVE_PORT", help="Port."),
) -> None:
    """Serve Enclave until interrupted."""
    settings = _common.settings()
    # Imported here only to keep `enclave --help` fast would be a function-local import;
    # the app module is loaded by uvicorn from its name instead (nothing imports it).
    runtime = _common.guarded(lambda: open_runtime(settings))
    runtime.close()
    # Say what is wrong before uvicorn starts (it would print a traceback instead):
    # invalid policies, a provider whose key variable is not set.
    _common.guarded(lambda: PolicyEngine.from_settings(settings))
    _common.guarded(lambda: build_providers(settings))
    bind_host = host or settings.host
    bind_port = port or settings.port
    _common.out.print(
        f"Enclave on http://{bind_host}:{bind_port}  (health: /healthz, admin: /admin/v1)"
    )
    if _demo.is_demo(settings):
        shown = "127.0.0.1" if bind_host in ("0.0.0.0", "::") else bind_host
        key = _demo.saved_key(settings)
        if key is None:
            _common.out.print("Demo mode: run `enclave init` for a demo key.")
        else:
            _common.out.print(_demo.snippets(f"http://{shown}:{bind_port}", key), markup=False)
    uvicorn.run(
        "enclave.app:create_app",
        factory=True,
        host=bind_host,
        port=bind_port,
        log_level="warning",
        access_log=False,
        server_header=False,
        # SIGTERM/SIGINT: finish requests (at most this long), then the lifespan shutdown
        # writes every queued event (enclave.gateway.recorder).
        timeout_graceful_shutdown=30,
    )
