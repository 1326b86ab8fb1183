"""The `enclave` command: one module per command group."""

from enclave.cli.main import app, main

__all__ = ["app", "main"]
