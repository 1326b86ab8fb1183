"""`enclave`: the operator's command line. Exit codes: 0 ok, 1 unexpected, 2 bad input or
configuration, 3 not authorised, 4 not found, 5 conflict with current state, 6 store
unavailable (see enclave.errors)."""

from __future__ import annotations

import typer

from enclave import __version__
from enclave.cli import _common
from enclave.cli.init import init
from enclave.cli.serve import serve

app = typer.Typer(
    name="enclave",
    help="Enclave: governed access to dual-use frontier models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("init")(init)
app.command("serve")(serve)


def _version(value: bool) -> None:
    if value:
        _common.out.print(f"enclave {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Enclave: governed access to dual-use frontier models."""


def main() -> None:
    app()


__all__ = ["app", "main"]
