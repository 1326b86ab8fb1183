"""Two real `enclave serve` processes on one database and one Redis (issue 4): one budget
and one rate limit hold across both, whatever each process's record of the balance says
(docs/credits.md, "Overlapped reservations"). The upstream is the fake one, on loopback.
On SQLite and on PostgreSQL (the ``db`` fixture)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from gateway_support import openai_error

from enclave.store import Database

pytestmark = pytest.mark.slow

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ENCLAVE = Path(sys.executable).with_name("enclave")
# Output-only price; the fake answers two tokens to max_tokens=2: a served request costs
# exactly its reservation, 1000 micro-credits.
BODY = orjson.dumps(
    {"model": "m", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}
)
COST = 1000
BUDGET = 20

_ORG_AND_KEY = """
import sys
from enclave.config import load_settings
from enclave.registry import KeyLimits
from enclave.runtime import open_runtime
from enclave.store.ledger_repo import open_credits
runtime = open_runtime(load_settings())
registry = runtime.registry
admin = registry.operator_for_cli(None)
name, amount, rpm = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
org, application = registry.create_org(admin, name=name, kind="public", tier="public")
registry.decide(admin, application.id, decision="approve", reason="test")
_, credits = open_credits(runtime.db, runtime.settings)
credits.fund(admin, pool="test", amount=amount, create=True)
credits.grant(admin, pool="test", org=org.id, amount=amount)
limits = KeyLimits(requests_per_minute=rpm) if rpm else KeyLimits()
print(registry.issue_key(admin, org.id, purposes=["general"], limits=limits).secret)
runtime.close()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"enclave serve exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)  # polling a process we do not control; not a synchronisation
    pytest.fail(f"enclave serve not ready: {log.read_text(errors='replace')[-2000:]}")


@pytest.fixture
def environment(db: Database, tmp_path: Path, upstream_server: tuple[str, Any]) -> dict[str, str]:
    config = tmp_path / "enclave.toml"
    config.write_text(
        f"""
[providers.fake]
kind = "openai"
base_url = "{upstream_server[0]}/v1"

[models.m.tiers.public]
provider = "fake"
variant = "fake-safeguarded"

[prices.fake-safeguarded]
input = 0
output = 500_000_000
max_output_tokens = 4096
""",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENCLAVE_")}
    env.update(
        ENCLAVE_CONFIG=str(config),
        ENCLAVE_DATABASE_URL=db.url,
        ENCLAVE_STATE_DIR=str(tmp_path / "state"),
        ENCLAVE_REDIS_URL=REDIS_URL,
    )
    subprocess.run([str(ENCLAVE), "init"], env=env, check=True, capture_output=True)
    return env


@pytest.fixture
def gateways(environment: dict[str, str], tmp_path: Path) -> Iterator[list[str]]:
    processes: list[subprocess.Popen[bytes]] = []
    urls = []
    try:
        for index in range(2):
            # Each node its own state directory (a server holds its pid file there), with
            # the same secrets in it (the key pepper, the log's signing key), as a
            # deployment of several nodes would share them.
            state = tmp_path / f"state-{index}"
            shutil.copytree(environment["ENCLAVE_STATE_DIR"], state)
            port = _free_port()
            log = tmp_path / f"serve-{index}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [str(ENCLAVE), "serve"],
                    env={**environment, "ENCLAVE_PORT": str(port), "ENCLAVE_STATE_DIR": str(state)},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            processes.append(process)
            url = f"http://127.0.0.1:{port}"
            _wait_ready(url, process, log)
            urls.append(url)
        yield urls
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)


def _org(environment: dict[str, str], name: str, amount: int, rpm: int = 0) -> str:
    return subprocess.run(
        [sys.executable, "-c", _ORG_AND_KEY, name, str(amount), str(rpm)],
        env=environment,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def _post(url: str, key: str) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    return httpx.post(f"{url}/v1/chat/completions", content=BODY, headers=headers, timeout=30)


def _cli(environment: dict[str, str], *args: str) -> Any:
    done = subprocess.run(
        [str(ENCLAVE), *args], env=environment, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return orjson.loads(done.stdout)


def test_one_budget_and_one_rate_limit_hold_across_two_gateway_processes(
    environment: dict[str, str], gateways: list[str], upstream: Any
) -> None:
    key = _org(environment, "Shared budget", BUDGET * COST)
    # Warm both processes' records of the balance first: from then on each believes it
    # may spend the whole balance, and only the database stops the second from doing so.
    assert _post(gateways[0], key).status_code == 200
    assert _post(gateways[1], key).status_code == 200
    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(lambda i: _post(gateways[i % 2], key), range(100)))
    served = [r for r in responses if r.status_code == 200]
    for refused in (r for r in responses if r.status_code != 200):
        openai_error(refused, 429, "insufficient_quota")
        assert b"echo" not in refused.content  # no answer leaks past a refused commit
    assert len(served) == BUDGET - 2
    assert len(upstream.requests) >= BUDGET
    # Settled or still settling, the balance is spent to the last credit and no further.
    balance = _cli(environment, "credits", "balance", "--org", "Shared budget", "--json")
    assert balance["account"]["available"] == 0
    assert _cli(environment, "credits", "check", "--json")["ok"] is True

    # The rate limit: three requests a minute for the key, counted in Redis by both.
    key = _org(environment, "Shared limit", 10**9, rpm=3)
    assert [_post(url, key).status_code for url in (gateways[0], gateways[1], gateways[0])] == [
        200,
        200,
        200,
    ]
    limited = _post(gateways[1], key)
    error = openai_error(limited, 429, "rate_limit_exceeded")
    assert "key requests" in error["message"]
    assert 1 <= int(limited.headers["retry-after"]) <= 60
