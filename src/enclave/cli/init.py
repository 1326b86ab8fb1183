"""`enclave init`: state directory, key pepper, database schema, first operator."""

from __future__ import annotations

import typer

from enclave.cli import _common
from enclave.registry import RegistryService
from enclave.runtime import ensure_pepper, write_private
from enclave.store import Database


def init(
    admin_name: str = typer.Option(
        "admin",
        "--admin-name",
        envvar="ENCLAVE_INIT_ADMIN_NAME",
        help="Name of the first operator (created only if none exists).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Create the state directory, the database schema and the first operator. Idempotent."""
    settings = _common.settings()

    def run() -> dict[str, str | None]:
        settings.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        pepper = ensure_pepper(settings)
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
        finally:
            db.close()
        return {
            "database": db.safe_url,
            "state_dir": str(settings.state_dir),
            "operator_token": token,
            "operator_token_file": str(settings.operator_token_path),
        }

    result = _common.guarded(run)
    if as_json:
        _common.emit_json(result)
        return
    _common.out.print(f"database   {result['database']} (schema current)")
    _common.out.print(
        f"state dir  {result['state_dir']} (key pepper; keep it private and backed up)"
    )
    if result["operator_token"]:
        _common.out.print("\nFirst operator created. Its admin-API token, shown once here:")
        _common.out.print(f"\n  {result['operator_token']}\n")
        _common.out.print(f"It is also saved (mode 0600) in {result['operator_token_file']}.")
    else:
        _common.out.print(
            "operators  exist already; the first token was saved in "
            + str(result["operator_token_file"])
        )
