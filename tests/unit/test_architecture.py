"""The import graph of src/enclave, checked from the source text (ast, nothing imported).

Rules (STYLE.md, "Dependencies between parts"; DESIGN.md, "Packages"):

1. Domain packages import no web framework or server and no database driver or migration
   tool; `store/` implements the Protocols they declare. httpx is not on the list: it is
   an HTTP client, which a domain may need to reach the outside (notifications, webhooks).
2. Domain packages do not import the outer layers (cli, gateway, console, store, runtime,
   app): dependencies point inwards.
3. Nothing imports `enclave.app`; uvicorn loads it by name (composition root).
4. No star imports; no function-local imports except those listed in LOCAL_IMPORTS, each
   with its reason (optional extras only).
5. Migration scripts (store/migrations/versions) import nothing from enclave: a migration
   must keep working after the code it was written beside has changed.

Every package is a domain package unless it is listed in OUTER, so a package added later
is held to the strict rules until someone decides otherwise here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

# The outer layers and the composition root: they may use frameworks and drivers.
OUTER = frozenset({"cli", "gateway", "console", "store", "app", "runtime", "__main__"})

FRAMEWORKS = frozenset(
    {
        "fastapi",
        "starlette",
        "uvicorn",
        "h11",
        "httptools",
        "websockets",
        "sse_starlette",
        "multipart",
        "python_multipart",
    }
)
DRIVERS = frozenset(
    {"sqlalchemy", "alembic", "psycopg", "psycopg2", "asyncpg", "sqlite3", "redis", "aiosqlite"}
)

# (importing module, imported module) -> why a function-local import is right there.
LOCAL_IMPORTS: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. enclave.registry.service
    targets: tuple[str, ...]  # what it names: "pkg.mod" and, for from-imports, "pkg.mod.name"
    line: int
    local: bool  # inside a function body
    star: bool

    @property
    def where(self) -> str:
        return f"{self.module}:{self.line}"


def module_name(path: Path, root: Path = SRC) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, name: str, *, is_package: bool = False) -> Iterator[Import]:
    """Every import statement in a module's source, with relative imports resolved."""
    package = name if is_package else name.rpartition(".")[0]

    def visit(node: ast.AST, local: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            inner = local or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                targets = tuple(alias.name for alias in child.names)
                yield Import(name, targets, child.lineno, local, False)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (child.level - 1)]
                    base = ".".join([*anchor, *([child.module] if child.module else [])])
                names = [alias.name for alias in child.names]
                targets = (base, *(f"{base}.{n}" for n in names if n != "*"))
                yield Import(name, targets, child.lineno, local, "*" in names)
            yield from visit(child, inner)

    yield from visit(ast.parse(source), False)


def all_imports() -> list[Import]:
    found: list[Import] = []
    for path in sorted((SRC / "enclave").rglob("*.py")):
        found.extend(
            imports_of(
                path.read_text(encoding="utf-8"),
                module_name(path),
                is_package=path.name == "__init__.py",
            )
        )
    return found


def layer(module: str) -> str:
    """The package (or top-level module) a module belongs to: enclave.<layer>...."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def violations(found: list[Import]) -> list[str]:
    problems: list[str] = []
    used_local: set[tuple[str, str]] = set()
    for imp in found:
        roots = {t.split(".")[0] for t in imp.targets}
        if layer(imp.module) not in OUTER:
            for bad in sorted(roots & (FRAMEWORKS | DRIVERS)):
                kind = "web framework/server" if bad in FRAMEWORKS else "database driver"
                problems.append(f"{imp.where}: domain module imports {kind} {bad!r}")
            outer = [t for t in imp.targets if t.startswith("enclave.") and layer(t) in OUTER]
            if outer:
                problems.append(f"{imp.where}: domain module imports outer layer {outer[0]}")
        if any(t == "enclave.app" or t.startswith("enclave.app.") for t in imp.targets):
            problems.append(f"{imp.where}: imports enclave.app (nothing may; uvicorn loads it)")
        if imp.star:
            problems.append(f"{imp.where}: star import from {imp.targets[0]}")
        if imp.local:
            allowed = [(imp.module, t) for t in imp.targets if (imp.module, t) in LOCAL_IMPORTS]
            if allowed:
                used_local.update(allowed)
            else:
                problems.append(f"{imp.where}: function-local import of {imp.targets[0]}")
        if imp.module.startswith("enclave.store.migrations.versions.") and any(
            t == "enclave" or t.startswith("enclave.") for t in imp.targets
        ):
            problems.append(f"{imp.where}: a migration imports {imp.targets[0]}")
    problems.extend(
        f"LOCAL_IMPORTS entry {entry} matches no import any more: remove it"
        for entry in sorted(set(LOCAL_IMPORTS) - used_local)
    )
    return problems


def test_the_source_tree_keeps_the_rules() -> None:
    found = all_imports()
    assert len({imp.module for imp in found}) > 20, "the walk found too few modules"
    problems = violations(found)
    assert not problems, "import rules broken:\n" + "\n".join(problems)


def test_known_domain_packages_are_classified_as_domain() -> None:
    for package in ("registry", "events", "policy", "safeguards", "monitor", "ledger",
                    "auditlog", "disclosure", "reports", "config", "errors"):  # fmt: skip
        assert package not in OUTER


# -- the checker itself must catch each kind of violation ---------------------------------


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("enclave.registry.x", "import sqlalchemy.orm", "database driver 'sqlalchemy'"),
        ("enclave.newdomain.x", "from fastapi import FastAPI", "web framework/server 'fastapi'"),
        ("enclave.ledger.x", "from psycopg import sql", "database driver 'psycopg'"),
        ("enclave.policy.x", "import uvicorn", "web framework/server 'uvicorn'"),
        ("enclave.monitor.x", "from enclave.store import Database", "outer layer enclave.store"),
        ("enclave.monitor.x", "from ..store import tables", "outer layer enclave.store"),
        ("enclave.gateway.x", "from enclave import app", "imports enclave.app"),
        ("enclave.cli.x", "import enclave.app", "imports enclave.app"),
        ("enclave.store.x", "from enclave.registry import *", "star import"),
        ("enclave.cli.x", "def f():\n    import json\n", "function-local import of json"),
        ("enclave.cli.x", "async def f():\n    from os import path\n", "function-local"),
        ("enclave.store.migrations.versions.x", "from enclave.store import tables", "a migration"),
    ],
)
def test_the_checker_catches(module: str, source: str, expected: str) -> None:
    problems = violations(list(imports_of(source, module)))
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("enclave.store.x", "import sqlalchemy\nfrom enclave.registry import Organisation"),
        ("enclave.gateway.x", "from fastapi import FastAPI\nfrom enclave.runtime import Runtime"),
        ("enclave.registry.x", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
         "    from enclave.events import Event\n"),
        ("enclave.registry.x", "import httpx\nfrom enclave.errors import NotFound"),
        ("enclave.registry.x", "from . import interface\nfrom .interface import Role"),
    ],
)  # fmt: skip
def test_the_checker_allows(module: str, source: str) -> None:
    assert violations(list(imports_of(source, module))) == []


def test_relative_imports_resolve_against_the_package() -> None:
    (imp,) = imports_of("from ..events import Event", "enclave.registry.service")
    assert imp.targets == ("enclave.events", "enclave.events.Event")
    (imp,) = imports_of("from .service import X", "enclave.registry", is_package=True)
    assert imp.targets[0] == "enclave.registry.service"
