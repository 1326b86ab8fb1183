"""The public log over real HTTP (uvicorn on 127.0.0.1, the app's lifespan running the
background integrator), on SQLite and PostgreSQL; and a witness following it by URL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from auditlog_world import World
from typer.testing import CliRunner

from enclave.app import build_app
from enclave.auditlog import (
    AuditLog,
    Signer,
    check_consistency,
    check_inclusion,
    ensure_signing_key,
    load_signer,
    parse_consistency,
    parse_inclusion,
)
from enclave.auditlog.merkle import leaf_hash, root_of
from enclave.auditlog.tiles import decode_bundle, split_hashes
from enclave.cli.main import app as cli
from enclave.config import Settings
from enclave.registry import RegistryService
from enclave.runtime import Runtime
from enclave.store import Database
from enclave.store.auditlog_repo import SqlAuditLog
from serving import serve


@dataclass
class Served:
    url: str
    http: httpx.Client
    world: World

    def wait_for_size(self, size: int) -> str:
        """The checkpoint once the background integrator has reached ``size``."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            response = self.http.get("/log/checkpoint")
            if response.status_code == 200 and response.text.split("\n")[1] == str(size):
                return response.text
            time.sleep(0.02)  # polling a condition, with a deadline
        raise AssertionError(f"the log never reached size {size}")


@pytest.fixture
def served(db: Database, settings: Settings, registry: RegistryService) -> Iterator[Served]:
    settings = settings.model_copy(update={"log_integrate_seconds": 0.02})
    ensure_signing_key(settings.log_key_path, settings.log_origin)
    signer = load_signer(settings.log_key_path)
    app = build_app(Runtime(settings=settings, db=db, registry=registry))
    world = World(db=db, signer=signer, log=AuditLog(store=SqlAuditLog(db.engine), signer=signer))
    with serve(app, lifespan="auto") as url, httpx.Client(base_url=url, timeout=30) as http:
        yield Served(url=url, http=http, world=world)


def test_tiles_follow_the_background_integrator(served: Served) -> None:
    served.world.append(300)
    note = served.wait_for_size(300)
    response = served.http.get("/log/checkpoint")
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["cache-control"] == "no-cache"
    assert note.startswith("enclave.localhost/log\n300\n")

    full = served.http.get("/log/tile/0/000")
    assert full.status_code == 200 and len(full.content) == 256 * 32
    assert full.headers["cache-control"] == "public, max-age=31536000, immutable"
    partial = split_hashes(served.http.get("/log/tile/0/001.p/44").content)
    assert len(partial) == 44
    level1 = served.http.get("/log/tile/1/000.p/1").content
    assert level1 == root_of(split_hashes(full.content))
    bundle = decode_bundle(served.http.get("/log/tile/entries/001.p/44").content)
    assert [leaf_hash(entry) for entry in bundle] == partial
    assert decode_bundle(served.http.get("/log/tile/entries/000").content)[0].startswith(b"{")

    missing = served.http.get("/log/tile/0/001")  # not full yet
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["code"] == "audit_log_not_found"


def test_proof_endpoints_check_with_the_public_key(served: Served) -> None:
    served.world.append(12)
    served.wait_for_size(12)
    old_note = served.http.get("/log/checkpoint").text
    served.world.append(9)
    served.wait_for_size(21)
    verifier = served.world.signer.verifier

    inclusion = served.http.get("/log/proof/inclusion", params={"index": 5})
    assert inclusion.status_code == 200
    assert check_inclusion(parse_inclusion(inclusion.json()), verifier).size == 21
    older = served.http.get("/log/proof/inclusion", params={"index": 5, "tree_size": 12}).json()
    assert older["tree_size"] == 12 and older["checkpoint"] == old_note
    consistency = served.http.get("/log/proof/consistency", params={"old_size": 12})
    assert check_consistency(parse_consistency(consistency.json()), verifier, old_note).size == 21


