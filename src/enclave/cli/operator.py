"""`enclave operator`: programme staff accounts and their admin-API tokens.

Roles are least privilege (enclave.registry.Role): `admin` does everything, `reviewer`
vets organisations and reads, `auditor` only reads.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from enclave.cli import _common
from enclave.console import build_accounts
from enclave.console.accounts import MIN_PASSWORD
from enclave.registry import IssuedToken, Operator

app = typer.Typer(help="Create and list operators (programme staff).", no_args_is_help=True)

ONCE = (
    "Shown once: Enclave stores only a keyed hash of this token. Give it to {name} now;\n"
    "it authenticates to the admin API as `Authorization: Bearer <token>`."
)


def _record(op: Operator) -> dict[str, object]:
    return {
        "id": op.id,
        "name": op.name,
        "roles": sorted(r.value for r in op.roles),
        "created_at": op.created_at,
        "disabled_at": op.disabled_at,
    }


@app.command("create")
def create(
    name: Annotated[
        str,
        typer.Option("--name", envvar="ENCLAVE_CLI_OPERATOR_NAME", help="Operator name."),
    ],
    role: Annotated[
        list[str],
        typer.Option(
            "--role",
            envvar="ENCLAVE_CLI_OPERATOR_ROLE",
            help="admin, reviewer or auditor (repeatable).",
        ),
    ],
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Create an operator and print its admin-API token once (needs an admin)."""
    with _common.runtime() as rt:
        actor = _common.acting(rt, as_)
        issued: IssuedToken = _common.guarded(
            lambda: rt.registry.create_operator(actor, name=name, roles=role)
        )
    if as_json:
        _common.emit_json(
            {"operator": _record(issued.operator), "token": issued.token, "shown_once": True}
        )
        return
    op = issued.operator
    roles = ", ".join(sorted(r.value for r in op.roles))
    _common.out.print(f"Created operator {op.name} ({op.id}), roles: {roles}", markup=False)
    _common.out.print(f"\n  {issued.token}\n", markup=False)
    _common.out.print(ONCE.format(name=op.name), markup=False)


@app.command("list")
def list_(
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """List operators and their roles (never their tokens)."""
    with _common.runtime() as rt:
        actor = _common.acting(rt, as_)
        operators = _common.guarded(lambda: rt.registry.list_operators(actor))
    if as_json:
        _common.emit_json([_record(op) for op in operators])
        return
    _common.table(
        "name",
        "id",
        "roles",
        "created",
        "disabled",
        rows=(
            (
                op.name,
                op.id,
                ", ".join(sorted(r.value for r in op.roles)),
                _common.when(op.created_at),
                _common.when(op.disabled_at),
            )
            for op in operators
        ),
    )


@app.command("set-password")
def set_password(
    name: Annotated[str, typer.Argument(help="The operator whose console password to set.")],
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            envvar="ENCLAVE_CLI_OPERATOR_PASSWORD_STDIN",
            help="Read the password from the first line of standard input (no prompt).",
        ),
    ] = False,
    as_: _common.ActingOperator = None,
) -> None:
    """Set an operator's console password (an admin for anyone, an operator for itself).

    Prompts twice unless --password-stdin; at least 12 characters, kept as an argon2id hash.

    The operator's console sessions end, and the change is recorded as an event.
    """
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt(
            f"New console password for {name} (at least {MIN_PASSWORD} characters)",
            hide_input=True,
            confirmation_prompt=True,
        )
    with _common.runtime() as rt:
        actor = _common.acting(rt, as_)
        accounts = build_accounts(rt.settings, rt.db, clock=rt.registry.now)
        op = _common.guarded(lambda: accounts.set_password(actor, name, password))
    _common.out.print(
        f"Console password set for {op.name} ({op.id}); sign in at /console/signin.",
        markup=False,
    )


__all__ = ["app"]
