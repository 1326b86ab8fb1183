"""Running the `enclave` CLI in a test (imported by name: pytest puts tests/ on sys.path for
tests/conftest.py): a clean ENCLAVE_* environment, and an in-process invocation."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from enclave.cli.main import app


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_cli(*args: str, stdin: str | None = None, env: Mapping[str, str] | None = None) -> Result:
    """`enclave ARGS...` in this process (``env`` added to the environment for the call)."""
    done = CliRunner().invoke(app, list(args), input=stdin, env=env, catch_exceptions=False)
    return Result(done.exit_code, done.stdout, done.stderr)


def clean_env(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    db_url: str,
    *,
    cwd: Path | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Only our ENCLAVE_* variables (the database, a state dir below ``tmp_path``, and
    ``extra``), and the working directory ``cwd`` (made if missing; default ``tmp_path``),
    so no enclave.toml is picked up. Returns the variables set."""
    for name in list(os.environ):
        if name.startswith("ENCLAVE_"):
            monkeypatch.delenv(name)
    values = {"ENCLAVE_DATABASE_URL": db_url, "ENCLAVE_STATE_DIR": str(tmp_path / "state")}
    values.update(extra or {})
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    work = cwd or tmp_path
    work.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(work)
    return values
