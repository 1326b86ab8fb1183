"""The README tells the truth: its generated blocks are current and its example runs."""

from __future__ import annotations

import importlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from enclave import errors
from enclave.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_generated_blocks_match_the_code() -> None:
    """`enclave --help` and the settings table, regenerated and compared."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "readme_help.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _example_commands() -> list[list[str]]:
    block = re.search(r"```console\n(.*?)```", README, re.DOTALL)
    assert block is not None, "README has no ```console example"
    joined = block.group(1).replace("\\\n", " ")
    return [shlex.split(line[2:]) for line in joined.splitlines() if line.startswith("$ ")]


def test_the_example_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("ENCLAVE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ENCLAVE_DATABASE_URL", f"sqlite:///{tmp_path / 'enclave.db'}")
    monkeypatch.setenv("ENCLAVE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    commands = _example_commands()
    assert [c[:3] for c in commands][-1] == ["enclave", "key", "issue"]
    for command in commands:
        assert command[0] == "enclave"
        result = runner.invoke(app, command[1:])
        assert result.exit_code == 0, (command, result.output)
    assert re.search(r"^  enc_[a-z2-9]{12}_\S{43}$", result.stdout, re.MULTILINE)
    assert "Shown once" in result.stdout


def test_every_exit_code_is_documented() -> None:
    """The README's table lists the codes of errors.py and of the CLI's docstring."""
    codes = {0, 1} | {
        cls.exit_code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.EnclaveError)
    }
    # enclave.cli re-exports a function named `main`, which shadows the module attribute.
    doc = importlib.import_module("enclave.cli.main").__doc__
    assert doc is not None
    sentence = doc.split("Exit codes:", 1)[1].split("(see", 1)[0]
    codes |= {int(code) for code in re.findall(r"(?:^|,)\s*(\d+) ", sentence)}
    assert {2, 6} <= codes
    table = README.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(m) for m in re.findall(r"^\| (\d+) \|", table, re.MULTILINE)}
    assert documented == codes
