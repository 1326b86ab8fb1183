"""`enclave db`: the schema's migration state.

`enclave init` migrates too; `db upgrade` is for upgrades of an existing installation
(run it after installing a new version, before `enclave serve`). `db status` exits 0 only
when the schema is current, so deploy scripts can gate on it (as `alembic check` does).
"""

from __future__ import annotations

import typer

from enclave.cli import _common
from enclave.errors import StoreError
from enclave.store import Database

app = typer.Typer(help="Database schema: migrate and inspect.", no_args_is_help=True)


def _state(db: Database) -> dict[str, object]:
    current, head = db.revisions()
    return {
        "database": db.safe_url,
        "backend": db.engine.dialect.name,
        "revision": current,
        "head": head,
        "current": current == head,
    }


@app.command("upgrade")
def upgrade(as_json: _common.JsonOutput = False) -> None:
    """Apply every pending migration (idempotent)."""
    settings = _common.settings()

    def run() -> dict[str, object]:
        db = Database(settings.database_url)
        try:
            before = db.revisions()[0]
            db.migrate()
            return {**_state(db), "previous": before}
        finally:
            db.close()

    state = _common.guarded(run)
    if as_json:
        _common.emit_json(state)
        return
    if state["previous"] == state["revision"]:
        _common.out.print(f"{state['database']}: already at {state['revision']}", markup=False)
    else:
        _common.out.print(
            f"{state['database']}: migrated {state['previous'] or '(empty)'} -> "
            f"{state['revision']}",
            markup=False,
        )


@app.command("status")
def status(as_json: _common.JsonOutput = False) -> None:
    """Show the schema revision; exit 6 when migrations are pending."""
    settings = _common.settings()

    def run() -> dict[str, object]:
        db = Database(settings.database_url)
        try:
            return _state(db)
        finally:
            db.close()

    state = _common.guarded(run)
    if as_json:
        _common.emit_json(state)
    else:
        _common.fields(
            [
                ("database", state["database"]),
                ("backend", state["backend"]),
                ("revision", state["revision"] or "(none: not initialised)"),
                ("head", state["head"]),
            ]
        )
    if not state["current"]:
        _common.fail(
            StoreError(
                "the schema is not current",
                hint="run `enclave db upgrade` (or `enclave init` on a new installation)",
            )
        )


__all__ = ["app"]
