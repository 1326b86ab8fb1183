"""`enclave audit`: the tamper-evident log from the command line.

Operators integrate and checkpoint; anyone holding the verifier key can check what the log
prints (`check-proof`) or watch it (`witness`) without access to the database. Exit codes
as everywhere (enclave.cli.main); a log that fails verification, a proof that does not
check and a witness that refuses a checkpoint exit 5 (conflict with what was signed).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
import typer

from enclave.auditlog import (
    AuditLog,
    LastSignedFile,
    LogInputError,
    VerificationFailed,
    Verifier,
    VerifyReport,
    check_consistency,
    check_inclusion,
    consistency_json,
    inclusion_json,
    load_signer,
    open_checkpoint,
    parse_consistency,
    parse_inclusion,
    parse_vkey,
    proof_from,
    witness,
)
from enclave.auditlog.interface import TILE_HEIGHT, TILE_WIDTH
from enclave.auditlog.merkle import consistency_path
from enclave.auditlog.tiles import TiledTree, split_hashes, tile_path
from enclave.cli import _common
from enclave.config import Settings
from enclave.store import Database
from enclave.store.auditlog_repo import SqlAuditLog

KeyUse = Literal["sign", "verify", "none"]

app = typer.Typer(
    help="The tamper-evident audit log: integrate, verify, prove, witness.",
    no_args_is_help=True,
)

Vkey = Annotated[
    str | None,
    typer.Option(
        "--vkey",
        envvar="ENCLAVE_CLI_AUDIT_VKEY",
        metavar="VKEY",
        help="The log's verifier key (name+id+key). [default: from the key file]",
        show_default=False,
    ),
]
RequiredVkey = Annotated[
    str,
    typer.Option(
        "--vkey",
        envvar="ENCLAVE_CLI_AUDIT_VKEY",
        metavar="VKEY",
        help="The log's verifier key (`enclave audit export-key` prints it).",
    ),
]


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LogInputError(f"cannot read {what} {path}: {exc}") from None


def _load_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(_read(path, what))
    except json.JSONDecodeError as exc:
        raise LogInputError(f"{path}: not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise LogInputError(f"{path}: expected a JSON object")
    return data


def _verifier(settings: Settings, vkey: str | None) -> Verifier:
    if vkey:
        return parse_vkey(vkey)
    return load_signer(settings.log_key_path, expected_name=settings.log_origin).verifier


@contextmanager
def _log(settings: Settings, *, key: KeyUse, vkey: str | None = None) -> Iterator[AuditLog]:
    """The log over the configured database, with what it needs of the key file: the
    private key to ``sign``, the public half (or ``vkey``) to ``verify``, or ``none``."""
    signer = memory = None
    if key == "sign":
        signer = load_signer(settings.log_key_path, expected_name=settings.log_origin)
        memory = LastSignedFile(settings.log_key_path)
    verifier = _verifier(settings, vkey) if key == "verify" else None
    db = Database(settings.database_url)
    try:
        db.require_current()
        store = SqlAuditLog(db.engine)
        yield AuditLog(store=store, signer=signer, verifier=verifier, memory=memory)
    finally:
        db.close()


@app.command("integrate")
def integrate(
    batch: Annotated[
        int,
        typer.Option(
            "--batch", envvar="ENCLAVE_CLI_AUDIT_BATCH", min=1, help="Entries per checkpoint."
        ),
    ] = 4096,
    watch: Annotated[
        float | None,
        typer.Option(
            "--watch",
            envvar="ENCLAVE_CLI_AUDIT_WATCH",
            metavar="SECONDS",
            min=0.01,
            help="Keep integrating every SECONDS until interrupted (a sidecar to `serve`).",
            show_default=False,
        ),
    ] = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Sequence new events into the log and sign a checkpoint (needs the key file)."""
    settings = _common.settings()

    def once() -> dict[str, int]:
        with _log(settings, key="sign") as log:
            done = log.integrate(batch=batch)
        return {"integrated": done.integrated, "tree_size": done.tree_size}

    pause = threading.Event()  # never set: wait() is an interruptible sleep
    while True:
        result = _common.guarded(once)
        if as_json:
            _common.emit_json(result)
        else:
            _common.out.print(
                f"integrated {result['integrated']} entries; tree size {result['tree_size']}"
            )
        if watch is None:
            return
        pause.wait(watch)


@app.command("checkpoint")
def checkpoint() -> None:
    """Print the latest signed checkpoint; keep it for `verify --checkpoint` and witnesses."""
    settings = _common.settings()

    def run() -> str:
        with _log(settings, key="none") as log:
            return log.latest_checkpoint().note

    sys.stdout.write(_common.guarded(run))


