"""The ledger across real OS processes: two worker processes (tests/integration/
ledger_worker.py, which calls the ledger as a gateway worker does) share one budget on one
database and one rate limit in one Redis; and a process killed with SIGKILL in the middle
of a streamed response leaves a reservation that the sweeper reconciles from the usage it
recorded, charging it exactly once. Two real `enclave serve` processes doing the same:
tests/integration/gateway/test_two_gateways.py."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from ledger_worker import STREAM_USAGE

from enclave.clock import utcnow
from enclave.config import Settings
from enclave.ledger import PendingResolved, TransferId, usage_cost
from enclave.ledger.pricing import price_ref
from enclave.registry import Operator, Organisation, RegistryService
from enclave.store import Database
from enclave.store.ledger_repo import open_credits

WORKER = Path(__file__).with_name("ledger_worker.py")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
M = 1_000_000
PRICES = {
    "m-large": {
        "input": 3_000_000,
        "output": 15_000_000,
        "max_output_tokens": 8192,
    }
}

pytestmark = pytest.mark.slow


@pytest.fixture
def funded(db: Database, settings: Settings) -> tuple[Settings, Organisation, Operator]:
    """A maintainer organisation with 50 credits; real clock (the workers use one)."""
    cfg = settings.model_copy(update={"prices": {}})
    registry = RegistryService(store=db, settings=cfg, pepper=b"p" * 32)
    admin = registry.create_operator(None, name="root", roles=["admin"]).operator
    second = registry.create_operator(admin, name="rev", roles=["reviewer"]).operator
    org, app = registry.create_org(admin, name="racer", kind="maintainer", tier="maintainer")
    registry.decide(admin, app.id, decision="approve", reason="ok")
    org = registry.decide(second, app.id, decision="approve", reason="ok")[1]
    _, credits = open_credits(db, cfg)
    credits.fund(admin, pool="oss", amount=50 * M, create=True)
    credits.grant(admin, pool="oss", org=org.id, amount=50 * M)
    return cfg, org, admin


def _env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENCLAVE_")}
    env.update(
        ENCLAVE_DATABASE_URL=settings.database_url,
        ENCLAVE_PRICES=json.dumps(PRICES),
        ENCLAVE_REDIS_URL=REDIS_URL,
        ENCLAVE_CONFIG=str(_empty_config(tmp_path)),
    )
    return env


def _empty_config(tmp_path: Path) -> Path:
    path = tmp_path / "worker.toml"
    path.write_text("", encoding="utf-8")
    return path


def _start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        _, err = proc.communicate(timeout=30)
        pytest.fail(f"worker did not start: {line!r}\n{err}")
    return proc


def _run_together(procs: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def _redis_or_skip() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI", "").lower() == "true":
            raise
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")


def test_two_processes_share_one_budget(db, funded, tmp_path):
    settings, org, admin = funded
    env = _env(settings, tmp_path)
    procs = [_start(env, "reserve", org.id, f"p{n}", "40", str(M)) for n in range(2)]
    results = _run_together(procs)
    assert [r["errors"] for r in results] == [[], []]
    held = [tid for r in results for tid in r["held"]]
    assert len(held) == 50 and len(set(held)) == 50  # 80 tried, exactly 50 covered
    assert sum(r["refused"] for r in results) == 30
    _, credits = open_credits(db, settings)
    statement = credits.statement(admin, org.id)
    assert statement.account is not None and statement.account.balance.available == 0
    report = credits.check(admin)
    assert report.ok, report.problems
    assert report.open_pending == 50


def test_two_processes_share_one_rate_limit(db, funded, tmp_path):
    _redis_or_skip()
    settings, org, _ = funded
    env = _env(settings, tmp_path)
    key = f"key_{secrets.token_hex(6)}"  # fresh buckets in the shared Redis
    procs = [_start(env, "limit", org.id, key, "40", "30") for _ in range(2)]
    results = _run_together(procs)
    assert sum(r["allowed"] for r in results) == 30  # not 30 per process
    refused = [ra for r in results for ra in r["retry_after"]]
    assert len(refused) == 50 and all(0 < ra <= 60 for ra in refused)


def test_kill_9_mid_stream_is_reconciled_from_recorded_usage(db, funded, tmp_path):
    settings, org, admin = funded
    env = _env(settings, tmp_path)
    streaming = _start(env, "stream", org.id, "stream-1", str(5 * M))
    silent = _start(env, "reserve", org.id, "silent", "1", str(2 * M))
    _run_together([silent])  # a reservation that never records usage
    streaming.send_signal(signal.SIGKILL)
    streaming.communicate(timeout=30)  # reaps it and closes its pipes
    assert streaming.returncode == -signal.SIGKILL

    # "After restart": a new process's ledger sweeps once the timeouts have passed.
    ledger, credits = open_credits(db, settings.model_copy(update={"prices": {}}))
    early = ledger.sweep()
    assert early.reconciled == [] and early.expired == []  # nothing is stale yet
    later = utcnow() + timedelta(minutes=11)
    report = ledger.sweep(now=later)
    (posted,) = report.reconciled
    (expired,) = report.expired
    price = price_ref("m-large", Settings(prices=PRICES).prices["m-large"])
    from_worker = usage_cost(price, STREAM_USAGE)
    assert posted.pending_id == "stream-1" and posted.amount == from_worker
    assert expired.pending_id == "silent-0" and expired.amount == 0

    # Nothing is charged twice: sweeping again, or the gateway retrying, changes nothing.
    assert ledger.sweep(now=later).reconciled == []
    with pytest.raises(PendingResolved):
        ledger.post(pending_id=TransferId("stream-1"), amount=M)
    assert ledger.settle(pending_id=TransferId("stream-1"), usage=STREAM_USAGE) == posted
    statement = credits.statement(admin, org.id)
    assert statement.account is not None
    assert statement.account.balance.available == 50 * M - from_worker
    assert statement.consumed is not None
    assert statement.consumed.balance.credits_posted == from_worker
    assert credits.check(admin).ok
