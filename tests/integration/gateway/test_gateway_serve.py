"""`enclave init` + `enclave serve` as `make run` runs them, in demo mode: the printed curl
and Python snippets work, SIGHUP reloads policies (a broken file keeps the old ones),
and SIGTERM shuts down without losing an event."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from enclave.policy import default_directory, signal_server

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    env: dict[str, str]
    cwd: Path
    state: Path
    db: Path
    policies: Path
    url: str
    output: str
    process: subprocess.Popen[str]


def _enclave(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "enclave"), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@dataclass
class Initialised:
    env: dict[str, str]
    cwd: Path
    state: Path
    db: Path
    policies: Path
    url: str


@pytest.fixture
def initialised(tmp_path: Path) -> Initialised:
    port = _free_port()
    policies = tmp_path / "policies"
    shutil.copytree(default_directory(), policies)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENCLAVE_")}
    env.update(
        ENCLAVE_DATABASE_URL=f"sqlite:///{tmp_path / 'enclave.db'}",
        ENCLAVE_STATE_DIR=str(tmp_path / "state"),
        ENCLAVE_PORT=str(port),
        ENCLAVE_POLICY_DIR=str(policies),
    )
    init = _enclave(env, tmp_path, "init")
    assert init.returncode == 0, init.stderr
    assert "demo key" in init.stdout
    return Initialised(
        env,
        tmp_path,
        tmp_path / "state",
        tmp_path / "enclave.db",
        policies,
        f"http://127.0.0.1:{port}",
    )


@pytest.fixture
def served(initialised: Initialised) -> Iterator[Served]:
    process = subprocess.Popen(
        [str(BIN / "enclave"), "serve"],
        env=initialised.env,
        cwd=initialised.cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = initialised.url
    try:
        deadline = time.monotonic() + 60
        while True:  # readiness of another process: poll /healthz until it answers
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "enclave serve did not start"
                time.sleep(0.05)
        output = ""
        assert process.stdout is not None
        while "print(reply" not in output:  # the snippets are printed before uvicorn starts
            output += process.stdout.readline()
        yield Served(
            initialised.env,
            initialised.cwd,
            initialised.state,
            initialised.db,
            initialised.policies,
            url,
            output,
            process,
        )
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


def _snippet(output: str, start: str, end: str) -> str:
    text = output[output.index(start) :]
    return text[: text.index(end) + len(end)]


def _events(db: Path, kind: str) -> list[dict[str, object]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT data FROM events WHERE kind = ? ORDER BY seq", (kind,))
        return [json.loads(row[0]) for row in rows]


def test_make_run_demo_end_to_end(served: Served) -> None:
    key_file = served.state / "demo-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert key in served.output

    # The demo organisation was approved by the bootstrap operator, with the reason.
    approvals = _events(served.db, "application.approved")
    assert [a["reason"] for a in approvals] == ["demo mode"]

    curl = _snippet(served.output, "curl ", "}]}'")
    answer = subprocess.run(
        ["bash", "-c", curl], capture_output=True, text=True, timeout=60, check=True
    )
    reply = json.loads(answer.stdout)
    assert reply["model"] == "demo" and reply["choices"][0]["message"]["content"]

    python = _snippet(served.output, "python3 -c '", ".content)'")
    python = python.replace("python3", sys.executable, 1)
    answer = subprocess.run(
        ["bash", "-c", python], capture_output=True, text=True, timeout=60, check=True
    )
    assert "demo model" in answer.stdout

    # SIGHUP with a broken policy file: the old policies stay in force.
    (served.policies / "broken.cedar").write_text("permit (principal, action, resource")
    status = signal_server(served.state)
    assert status is not None and status["kind"] == "policy.reload_failed"
    assert "broken.cedar" in json.dumps(status["data"])
    again = subprocess.run(
        ["bash", "-c", curl], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(again.stdout)["model"] == "demo"

    # SIGTERM: a clean shutdown writes every queued event.
    served.process.send_signal(signal.SIGTERM)
    # uvicorn shuts down cleanly, then re-raises the signal it caught (uvicorn.server
    # capture_signals), so the exit status is the signal's.
    assert served.process.wait(timeout=60) in (0, -signal.SIGTERM)
    assert "Traceback" not in (served.process.stdout.read() if served.process.stdout else "")
    requests = _events(served.db, "gateway.request")
    assert len(requests) == 3
    assert {r["outcome"] for r in requests} == {"ok"}
    assert [e["error"] is not None for e in _events(served.db, "policy.reload_failed")] == [True]


def test_init_is_idempotent_in_demo_mode(initialised: Initialised) -> None:
    key = (initialised.state / "demo-key").read_text()
    again = _enclave(initialised.env, initialised.cwd, "init")
    assert again.returncode == 0, again.stderr
    assert (initialised.state / "demo-key").read_text() == key
    assert len(_events(initialised.db, "org.created")) == 1
