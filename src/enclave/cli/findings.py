"""`enclave findings`: submit, list and show vulnerability findings (docs/disclosure.md).

A finding names the affected package (purl) and versions, the location, the CWE and a CVSS
4.0 vector; its description and proof of concept are encrypted at rest. A finding with the
same package, CWE and location as an earlier one joins that one's case as a duplicate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from enclave.cli import _common
from enclave.disclosure import DisclosureInputError, DisclosureService, FindingInput
from enclave.disclosure import views as shapes
from enclave.registry import Operator
from enclave.store.disclosure_repo import build_disclosure

app = typer.Typer(help="Submit, list and show vulnerability findings.", no_args_is_help=True)


@contextmanager
def disclosure() -> Iterator[tuple[DisclosureService, Callable[[str | None], Operator]]]:
    """The service plus a resolver of `--as`, over one runtime."""
    with _common.runtime() as rt:
        service = _common.guarded(lambda: build_disclosure(rt.settings, rt.db))
        yield service, lambda name: _common.acting(rt, name)


def _read(path: Path, what: str, limit: int) -> bytes:
    try:
        if path.stat().st_size > limit:
            raise DisclosureInputError(f"{what} {path} is larger than {limit} bytes")
        return path.read_bytes()
    except OSError as exc:
        raise DisclosureInputError(f"cannot read {what} {path}: {exc.strerror}") from None


def opt(group: str, flag: str, help: str) -> Any:
    """A flag with its environment variable, ENCLAVE_CLI_<GROUP>_<FLAG> (enclave.cli.main)."""
    env = f"ENCLAVE_CLI_{group}_{flag.removeprefix('--').replace('-', '_').upper()}"
    return typer.Option(flag, envvar=env, help=help)


@app.command("submit")
def submit(
    title: Annotated[str, opt("FINDINGS", "--title", "One-line summary.")],
    purl: Annotated[str, opt("FINDINGS", "--purl", "Affected package, e.g. pkg:pypi/name.")],
    version: Annotated[list[str], opt("FINDINGS", "--version", "Affected version (repeatable).")],
    location: Annotated[str, opt("FINDINGS", "--location", "File:line, function or endpoint.")],
    cwe: Annotated[str, opt("FINDINGS", "--cwe", "Weakness, e.g. CWE-787.")],
    cvss: Annotated[str, opt("FINDINGS", "--cvss", "CVSS 4.0 vector (the source of truth).")],
    description: Annotated[
        Path, opt("FINDINGS", "--description", "File holding the description (encrypted).")
    ],
    org: Annotated[str, opt("FINDINGS", "--org", "Reporting organisation.")],
    session: Annotated[
        str | None, opt("FINDINGS", "--session", "Session the finding came from.")
    ] = None,
    poc: Annotated[
        Path | None, opt("FINDINGS", "--poc", "Proof-of-concept file (encrypted).")
    ] = None,
    acting_as: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Submit a finding; prints its case (a duplicate joins the existing case)."""
    with disclosure() as (service, actor):
        limit = service.max_poc_bytes
        data = _common.guarded(
            lambda: FindingInput(
                title=title,
                purl=purl,
                versions=version,
                location=location,
                cwe=cwe,
                cvss_vector=cvss,
                description=_read(description, "description", 200_000).decode("utf-8", "replace"),
                reporting_org=org,
                session_id=session,
                poc=_read(poc, "proof of concept", limit + 1) if poc else None,
                poc_name=poc.name if poc else None,
            )
        )
        done = _common.guarded(lambda: service.submit(actor(acting_as), data))
    if as_json:
        _common.emit_json(shapes.submitted(done))
        return
    if done.duplicate_of:
        _common.out.print(
            f"finding {done.finding.id} is a duplicate of {done.duplicate_of}; "
            f"linked to case {done.case.id}"
        )
    else:
        _common.out.print(f"finding {done.finding.id} opened case {done.case.id} (triage)")
    _common.out.print(f"CVSS {done.finding.cvss.score} {done.finding.cvss.severity}")


@app.command("list")
def list_(
    case: Annotated[str | None, opt("FINDINGS", "--case", "Only this case's findings.")] = None,
    acting_as: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """List findings (never their descriptions)."""
    with disclosure() as (service, actor):
        found = _common.guarded(lambda: service.list_findings(actor(acting_as), case_id=case))
    if as_json:
        _common.emit_json([shapes.finding(f) for f in found])
        return
    _common.table(
        "id",
        "case",
        "purl",
        "cwe",
        "cvss",
        "org",
        "duplicate_of",
        rows=[
            (
                f.id,
                f.case_id,
                f.purl,
                f"CWE-{f.cwe}",
                f.cvss.score,
                f.reporting_org,
                f.duplicate_of or "-",
            )
            for f in found
        ],
        keep=("id", "case"),
    )


@app.command("show")
def show(
    finding_id: Annotated[str, typer.Argument(help="Finding id.")],
    acting_as: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """One finding's metadata (the description: `enclave cases show CASE --details`)."""
    with disclosure() as (service, actor):
        found = _common.guarded(lambda: service.get_finding(actor(acting_as), finding_id))
    body = shapes.finding(found)
    if as_json:
        _common.emit_json(body)
        return
    _common.fields((k, v) for k, v in body.items())


__all__ = ["app", "disclosure", "opt"]
