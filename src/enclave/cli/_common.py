"""What every command group shares: settings, runtime, output, the one error handler."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from datetime import datetime
from enum import Enum
from typing import Any, NoReturn, TypeVar

from rich.console import Console

from enclave.config import Settings, load_settings
from enclave.errors import EnclaveError
from enclave.runtime import Runtime, open_runtime

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

T = TypeVar("T")


def fail(error: EnclaveError) -> NoReturn:
    err.print(f"[bold red]error:[/] {error.diagnostics()}", markup=True)
    sys.exit(error.exit_code)


def guarded(fn: Callable[[], T]) -> T:
    """The CLI's one `except EnclaveError`: print the diagnostic, exit with its code."""
    try:
        return fn()
    except EnclaveError as exc:
        fail(exc)


def settings() -> Settings:
    return guarded(load_settings)


@contextmanager
def runtime() -> Iterator[Runtime]:
    rt = guarded(lambda: open_runtime(settings()))
    try:
        yield rt
    finally:
        rt.close()


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_plain(v) for v in value]
        return sorted(items) if isinstance(value, set | frozenset) else items
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(_plain(value), indent=2, sort_keys=True) + "\n")


__all__ = ["emit_json", "err", "fail", "guarded", "out", "runtime", "settings"]
