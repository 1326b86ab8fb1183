"""`enclave audit` and `enclave init`'s log key, on SQLite and PostgreSQL (CliRunner:
the code below `main()`, in process)."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from auditlog_world import World, as_insider
from typer.testing import CliRunner

from enclave.auditlog import AuditLog, Signer, load_signer
from enclave.cli.main import app
from enclave.store import Database
from enclave.store.auditlog_repo import SqlAuditLog


class Cli:
    def __init__(self, state: Path) -> None:
        self.state = state

    def __call__(self, *args: str, ok: bool = True) -> Any:
        result = CliRunner().invoke(app, list(args), catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.stdout + result.stderr
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self("audit", *args).stdout)


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    for name in list(os.environ):
        if name.startswith("ENCLAVE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ENCLAVE_DATABASE_URL", db_url)
    monkeypatch.setenv("ENCLAVE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    runner = Cli(tmp_path / "state")
    runner("init")
    return runner


@pytest.fixture
def world(cli: Cli, db_url: str) -> Iterator[World]:
    db = Database(db_url)
    signer = load_signer(cli.state / "log-signing.key")
    world = World(db=db, signer=signer, log=AuditLog(store=SqlAuditLog(db.engine), signer=signer))
    world.append(30)
    yield world
    db.close()


def test_init_creates_the_private_log_key_once(cli: Cli) -> None:
    key = cli.state / "log-signing.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().startswith("PRIVATE+KEY+enclave.localhost/log+")
    vkey = cli("audit", "export-key").stdout.strip()
    assert vkey == load_signer(key).verifier.vkey
    cli("init")
    assert cli("audit", "export-key").stdout.strip() == vkey  # never replaced


def test_integrate_verify_prove_and_check(cli: Cli, world: World, tmp_path: Path) -> None:
    n = world.count_events()  # init's events and the world's 30
    assert cli.json("integrate", "--batch", "8", "--json") == {"integrated": n, "tree_size": n}
    old = tmp_path / "old.txt"
    old.write_text(cli("audit", "checkpoint").stdout, encoding="utf-8")
    world.append(5)
    cli("audit", "integrate")
    verified = cli("audit", "verify", "--checkpoint", str(old))
    sizes = [*range(8, n, 8), n, n + 5]
    assert f"checkpoints checked: {', '.join(map(str, sizes))}" in verified.stdout
    vkey = cli("audit", "export-key").stdout.strip()

    proof = tmp_path / "proof.json"
    proof.write_text(cli("audit", "prove", "--index", "7").stdout)
    checked = cli("audit", "check-proof", str(proof), "--vkey", vkey)
    assert f"ok: entry 7 is in the tree of size {n + 5}" in checked.stdout
    consistency = tmp_path / "consistency.json"
    consistency.write_text(cli("audit", "consistency", "--old", str(old)).stdout)
    checked = cli("audit", "check-proof", str(consistency), "--vkey", vkey, "--old", str(old))
    assert "extends the one in" in checked.stdout

    # A witness fed files: the first checkpoint, then the new one with its proof.
    state = tmp_path / "witness.txt"
    new = tmp_path / "new.txt"
    new.write_text(cli("audit", "checkpoint").stdout, encoding="utf-8")
    cli("audit", "witness", "--vkey", vkey, "--state", str(state), "--checkpoint", str(old))
    done = cli(
        "audit", "witness", "--vkey", vkey, "--state", str(state),
        "--checkpoint", str(new), "--proof", str(consistency),
    )  # fmt: skip
    assert f"consistent: size {n} -> {n + 5}" in done.stdout
    back = cli(
        "audit",
        "witness",
        "--vkey",
        vkey,
        "--state",
        str(state),
        "--checkpoint",
        str(old),
        ok=False,
    )
    assert back.exit_code == 5 and "refusing to go backwards" in back.stderr


def test_verify_names_the_first_bad_index_and_exits_5(cli: Cli, world: World) -> None:
    cli("audit", "integrate")
    as_insider(world.db, "UPDATE events SET kind = 'x' WHERE seq = :s", s=world.seq_of(17))
    result = cli("audit", "verify", ok=False)
    assert result.exit_code == 5
    assert "entry_changed: index 17:" in result.stderr
    assert "first bad index 17" in result.stderr
    report = json.loads(cli("audit", "verify", "--json", ok=False).stdout)
    assert report["ok"] is False and report["first_bad_index"] == 17
    assert report["problems"][0] == {
        "kind": "entry_changed",
        "index": 17,
        "exact": True,
        "detail": f"the events row (seq {world.seq_of(17)}) no longer matches its leaf hash",
    }


def test_a_proof_does_not_check_against_another_key(cli: Cli, world: World, tmp_path: Path) -> None:
    cli("audit", "integrate")
    proof = tmp_path / "proof.json"
    proof.write_text(cli("audit", "prove", "--index", "0").stdout)
    other = "enclave.localhost/log+00000000+" + base64.b64encode(b"\x01" + b"k" * 32).decode()
    result = cli("audit", "check-proof", str(proof), "--vkey", other, ok=False)
    assert result.exit_code == 2 and "key id does not match" in result.stderr
    stranger = Signer.generate("enclave.localhost/log").verifier.vkey
    result = cli("audit", "check-proof", str(proof), "--vkey", stranger, ok=False)
    assert result.exit_code == 5 and "no valid signature" in result.stderr


def test_bad_input_gets_a_clear_error_and_changes_nothing(
    cli: Cli, world: World, tmp_path: Path
) -> None:
    cli("audit", "integrate")
    before = cli("audit", "checkpoint").stdout
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("not a checkpoint\n")
    vkey = cli("audit", "export-key").stdout.strip()
    cases = [
        (("audit", "prove", "--index", "99"), 2, "outside the tree"),
        (("audit", "prove", "--index", "0", "--size", "99"), 2, "not covered"),
        (("audit", "verify", "--checkpoint", str(tmp_path / "absent")), 2, "cannot read"),
        (("audit", "consistency", "--old", str(garbage)), 2, "malformed signed note"),
        (("audit", "check-proof", str(garbage), "--vkey", vkey), 2, "not JSON"),
        (("audit", "witness", "--vkey", "bad", "--state", str(tmp_path / "w")), 2, "verifier key"),
    ]
    for args, code, match in cases:
        result = cli(*args, ok=False)
        assert result.exit_code == code, (args, result.stderr)
        assert match in result.stderr, (args, result.stderr)
    both = cli("audit", "witness", "--vkey", vkey, "--state", str(tmp_path / "w"), ok=False)
    assert both.exit_code == 2 and "exactly one of" in both.stderr
    assert cli("audit", "checkpoint").stdout == before
    assert not (tmp_path / "w").exists()


def test_the_signer_will_not_sign_history_the_database_forgot(cli: Cli, world: World) -> None:
    cli("audit", "integrate")
    last = cli.state / "log-signing.key.last"
    assert stat.S_IMODE(last.stat().st_mode) == 0o600
    assert last.read_text(encoding="utf-8") == cli("audit", "checkpoint").stdout
    as_insider(
        world.db,
        "UPDATE events SET kind = 'x' WHERE seq = :s",
        "DELETE FROM log_leaves WHERE idx >= 3",
        "DELETE FROM log_hashes",
        "DELETE FROM log_checkpoints",
        s=world.seq_of(3),
    )
    result = cli("audit", "integrate", ok=False)
    assert result.exit_code == 5
    assert "refusing to sign" in result.stderr and "not consistent" in result.stderr


def test_integrate_without_the_key_file_is_a_configuration_error(
    cli: Cli, world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ENCLAVE_LOG_SIGNING_KEY", str(tmp_path / "absent.key"))
    result = cli("audit", "integrate", ok=False)
    assert result.exit_code == 2
    assert "absent.key is missing" in result.stderr and "enclave init" in result.stderr
    monkeypatch.delenv("ENCLAVE_LOG_SIGNING_KEY")
    monkeypatch.setenv("ENCLAVE_LOG_ORIGIN", "other.example/log")
    result = cli("audit", "integrate", ok=False)
    assert result.exit_code == 2 and "differs from the signing key's name" in result.stderr
