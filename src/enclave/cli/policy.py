"""`enclave policy`: init, check, reload, explain and publish the Cedar access policies.

The policies are the ``*.cedar`` files in ``policy_dir`` (ENCLAVE_POLICY_DIR; unset = the
shipped defaults). `init DIR` copies the defaults to start from; `check` validates a
directory against the schema; `reload` asks the running server to load the directory
again (SIGHUP through the pid file in the state directory) and prints its verdict; an
invalid directory leaves the old policies in force. See docs/policies.md.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Any

import typer

from enclave.cli import _common
from enclave.config import Settings
from enclave.errors import InputError, NotFound
from enclave.policy import (
    Explanation,
    PolicyEngine,
    PolicyRequest,
    SubtractionTable,
    default_directory,
    signal_server,
)
from enclave.policy.loader import SCHEMA_FILE
from enclave.registry import Principal
from enclave.runtime import Runtime

app = typer.Typer(
    help="Cedar access policies: init, check, reload, explain, table.", no_args_is_help=True
)


def _engine(settings: Settings, directory: Path | None = None) -> PolicyEngine:
    return _common.guarded(
        lambda: PolicyEngine.load(directory or settings.policy_dir, tiers=settings.tiers)
    )


@app.command("check")
def check(
    directory: Annotated[
        Path | None,
        typer.Argument(
            metavar="[DIR]",
            envvar="ENCLAVE_POLICY_DIR",
            help="Policy directory. [default: policy_dir, else the shipped policies]",
            show_default=False,
        ),
    ] = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Validate every *.cedar file against the schema; exit 2 naming file and line if not."""
    engine = _engine(_common.settings(), directory)
    info = engine.info
    if as_json:
        _common.emit_json(
            {"ok": True, "policy_set": info, "policies": list(engine.policies.values())}
        )
        return
    _common.out.print(
        f"ok: {len(info.policies)} policies in {len(info.files)} files from {info.directory}",
        markup=False,
    )
    _common.out.print(f"digest {info.digest}", markup=False)
    for warning in info.warnings:
        _common.err.print(f"warning: {warning}", markup=False)
    _common.table(
        "id",
        "effect",
        "advice",
        "where",
        rows=[(p.id, p.effect, p.advice.value, p.location) for p in engine.policies.values()],
    )


@app.command("reload")
def reload(
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            envvar="ENCLAVE_CLI_POLICY_TIMEOUT",
            help="Seconds to wait for the server's confirmation.",
        ),
    ] = 10.0,
    as_json: _common.JsonOutput = False,
) -> None:
    """Make the running server reload its policies (SIGHUP) and print its verdict."""
    settings = _common.settings()
    status = _common.guarded(lambda: signal_server(settings.state_dir, timeout=timeout))
    if status is None:
        _common.err.print(
            f"the server was signalled but did not confirm within {timeout:g}s; "
            "check its log and `enclave policy reload` again",
            markup=False,
        )
        raise typer.Exit(1)
    if as_json:
        _common.emit_json(status)
    data, in_force = status.get("data", {}), status.get("in_force", {})
    if status.get("kind") == "policy.reloaded":
        if not as_json:
            _common.out.print(
                f"reloaded: {len(in_force.get('policies', []))} policies from "
                f"{in_force.get('directory')} ({in_force.get('digest')})",
                markup=False,
            )
            for warning in data.get("warnings", []):
                _common.err.print(f"warning: {warning}", markup=False)
        return
    if not as_json:
        _common.err.print(f"reload failed: {data.get('error')}", markup=False)
        _common.err.print(
            f"the server keeps the {len(in_force.get('policies', []))} policies in force "
            f"({in_force.get('digest')})",
            markup=False,
        )
    raise typer.Exit(2)


def _principal(rt: Runtime, actor_name: str | None, ref: str) -> Principal:
    actor = _common.acting(rt, actor_name)
    keys = _common.guarded(lambda: rt.registry.list_keys(actor))
    matches = [k for k in keys if ref in (k.id, k.prefix)]
    if not matches:
        _common.fail(NotFound(f"no key with id or prefix {ref!r}", hint="`enclave key list`"))
    key = matches[0]
    org, _ = _common.guarded(lambda: rt.registry.get_org(actor, key.org_id))
    return Principal(key=key, org=org)


