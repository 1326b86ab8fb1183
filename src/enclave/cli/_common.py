"""What every command group shares: settings, runtime, output, the one error handler."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from enclave.config import Settings, load_settings
from enclave.errors import EnclaveError
from enclave.registry import Operator
from enclave.runtime import Runtime, open_runtime

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

T = TypeVar("T")


def fail(error: EnclaveError) -> NoReturn:
    # Escaped: messages quote user input, which Rich would otherwise parse as markup.
    err.print(f"[bold red]error:[/] {escape(error.diagnostics())}", markup=True)
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


# Options every command group shares. Env var names: a setting's own (ENCLAVE_OPERATOR),
# otherwise ENCLAVE_CLI_<GROUP>_<FLAG>, which the settings loader knows to skip.
ActingOperator = Annotated[
    str | None,
    typer.Option(
        "--as",
        envvar="ENCLAVE_OPERATOR",
        metavar="NAME",
        help="Operator to act as; every change is recorded under it. [default: first admin]",
        show_default=False,
    ),
]
JsonOutput = Annotated[
    bool,
    typer.Option("--json", envvar="ENCLAVE_CLI_JSON", help="Print JSON instead of tables."),
]


def acting(rt: Runtime, name: str | None) -> Operator:
    """The operator this invocation acts as (`--as`, else the first admin)."""
    return guarded(lambda: rt.registry.operator_for_cli(name))


def when(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ")


def table(
    *columns: str,
    rows: Iterable[Sequence[object]],
    title: str | None = None,
    keep: Sequence[str] = ("id", "name"),
) -> None:
    """A table that never drops characters: ids and names (``keep``) are not wrapped, so
    they can be copied; other cells fold onto more lines instead of ending in an ellipsis."""
    grid = Table(title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD)
    for column in columns:
        if column in keep:
            grid.add_column(column, no_wrap=True)
        else:
            grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(*(Text(str(cell)) for cell in row))
    if not grid.row_count:
        out.print("(none)")
        return
    # Piped or captured output has no terminal width to respect; Rich would assume 80
    # columns and fold every cell. Scripts should use --json, people grep wide lines.
    target = out if out.is_terminal else Console(file=out.file, width=200, highlight=False)
    target.print(grid)


def fields(pairs: Iterable[tuple[str, object]]) -> None:
    """A two-column name/value listing for one record."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for name, value in pairs:
        grid.add_row(name, Text(str(value)))
    out.print(grid)


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


__all__ = [
    "ActingOperator",
    "JsonOutput",
    "acting",
    "emit_json",
    "err",
    "fail",
    "fields",
    "guarded",
    "out",
    "runtime",
    "settings",
    "table",
    "when",
]
