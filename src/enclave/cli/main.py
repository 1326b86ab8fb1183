"""`enclave`: the operator's command line. Exit codes: 0 ok, 1 unexpected, 2 bad input or
configuration, 3 not authorised, 4 not found, 5 conflict with current state, 6 store
unavailable, 7 `credits check` found an inconsistency (see enclave.errors).

Every flag can also be set from the environment: a flag that is a setting uses the
setting's variable (ENCLAVE_PORT, ENCLAVE_OPERATOR for `--as`), every other flag
ENCLAVE_CLI_<GROUP>_<FLAG> (e.g. ENCLAVE_CLI_KEY_ORG), a prefix the settings loader skips.
tests/integration/test_cli.py checks every command of every group for this."""

from __future__ import annotations

import typer

from enclave import __version__
from enclave.cli import _common, asset, audit, db, key, operator, org
from enclave.cli import cases as cases_cli
from enclave.cli import credits as credits_cli
from enclave.cli import findings as findings_cli
from enclave.cli import monitor as monitor_cli
from enclave.cli import policy as policy_cli
from enclave.cli import safeguards as safeguards_cli
from enclave.cli.init import init
from enclave.cli.report import report
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
app.command("report")(report)
app.add_typer(org.app, name="org")
app.add_typer(credits_cli.app, name="credits")
app.add_typer(key.app, name="key")
app.add_typer(asset.app, name="asset")
app.add_typer(operator.app, name="operator")
app.add_typer(db.app, name="db")
app.add_typer(audit.app, name="audit")
app.add_typer(policy_cli.app, name="policy")
app.add_typer(safeguards_cli.app, name="safeguards")
app.add_typer(monitor_cli.app, name="monitor")
app.add_typer(monitor_cli.alerts_app, name="alerts")
app.add_typer(monitor_cli.sessions_app, name="sessions")
app.add_typer(findings_cli.app, name="findings")
app.add_typer(cases_cli.app, name="cases")
app.add_typer(cases_cli.advisories_app, name="advisories")


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
