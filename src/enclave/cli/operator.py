"""`enclave operator`: programme staff accounts and their admin-API tokens.

Roles are least privilege (enclave.registry.Role): `admin` does everything, `reviewer`
vets organisations and reads, `auditor` only reads.
"""

from __future__ import annotations

from typing import Annotated

import typer

from enclave.cli import _common
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


__all__ = ["app"]
