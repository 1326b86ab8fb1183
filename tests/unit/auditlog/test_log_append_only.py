"""No code path updates or deletes log rows: the source has no such statement, and the
database refuses one anyway (migration 0002's triggers), on SQLite and PostgreSQL."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError

from enclave.auditlog import AuditLog, Signer
from enclave.events import Event
from enclave.store import Database
from enclave.store.auditlog_repo import SqlAuditLog
from enclave.store.engine import write_connection
from enclave.store.events_repo import SqlEvents
from enclave.store.tables import events, log_checkpoints, log_hashes, log_leaves

SRC = Path(__file__).resolve().parents[3] / "src" / "enclave"
REPO_MODULE = SRC / "store" / "auditlog_repo.py"
LOG_TABLES = ("events", "log_leaves", "log_hashes", "log_checkpoints")
_SQL_WRITE = re.compile(r"\b(UPDATE|DELETE|TRUNCATE|REPLACE|UPSERT)\b|ON\s+CONFLICT", re.I)


def violations(source: str, *, whole_module: bool) -> list[str]:
    """Update/delete constructs in ``source``: in the repository module any at all; in the
    rest of the code base those that name a log table."""
    found = []
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func_node = node.func
            name = (
                func_node.attr
                if isinstance(func_node, ast.Attribute)
                else getattr(func_node, "id", "")
            )
            if name in ("update", "delete", "on_conflict_do_update", "prefix_with"):
                args = [getattr(a, "id", getattr(a, "attr", "")) for a in node.args]
                if whole_module or any(a in LOG_TABLES for a in args):
                    found.append(f"line {node.lineno}: {name}({', '.join(args)})")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            if _SQL_WRITE.search(node.value) and (
                whole_module or any(t in node.value for t in LOG_TABLES)
            ):
                found.append(f"line {node.lineno}: SQL {node.value[:60]!r}")
    return found


def test_the_scanner_finds_what_it_looks_for() -> None:
    assert violations("conn.execute(update(log_leaves).values(x=1))", whole_module=False)
    assert violations("conn.execute(delete(events))", whole_module=False)
    assert violations("conn.execute(text('DELETE FROM log_hashes'))", whole_module=False)
    assert violations("x = 'update anything'", whole_module=True)
    assert not violations("conn.execute(update(api_keys))", whole_module=False)
    assert not violations('"""Never UPDATE or DELETE."""', whole_module=True)


def test_the_log_repository_only_inserts_and_selects() -> None:
    assert violations(REPO_MODULE.read_text(), whole_module=True) == []


def test_no_module_updates_or_deletes_log_rows() -> None:
    found = {}
    for path in SRC.rglob("*.py"):
        if "migrations" in path.parts:
            continue  # the guards themselves name UPDATE and DELETE
        hits = violations(path.read_text(), whole_module=False)
        if hits:
            found[str(path.relative_to(SRC))] = hits
    assert found == {}


def _seeded(db: Database) -> None:
    with write_connection(db.engine) as conn:
        at = datetime(2026, 11, 1, tzinfo=UTC)
        SqlEvents(conn).append_many([Event("t.x", "system", f"s{i}", at) for i in range(300)])
    AuditLog(store=SqlAuditLog(db.engine), signer=Signer.generate("t.example/log")).integrate()


def _counts(db: Database) -> list[int]:
    with db.engine.connect() as conn:
        return [
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (events, log_leaves, log_hashes, log_checkpoints)
        ]


def test_the_database_refuses_updates_deletes_and_truncation(db: Database) -> None:
    _seeded(db)
    before = _counts(db)
    # Unqualified DELETE is SQLite's truncate (its truncate optimisation is off when a
    # trigger exists); PostgreSQL has TRUNCATE, which row triggers would not see.
    truncate = "TRUNCATE {} CASCADE" if db.engine.dialect.name == "postgresql" else "DELETE FROM {}"
    statements = [
        update(events).values(kind="changed"),
        delete(events).where(events.c.seq == 5),
        update(log_leaves).values(leaf_hash=b"\x00" * 32),
        delete(log_leaves).where(log_leaves.c.idx == 299),
        update(log_hashes).values(hash=b"\x00" * 32),
        delete(log_hashes),
        update(log_checkpoints).values(note="forged"),
        delete(log_checkpoints).where(log_checkpoints.c.tree_size == 300),
        *(text(truncate.format(table)) for table in LOG_TABLES),
    ]
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(statement)
    assert _counts(db) == before
