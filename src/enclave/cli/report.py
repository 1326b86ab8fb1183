"""`enclave report`: the transparency report for a period, written as Markdown, HTML,
JSON and SVG charts, and with --publish stored for the public pages at /transparency
(docs/transparency.md).

Everything is computed in memory before a file is written, so a bad date, an unusable
directory or a store error leaves nothing behind. The audit log is integrated first when
its signing key is here, so the checkpoint the figures are anchored to is current.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from enclave.auditlog import AuditLog, LastSignedFile, load_signer
from enclave.cli import _common
from enclave.clock import utcnow
from enclave.config import Settings
from enclave.errors import InputError
from enclave.policy import PolicyEngine
from enclave.registry.service import ADMIN_ROLES, require
from enclave.reports import Period, ReportService, artefacts, digest, document
from enclave.runtime import Runtime
from enclave.store.auditlog_repo import SqlAuditLog
from enclave.store.reports_repo import SqlReportStore


class OutputError(InputError):
    code = "report_output"


def _directory(out: Path) -> Path:
    """The output directory: new, or existing and empty (a report is never mixed with
    other files or written over an earlier one). Checked before anything is computed."""
    if out.is_symlink():
        raise OutputError(f"{out} is a symbolic link", hint="give the real directory")
    if out.exists():
        if not out.is_dir():
            raise OutputError(f"{out} exists and is not a directory")
        if any(out.iterdir()):
            raise OutputError(
                f"{out} is not empty", hint="give a new or empty directory for the report"
            )
        if not os.access(out, os.W_OK | os.X_OK):
            raise OutputError(f"{out} is not writable")
        return out
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot create {out}: {parent} is not a writable directory")
    return out


def _write(out: Path, files: dict[str, str]) -> None:
    """Write every file or none: on a failure, remove what this call created."""
    created_dir = not out.exists()
    written: list[Path] = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in sorted(files.items()):
            path = out / name
            # O_EXCL: never follow or replace something that appeared meanwhile.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            written.append(path)
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
    except OSError as exc:
        for path in written:
            path.unlink(missing_ok=True)
        if created_dir and out.exists():
            try:
                out.rmdir()
            except OSError:
                pass  # something else is in it now; leave it
        raise OutputError(f"cannot write the report to {out}: {exc.strerror or exc}") from None


def _integrate(settings: Settings, rt: Runtime) -> None:
    """Sequence pending events and sign a checkpoint, as `enclave audit integrate` does,
    when the log's signing key is here; otherwise the latest stored checkpoint is used."""
    if not settings.log_key_path.exists():
        return
    signer = load_signer(settings.log_key_path, expected_name=settings.log_origin)
    log = AuditLog(
        store=SqlAuditLog(rt.db.engine),
        signer=signer,
        verifier=None,
        memory=LastSignedFile(settings.log_key_path),
    )
    log.integrate()


def report(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            envvar="ENCLAVE_CLI_REPORT_OUT",
            metavar="DIR",
            help="New or empty directory for report.md, report.html, report.json, *.svg.",
        ),
    ],
    since: Annotated[
        str | None,
        typer.Option(
            "--from",
            envvar="ENCLAVE_CLI_REPORT_FROM",
            metavar="YYYY-MM-DD",
            help="First day covered (UTC). [default: 90 days before --to]",
            show_default=False,
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--to",
            envvar="ENCLAVE_CLI_REPORT_TO",
            metavar="YYYY-MM-DD",
            help="First day NOT covered (UTC). [default: today]",
            show_default=False,
        ),
    ] = None,
    publish: Annotated[
        bool,
        typer.Option(
            "--publish",
            envvar="ENCLAVE_CLI_REPORT_PUBLISH",
            help="Also store it for the public pages at /transparency (admin; recorded).",
        ),
    ] = False,
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Transparency report for a period [--from, --to): who had access, requests,
    refusals, alerts, sessions, findings, credits, what each tier withholds, and the
    signed audit checkpoint the figures were computed at."""
    today: date = utcnow().date()
    period = _common.guarded(lambda: Period.parse(since, until, today=today))
    target = _common.guarded(lambda: _directory(out))
    settings = _common.settings()
    engine = _common.guarded(lambda: PolicyEngine.load(settings.policy_dir, tiers=settings.tiers))
    with _common.runtime() as rt:
        actor = _common.acting(rt, as_)
        if publish:  # refused before anything is computed or written
            _common.guarded(lambda: require(actor, ADMIN_ROLES, "publishing a report"))
        service = ReportService(store=SqlReportStore(rt.db.engine))
        _common.guarded(lambda: _integrate(settings, rt))
        result = _common.guarded(
            lambda: service.compute(
                actor, period, table=engine.subtraction_table(actions=["invoke"])
            )
        )
        doc = document(result)
        files = artefacts(doc)
        _common.guarded(lambda: _write(target, files))
        published = None
        if publish:
            published = _common.guarded(lambda: service.publish(actor, result))
    summary = {
        "period": doc["period"],
        "out": str(target),
        "files": sorted(files),
        "digest": digest(doc),  # of report.json, byte for byte
        "checkpoint_size": None if result.checkpoint is None else result.checkpoint.tree_size,
        "published": None
        if published is None
        else {
            "id": published.id,
            "digest": published.digest,
            "url": f"/transparency/{published.id}",
        },
    }
    if as_json:
        _common.emit_json(summary)
        return
    _common.out.print(
        f"wrote {len(files)} files to {target} for {period.start} to {period.end} "
        f"(exclusive); report.json is {summary['digest']}",
        markup=False,
    )
    if result.checkpoint is None:
        _common.err.print(
            "warning: the audit log has no signed checkpoint; no event figures were counted "
            "(run `enclave audit integrate`)",
            markup=False,
        )
    else:
        _common.out.print(
            f"figures at audit checkpoint of size {result.checkpoint.tree_size}", markup=False
        )
    if published is not None:
        _common.out.print(
            f"published {published.id} ({published.digest}) at /transparency/{published.id}",
            markup=False,
        )


__all__ = ["report"]
