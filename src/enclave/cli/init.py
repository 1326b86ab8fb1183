"""`enclave init`: state directory, key pepper, database schema, first operator."""

from __future__ import annotations

import typer

from enclave.auditlog import ensure_signing_key
from enclave.cli import _common, _demo
from enclave.disclosure.crypto import ensure_key_file
from enclave.registry import RegistryService
from enclave.runtime import ensure_pepper, write_private
from enclave.store import Database


def init(
    admin_name: str = typer.Option(
        "admin",
        "--admin-name",
        envvar="ENCLAVE_CLI_INIT_ADMIN_NAME",
        help="Name of the first operator (created only if none exists).",
    ),
    as_json: _common.JsonOutput = False,
) -> None:
    """Create the state directory, the database schema and the first operator. Idempotent."""
    settings = _common.settings()

    def run() -> dict[str, str | None]:
        settings.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        pepper = ensure_pepper(settings)
        log_key = ensure_signing_key(settings.log_key_path, settings.log_origin)
        if settings.disclosure.data_key is None:  # embargoed details' key (docs/disclosure.md)
            ensure_key_file(settings.disclosure_key_path)
        db = Database(settings.database_url)
        try:
            db.migrate()
            registry = RegistryService(store=db, settings=settings, pepper=pepper)
            token = None
            if not registry.has_operators():
                issued = registry.create_operator(None, name=admin_name, roles=["admin"])
                token = issued.token
                path = settings.operator_token_path
                if path.exists():
                    path.unlink()
                write_private(path, (token + "\n").encode("ascii"))
            demo_key = None
            if _demo.is_demo(settings):  # no provider configured: docs/gateway.md, demo mode
                demo_key = _demo.ensure_demo_key(registry, settings)
                if demo_key is not None:
                    _demo.fund_demo(db, registry, settings)  # the demo model is priced
        finally:
            db.close()
        return {
            "database": db.safe_url,
            "state_dir": str(settings.state_dir),
            "operator_token": token,
            "operator_token_file": str(settings.operator_token_path),
            "log_verifier_key": log_key.vkey,
            "demo_key_file": str(_demo.key_path(settings)) if demo_key else None,
        }

    result = _common.guarded(run)
    if as_json:
        _common.emit_json(result)
        return
    _common.out.print(f"database   {result['database']} (schema current)")
    _common.out.print(f"audit log  {result['log_verifier_key']} (verifier key; publish it)")
    _common.out.print(
        f"state dir  {result['state_dir']} (key pepper; keep it private and backed up)"
    )
    if result["demo_key_file"]:
        _common.out.print(
            f"demo       no provider configured; a demo key is in {result['demo_key_file']}"
        )
    if result["operator_token"]:
        _common.out.print("\nFirst operator created. Its admin-API token, shown once here:")
        _common.out.print(f"\n  {result['operator_token']}\n")
        _common.out.print(f"It is also saved (mode 0600) in {result['operator_token_file']}.")
        _common.out.print(
            f"For the operator console (/console), give it a password: "
            f"enclave operator set-password {admin_name}",
            markup=False,
        )
    else:
        _common.out.print(
            "operators  exist already; the first token was saved in "
            + str(result["operator_token_file"])
        )