@app.command("explain")
def explain(
    key: Annotated[
        str,
        typer.Option(
            "--key", envvar="ENCLAVE_CLI_POLICY_KEY", metavar="ID_OR_PREFIX", help="The key."
        ),
    ],
    model: Annotated[
        str,
        typer.Option("--model", envvar="ENCLAVE_CLI_POLICY_MODEL", help="Public model name."),
    ],
    purpose: Annotated[
        str,
        typer.Option("--purpose", envvar="ENCLAVE_CLI_POLICY_PURPOSE", help="Declared purpose."),
    ],
    variant: Annotated[
        str | None,
        typer.Option(
            "--variant",
            envvar="ENCLAVE_CLI_POLICY_VARIANT",
            help="Model variant the tier routes to. [default: the model name]",
            show_default=False,
        ),
    ] = None,
    action: Annotated[
        str,
        typer.Option("--action", envvar="ENCLAVE_CLI_POLICY_ACTION", help="Cedar action."),
    ] = "invoke",
    session: Annotated[
        str,
        typer.Option("--session", envvar="ENCLAVE_CLI_POLICY_SESSION", help="Session id."),
    ] = "explain",
    risk_category: Annotated[
        str | None,
        typer.Option(
            "--risk-category",
            envvar="ENCLAVE_CLI_POLICY_RISK_CATEGORY",
            help="Safeguards category to assume. [default: none]",
            show_default=False,
        ),
    ] = None,
    risk_score: Annotated[
        float | None,
        typer.Option(
            "--risk-score",
            envvar="ENCLAVE_CLI_POLICY_RISK_SCORE",
            help="Safeguards score in [0, 1] to assume. [default: 0]",
            show_default=False,
        ),
    ] = None,
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Print the decision for a key, model and purpose, its advice and the policies that
    determined it. Exit 0 when allowed, 3 when denied."""
    settings = _common.settings()
    engine = _engine(settings)
    context: dict[str, Any] = {}
    if risk_category is not None:
        context["risk_category"] = risk_category
    if risk_score is not None:
        context["risk_score"] = risk_score
    with _common.runtime() as rt:
        principal = _principal(rt, as_, key)
        now = rt.registry.now()
    request = PolicyRequest(
        principal=principal,
        action=action,
        model=model,
        variant=variant or model,
        purpose=purpose,
        session_id=session,
        context=context,
    )
    _common.guarded(lambda: engine.facts(request))  # bad input is an error, not a denial
    result: Explanation = engine.explain(request)
    state = principal.key.state(now)
    if as_json:
        _common.emit_json({"explanation": result, "key_state": state})
    else:
        _common.out.print(result.text(), markup=False)
        if state != "active" or not principal.org.is_active(now):
            _common.out.print(
                f"note      key is {state}, organisation {principal.org.status.value}: "
                "the gateway refuses it before asking the policy",
                markup=False,
            )
    if not result.decision.allowed:
        raise typer.Exit(3)


def _print_table(table: SubtractionTable, settings: Settings) -> None:
    _common.out.print(
        f"risk score thresholds in the policies: {', '.join(table.thresholds) or 'none'}",
        markup=False,
    )
    # One line per outcome: categories treated alike are listed together (--json keeps
    # one row per category).
    lines: dict[tuple[str, str, tuple[str, ...], str], list[str]] = {}
    for r in table.rows:
        lines.setdefault((r.tier, r.action, r.purposes, r.summary), []).append(r.category)
    rows = []
    for (tier, action, purposes, summary), categories in lines.items():
        every = set(purposes) == set(settings.tiers[tier].purposes)
        shown = "all" if every else ", ".join(purposes)
        rows.append((tier, action, shown, ", ".join(categories), summary))
    _common.table(
        "tier",
        "action",
        "purposes",
        "categories",
        "outcome by risk score",
        rows=rows,
        keep=("tier", "action"),
    )


@app.command("table")
def table(
    category: Annotated[
        list[str] | None,
        typer.Option(
            "--category",
            envvar="ENCLAVE_CLI_POLICY_CATEGORY",
            help="Risk category to include (repeatable). [default: the safeguards taxonomy]",
            show_default=False,
        ),
    ] = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Per tier: which risk categories the policies block, flag or allow (and from which
    score), computed by evaluating the loaded policies."""
    settings = _common.settings()
    engine = _engine(settings)
    result = engine.subtraction_table(categories=category or None)
    if as_json:
        _common.emit_json(result)
        return
    _print_table(result, settings)


@app.command("init")
def init(
    directory: Annotated[
        Path,
        typer.Argument(
            metavar="DIR", envvar="ENCLAVE_CLI_POLICY_INIT_DIR", help="Directory to create."
        ),
    ],
    force: Annotated[
        bool,
        typer.Option(
            "--force", envvar="ENCLAVE_CLI_POLICY_FORCE", help="Overwrite files that exist."
        ),
    ] = False,
    schema_only: Annotated[
        bool,
        typer.Option(
            "--schema-only",
            envvar="ENCLAVE_CLI_POLICY_SCHEMA_ONLY",
            help="Refresh only the schema copy (after an upgrade).",
        ),
    ] = False,
) -> None:
    """Copy the shipped policies and schema into DIR, to edit and use as policy_dir."""
    source = default_directory()
    names = (
        [SCHEMA_FILE] if schema_only else sorted(p.name for p in source.iterdir() if p.is_file())
    )
    overwrite = force or schema_only
    existing = [n for n in names if (directory / n).exists()]
    if existing and not overwrite:
        _common.fail(
            InputError(
                f"{directory} already has {', '.join(existing)}",
                hint="pass --force to overwrite, or choose another directory",
            )
        )
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(source / name, directory / name)
    _common.out.print(f"wrote {', '.join(names)} to {directory}", markup=False)
    if not schema_only:
        _common.out.print(
            f"next: edit them, `enclave policy check {directory}`, then set "
            f"ENCLAVE_POLICY_DIR={directory.resolve()} and `enclave policy reload`",
            markup=False,
        )


__all__ = ["app"]
