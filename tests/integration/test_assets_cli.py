"""`enclave asset` against a real database (SQLite and PostgreSQL) and a local git
repository: claim, challenge (printing what to publish), verify, scope a key, attest with
four-eyes, revoke; every failure a clear message and exit code."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli_support import clean_env
from enclave.cli.main import app
from enclave.config import load_settings
from enclave.runtime import Runtime, open_runtime


class Cli:
    def __call__(self, *args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(app, list(args), catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    def json(self, *args: str) -> Any:
        code, out, err = self(*args, "--json")
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
def world(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    extra = {
        "ENCLAVE_ASSETS__GIT_PROTOCOLS": '["file"]',
        # Nothing listens here: DNS-based checks fail fast with a clear outcome.
        "ENCLAVE_ASSETS__RESOLVERS": '["127.0.0.1:9"]',
        "ENCLAVE_ASSETS__TIMEOUT_SECONDS": "0.5",
    }
    env = clean_env(monkeypatch, tmp_path, db_url, extra=extra)
    assert Cli()("init")[0] == 0
    rt = open_runtime(load_settings(environ=env))
    reg = rt.registry
    admin = reg.operator_for_cli(None)
    reg.create_operator(admin, name="alice", roles=["reviewer"])
    reg.create_operator(admin, name="audrey", roles=["auditor"])
    for name in ("Acme", "Beta"):
        _, application = reg.create_org(admin, name=name, kind="partner", tier="partner")
        reg.decide(admin, application.id, decision="approve", reason="first")
        alice = reg.operator_for_cli("alice")
        reg.decide(alice, application.id, decision="approve", reason="second")
    yield rt
    rt.close()


def commit(root: Path, files: dict[str, str]) -> None:
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t"]
    if not root.exists():
        root.mkdir()
        subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "c"], check=True)


def test_repo_file_flow_and_key_scope(world: Runtime, tmp_path: Path) -> None:
    cli = Cli()
    repo = tmp_path / "app"
    commit(repo, {"README": "hello"})
    asset = cli.json("asset", "add", "--org", "Acme", "--kind", "repo", "--value", repo.as_uri())
    assert asset["state"] == "pending" and asset["kind"] == "repo"

    code, out, _ = cli("asset", "challenge", asset["id"], "--method", "repo-file")
    assert code == 0
    shown = cli.json("asset", "show", asset["id"])
    key_auth = shown["publish"]["content"]
    assert key_auth.startswith(shown["asset"]["challenge"]["token"] + ".")
    assert ".well-known/enclave-challenge" in out and key_auth in out  # exactly what to commit

    code, _, err = cli("asset", "verify", asset["id"])
    assert code == 5 and "missing" in err and "Traceback" not in err
    commit(repo, {".well-known/enclave-challenge": key_auth + "\n"})
    done = cli.json("asset", "verify", asset["id"])
    assert done["state"] == "verified" and done["verification"]["method"] == "repo-file"
    assert [a["id"] for a in cli.json("asset", "list", "--org", "Acme", "--as", "audrey")] == [
        asset["id"]
    ]

    key = cli.json("key", "issue", "--org", "Acme", "--purpose", "general", "--scope", asset["id"])
    assert key["key"]["scope"] == [asset["id"]]
    code, _, err = cli("key", "issue", "--org", "Beta", "--purpose", "general",
                       "--scope", asset["id"])  # fmt: skip
    assert code == 2 and "belongs to another organisation" in err
    assert world.assets is not None
    principal = world.registry.authenticate(key["secret"])
    assert world.assets.scope_entries_for_key(principal.key) == (f"repo:{repo.as_uri()}",)

    gone = cli.json("asset", "revoke", asset["id"], "--reason", "archived")
    assert gone["state"] == "revoked"
    assert world.registry.authenticate(key["secret"]).key.scope == ()


def test_attestation_four_eyes_and_clear_failures(world: Runtime) -> None:
    cli = Cli()
    host = cli.json("asset", "add", "--org", "Acme", "--kind", "host", "--value", "10.9.0.0/16")
    code, _, err = cli("asset", "verify", host["id"])
    assert code == 5 and "not_covered" in err and "attest" in err
    cli.json("asset", "attest", host["id"], "--reason", "lab network, contract 42")
    code, _, err = cli("asset", "approve", host["id"], "--reason", "self")
    assert code == 5 and "different operator" in err
    done = cli.json("asset", "approve", host["id"], "--reason", "checked", "--as", "alice")
    assert done["state"] == "verified"

    domain = cli.json("asset", "add", "--org", "Acme", "--kind", "domain", "--value", "a.example")
    code, out, _ = cli("asset", "challenge", domain["id"], "--method", "dns-01")
    assert code == 0 and "_enclave-challenge.a.example. 300 IN TXT" in out
    code, _, err = cli("asset", "verify", domain["id"])
    assert code == 5 and "unreachable" in err

    for args, exit_code, message in (
        (("asset", "add", "--org", "Acme", "--kind", "moon", "--value", "x"), 2, "unknown"),
        (("asset", "add", "--org", "Acme", "--kind", "repo", "--value", "ext::sh"), 2, "git URL"),
        (("asset", "show", "ast_none"), 4, "unknown asset"),
        (("asset", "challenge", host["id"], "--method", "dns-01"), 2, "cannot prove a host"),
        (("asset", "revoke", host["id"], "--reason", "x", "--as", "audrey"), 3, "needs role"),
    ):
        code, _, err = cli(*args)
        assert code == exit_code and message in err, (args, err)