def _report(report: VerifyReport, as_json: bool) -> None:
    if as_json:
        _common.emit_json(
            {
                "ok": report.ok,
                "tree_size": report.tree_size,
                "checkpoints_checked": list(report.checked),
                "first_bad_index": report.first_bad_index,
                "problems": [
                    {"kind": p.kind.value, "index": p.index, "exact": p.exact, "detail": p.detail}
                    for p in report.problems
                ],
            }
        )
        return
    sizes = ", ".join(str(s) for s in report.checked) or "none"
    _common.out.print(f"recomputed {report.tree_size} entries; checkpoints checked: {sizes}")
    for p in report.problems:
        where = "" if p.index is None else f"index {p.index}{'' if p.exact else ' or later'}: "
        _common.err.print(f"{p.kind.value}: {where}{p.detail}", markup=False)
    if report.ok:
        _common.out.print("ok: every entry and every checkpoint verifies")


@app.command("verify")
def verify(
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoint",
            envvar="ENCLAVE_CLI_AUDIT_CHECKPOINT",
            metavar="FILE",
            help="An earlier signed checkpoint you kept (repeatable).",
            show_default=False,
        ),
    ] = None,
    vkey: Vkey = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Recompute the tree from storage; check it against every signed checkpoint."""
    settings = _common.settings()

    def run() -> VerifyReport:
        supplied = [(str(path), _read(path, "checkpoint")) for path in checkpoint or ()]
        with _log(settings, key="verify", vkey=vkey) as log:
            return log.verify(supplied)

    report = _common.guarded(run)
    _report(report, as_json)
    if not report.ok:
        first = report.first_bad_index
        named = "" if first is None else f"; first bad index {first}"
        _common.fail(VerificationFailed(f"the log does not verify{named}"))


@app.command("prove")
def prove(
    index: Annotated[
        int, typer.Option("--index", envvar="ENCLAVE_CLI_AUDIT_INDEX", min=0, help="Leaf index.")
    ],
    size: Annotated[
        int | None,
        typer.Option(
            "--size",
            envvar="ENCLAVE_CLI_AUDIT_SIZE",
            min=1,
            help="Tree size to prove against. [default: the latest checkpoint's]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Print an inclusion proof (JSON) that `check-proof` verifies with the vkey alone."""
    settings = _common.settings()

    def run() -> dict[str, Any]:
        with _log(settings, key="none") as log:
            return inclusion_json(log.inclusion_proof(index, size))

    _common.emit_json(_common.guarded(run))


@app.command("consistency")
def consistency(
    old: Annotated[
        Path,
        typer.Option(
            "--old",
            envvar="ENCLAVE_CLI_AUDIT_OLD",
            metavar="FILE",
            help="An earlier signed checkpoint.",
        ),
    ],
    vkey: Vkey = None,
) -> None:
    """Print a consistency proof (JSON) from an earlier checkpoint to the latest one."""
    settings = _common.settings()

    def run() -> dict[str, Any]:
        note = _read(old, "checkpoint")
        with _log(settings, key="verify", vkey=vkey) as log:
            previous = open_checkpoint(note, log.verifier)
            proof = log.consistency_proof(previous.size)
            if proof.old_root != previous.root:
                raise VerificationFailed(
                    f"the log is not consistent with {old}: its tree of size "
                    f"{previous.size} now has a different root",
                    hint="`enclave audit verify --checkpoint FILE` names the first bad index",
                )
            check_consistency(proof, log.verifier, note)
            return consistency_json(proof)

    _common.emit_json(_common.guarded(run))


@app.command("export-key")
def export_key() -> None:
    """Print the verifier key (signed-note vkey) to publish and to give to witnesses."""
    settings = _common.settings()
    sys.stdout.write(_common.guarded(lambda: _verifier(settings, None)).vkey + "\n")