BAD_REQUESTS = [
    ("/log/proof/inclusion", 400, "index is required"),
    ("/log/proof/inclusion?index=abc", 400, "non-negative integer"),
    ("/log/proof/inclusion?index=-1", 400, "non-negative integer"),
    ("/log/proof/inclusion?index=3", 400, "outside the tree"),
    ("/log/proof/inclusion?index=0&tree_size=9", 400, "not covered"),
    ("/log/proof/consistency", 400, "old_size is required"),
    ("/log/proof/consistency?old_size=0", 400, "0 < old size"),
    ("/log/tile/64/000.p/1", 400, "tile level"),
    ("/log/tile/x/000", 400, "tile level"),
    ("/log/tile/0/0001", 400, "tile index path"),
    ("/log/tile/0/000.p/0", 400, "partial tile width"),
    ("/log/tile/0/000.p/4", 404, "does not exist yet"),
    ("/log/tile/entries/001.p/1", 404, "does not exist yet"),
]


def test_bad_requests_get_problems_and_change_nothing(served: Served) -> None:
    served.world.append(3)
    before = served.wait_for_size(3)
    for path, status, match in BAD_REQUESTS:
        response = served.http.get(path)
        assert response.status_code == status, path
        assert response.headers["content-type"] == "application/problem+json", path
        assert match in response.json()["detail"], path
    assert served.http.get("/log/checkpoint").text == before


def _witness(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["audit", "witness", *args], catch_exceptions=False)
    return result.exit_code, result.stdout + result.stderr


def test_a_witness_follows_the_log_by_url(served: Served, tmp_path: Path) -> None:
    vkey = served.world.signer.verifier.vkey
    state = tmp_path / "witness" / "latest"
    url = served.url + "/log/checkpoint"
    served.world.append(5)
    served.wait_for_size(5)
    code, out = _witness("--vkey", vkey, "--state", str(state), "--checkpoint-url", url)
    assert code == 0 and "first checkpoint accepted (size 5)" in out
    served.world.append(600)  # crosses two level-0 tiles: proofs come from full tiles
    served.wait_for_size(605)
    code, out = _witness("--vkey", vkey, "--state", str(state), "--checkpoint-url", url)
    assert code == 0 and "consistent: size 5 -> 605" in out
    code, out = _witness("--vkey", vkey, "--state", str(state), "--checkpoint-url", url)
    assert code == 0 and "unchanged: size 605" in out


def test_a_witness_refuses_another_history_and_going_backwards(
    served: Served, tmp_path: Path
) -> None:
    signer = served.world.signer
    vkey, url = signer.verifier.vkey, served.url + "/log/checkpoint"
    served.world.append(20)
    served.wait_for_size(20)
    # What the witness saw before: a size-10 tree with other entries, signed by the same key
    # (the log showed it a different history).
    other = _other_history(tmp_path, signer, 10)
    state = tmp_path / "witness-state.txt"
    state.write_text(other, encoding="utf-8")
    code, out = _witness("--vkey", vkey, "--state", str(state), "--checkpoint-url", url)
    assert code == 5 and "old root" in out
    assert state.read_text(encoding="utf-8") == other  # state unchanged
    # What the witness saw before: a larger tree. The log now shows a smaller one.
    bigger = _other_history(tmp_path, signer, 30)
    state.write_text(bigger, encoding="utf-8")
    code, out = _witness("--vkey", vkey, "--state", str(state), "--checkpoint-url", url)
    assert code == 5 and "refusing to go backwards" in out
    code, out = _witness("--vkey", "not-a-key", "--state", str(state), "--checkpoint-url", url)
    assert code == 2 and "verifier key" in out
    code, out = _witness(
        "--vkey", vkey, "--state", str(state), "--checkpoint-url", served.url + "/nope"
    )
    assert code == 2 and "HTTP 404" in out
    assert state.read_text(encoding="utf-8") == bigger


def _other_history(tmp_path: Path, signer: Signer, size: int) -> str:
    db = Database(f"sqlite:///{tmp_path / f'other-{size}.db'}")
    db.migrate()
    try:
        world = World(
            db=db, signer=signer, log=AuditLog(store=SqlAuditLog(db.engine), signer=signer)
        )
        world.append(size, kind="other.history")
        world.log.integrate()
        return world.log.latest_checkpoint().note
    finally:
        db.close()