@app.command("check-proof")
def check_proof(
    proof: Annotated[Path, typer.Argument(help="Output of `prove` or `consistency` (JSON).")],
    vkey: RequiredVkey,
    old: Annotated[
        Path | None,
        typer.Option(
            "--old",
            envvar="ENCLAVE_CLI_AUDIT_OLD",
            metavar="FILE",
            help="For a consistency proof: the earlier checkpoint it starts from.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Check a proof offline with the public key alone (no database, no key file)."""

    def run() -> str:
        verifier = parse_vkey(vkey)
        data = _load_json(proof, "proof")
        if "index" in data:
            included = parse_inclusion(data)
            signed = check_inclusion(included, verifier)
            return (
                f"ok: entry {included.index} is in the tree of size {signed.size} "
                f"signed by {verifier.name}"
            )
        if old is None:
            raise LogInputError("a consistency proof needs --old FILE (the earlier checkpoint)")
        signed = check_consistency(parse_consistency(data), verifier, _read(old, "checkpoint"))
        return f"ok: the tree of size {signed.size} extends the one in {old}"

    _common.out.print(_common.guarded(run), markup=False)


# -- witness ------------------------------------------------------------------------------


class HttpTiles:
    """A TileSource over a log's tlog-tiles URL prefix (``https://host/log/``)."""

    def __init__(self, client: httpx.Client, base: str) -> None:
        self._client = client
        self._base = base

    def read_hashes(self, level: int, start: int, end: int) -> list[bytes]:
        hashes: list[bytes] = []
        for index in range(start // TILE_WIDTH, (end - 1) // TILE_WIDTH + 1):
            first = index * TILE_WIDTH
            width = min(TILE_WIDTH, end - first)
            path = tile_path(level // TILE_HEIGHT, index, width)
            tile = split_hashes(_fetch(self._client, self._base + path))
            hashes.extend(tile[max(0, start - first) : width])
        return hashes


def _fetch(client: httpx.Client, url: str) -> bytes:
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        raise LogInputError(f"cannot fetch {url}: {exc}") from None
    if response.status_code != 200:
        raise LogInputError(f"{url} answered HTTP {response.status_code}")
    return response.content


def _no_proof(old_size: int, new_size: int) -> Sequence[bytes]:
    raise LogInputError(
        f"going from size {old_size} to {new_size} needs a consistency proof (--proof FILE)",
        hint="the log's operator prints one with `enclave audit consistency --old FILE`",
    )


def _write_state(path: Path, note: str) -> None:
    """Replace the witness state atomically: a crash leaves the old note or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(note, encoding="utf-8")
    os.replace(temporary, path)


@app.command("witness")
def witness_cmd(
    vkey: RequiredVkey,
    state: Annotated[
        Path,
        typer.Option(
            "--state",
            envvar="ENCLAVE_CLI_AUDIT_STATE",
            metavar="FILE",
            help="Where this witness keeps the newest checkpoint it accepted.",
        ),
    ],
    checkpoint_url: Annotated[
        str | None,
        typer.Option(
            "--checkpoint-url",
            envvar="ENCLAVE_CLI_AUDIT_CHECKPOINT_URL",
            metavar="URL",
            help="The log's checkpoint URL (…/log/checkpoint); proofs come from its tiles.",
            show_default=False,
        ),
    ] = None,
    checkpoint_file: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            envvar="ENCLAVE_CLI_AUDIT_CHECKPOINT",
            metavar="FILE",
            help="A new checkpoint from a file instead of a URL (with --proof).",
            show_default=False,
        ),
    ] = None,
    proof: Annotated[
        Path | None,
        typer.Option(
            "--proof",
            envvar="ENCLAVE_CLI_AUDIT_PROOF",
            metavar="FILE",
            help="Consistency proof for --checkpoint (`enclave audit consistency` output).",
            show_default=False,
        ),
    ] = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Accept a new checkpoint only if it extends the last one seen; never go backwards."""

    def run() -> dict[str, Any]:
        verifier = parse_vkey(vkey)
        if (checkpoint_url is None) == (checkpoint_file is None):
            raise LogInputError("give exactly one of --checkpoint-url and --checkpoint")
        previous = _read(state, "witness state") if state.exists() else None
        if checkpoint_url is not None:
            base = checkpoint_url.removesuffix("checkpoint")
            with httpx.Client(timeout=30) as client:
                try:
                    note = _fetch(client, checkpoint_url).decode("utf-8")
                except UnicodeDecodeError:
                    raise LogInputError(f"{checkpoint_url}: not a UTF-8 checkpoint") from None

                def from_tiles(old_size: int, new_size: int) -> Sequence[bytes]:
                    tree = TiledTree(HttpTiles(client, base), new_size)
                    return consistency_path(tree.complete, old_size, new_size)

                step = witness(verifier, previous, note, from_tiles)
        else:
            assert checkpoint_file is not None
            note = _read(checkpoint_file, "checkpoint")
            given = None if proof is None else parse_consistency(_load_json(proof, "proof"))
            step = witness(
                verifier, previous, note, _no_proof if given is None else proof_from(given)
            )
        if step.advanced:
            _write_state(state, note)
        return {
            "previous_size": None if step.previous is None else step.previous.size,
            "size": step.current.size,
            "advanced": step.advanced,
        }

    result = _common.guarded(run)
    if as_json:
        _common.emit_json(result)
    elif result["previous_size"] is None:
        _common.out.print(
            f"first checkpoint accepted (size {result['size']}); kept in {state}", markup=False
        )
    elif result["advanced"]:
        _common.out.print(f"consistent: size {result['previous_size']} -> {result['size']}")
    else:
        _common.out.print(f"unchanged: size {result['size']}")


__all__ = ["app"]
