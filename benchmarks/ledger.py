"""Ledger throughput: reserve+post pairs per second, on SQLite and PostgreSQL, one client
and 32 concurrent clients.

Run: ``.venv/bin/python benchmarks/ledger.py`` (or ``make bench-ledger``); options:
``--pairs N`` (single client, default 2,000), ``--per-thread N`` (default 100),
``--skip-postgres``. Writes benchmarks/results/ledger.json and prints a table.

Per backend, on a fresh database, through the real services (LedgerService over the SQL
store, each call its own write transaction with its event, as the gateway will call it):

1. ``baseline``: one write transaction appending one event (SqlEvents), the floor every
   ledger call sits on; a pair is two such transactions plus its own work, so a pair rate
   near half the baseline means the ledger adds little beyond the database round trips.
2. ``single``: reserve then post, one client, sequentially: pairs/s and per-pair latency.
3. ``concurrent_one_org``: 32 threads reserving and posting against ONE organisation: the
   worst case, every writer on the same balance row.
4. ``concurrent_many_orgs``: 32 threads, one organisation each: the common case.
5. ``baseline_concurrent``: 32 threads of baseline transactions.

Threads share one process (and its GIL) as gateway worker threads would; the machine has 2
cores shared with the database server. Ratios are against the baseline taken in the same
run, never against numbers from another machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench_databases import postgres_db, postgres_problem, sqlite_db

from enclave.config import Settings
from enclave.config.settings import ModelPrice
from enclave.events import Event
from enclave.ledger import LedgerService, TransferId
from enclave.ledger.pricing import price_ref
from enclave.registry import OrgId, RegistryService
from enclave.store import Database
from enclave.store.engine import write_connection
from enclave.store.events_repo import SqlEvents
from enclave.store.ledger_repo import open_credits

RESULTS = Path(__file__).parent / "results" / "ledger.json"
THREADS = 32
M = 1_000_000
PRICE = ModelPrice(input=3_000_000, output=15_000_000, max_output_tokens=8192)


def _rate(count: int, seconds: float) -> int:
    return round(count / seconds) if seconds > 0 else 0


def _quantiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3),
    }


class Bench:
    def __init__(self, db: Database) -> None:
        self.db = db
        settings = Settings(database_url=db.url, prices={"m": PRICE})
        registry = RegistryService(store=db, settings=settings, pepper=b"p" * 32)
        self.admin = registry.create_operator(None, name="root", roles=["admin"]).operator
        second = registry.create_operator(self.admin, name="two", roles=["reviewer"]).operator
        self.ledger, self.credits = open_credits(db, settings)
        self.credits.fund(self.admin, pool="bench", amount=10**14, create=True)
        self.orgs: list[OrgId] = []
        for i in range(THREADS):
            org, app = registry.create_org(
                self.admin, name=f"org-{i}", kind="maintainer", tier="maintainer"
            )
            registry.decide(self.admin, app.id, decision="approve", reason="bench")
            registry.decide(second, app.id, decision="approve", reason="bench")
            self.credits.grant(self.admin, pool="bench", org=org.id, amount=10**12)
            self.orgs.append(org.id)
        self.price = price_ref("m", PRICE)

    def pair(self, ledger: LedgerService, org: OrgId) -> None:
        tid = TransferId(f"b-{secrets.token_hex(8)}")
        ledger.reserve(
            transfer_id=tid,
            org_id=org,
            amount=50_000,
            timeout=timedelta(minutes=10),
            price=self.price,
            actor="key:bench",
        )
        ledger.post(pending_id=tid, amount=20_000, actor="key:bench")

    def baseline_txn(self) -> None:
        with write_connection(self.db.engine) as conn:
            SqlEvents(conn).append(
                Event(kind="bench.baseline", actor="system", subject="b", at=datetime.now(UTC))
            )


def _sequential(fn: Callable[[], None], count: int) -> dict[str, Any]:
    for _ in range(min(50, count)):
        fn()  # warm the pool and the statement caches
    samples = []
    start = time.perf_counter()
    for _ in range(count):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    return {"count": count, "seconds": round(elapsed, 3), "per_s": _rate(count, elapsed),
            **_quantiles(samples)}  # fmt: skip


def _concurrent(work: Callable[[int], None], per_thread: int) -> dict[str, Any]:
    gate = threading.Barrier(THREADS + 1)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        gate.wait()
        try:
            for _ in range(per_thread):
                work(i)
        except BaseException as exc:  # reported below: a benchmark must not hide failures
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    gate.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} thread(s) failed: {errors[0]!r}")
    count = THREADS * per_thread
    return {"count": count, "threads": THREADS, "seconds": round(elapsed, 3),
            "per_s": _rate(count, elapsed)}  # fmt: skip


def run_backend(name: str, db: Database, pairs: int, per_thread: int) -> dict[str, Any]:
    print(f"{name}: setting up", flush=True)
    b = Bench(db)
    out: dict[str, Any] = {}
    print(f"{name}: baseline", flush=True)
    out["baseline"] = _sequential(b.baseline_txn, pairs)
    print(f"{name}: single client", flush=True)
    out["single"] = _sequential(lambda: b.pair(b.ledger, b.orgs[0]), pairs)
    print(f"{name}: {THREADS} clients, one organisation", flush=True)
    out["concurrent_one_org"] = _concurrent(lambda _i: b.pair(b.ledger, b.orgs[0]), per_thread)
    print(f"{name}: {THREADS} clients, one organisation each", flush=True)
    out["concurrent_many_orgs"] = _concurrent(lambda i: b.pair(b.ledger, b.orgs[i]), per_thread)
    print(f"{name}: {THREADS} clients, baseline", flush=True)
    out["baseline_concurrent"] = _concurrent(lambda _i: b.baseline_txn(), per_thread)
    base, conc_base = out["baseline"]["per_s"], out["baseline_concurrent"]["per_s"]
    out["ratios"] = {
        "single_pairs_to_baseline_txns": round(out["single"]["per_s"] / base, 3),
        "one_org_pairs_to_baseline_txns": round(out["concurrent_one_org"]["per_s"] / conc_base, 3),
        "many_orgs_pairs_to_baseline_txns": round(
            out["concurrent_many_orgs"]["per_s"] / conc_base, 3
        ),
    }
    report = b.credits.check(b.admin)
    out["check_ok"] = report.ok
    out["transfers"] = report.transfers
    if not report.ok:
        raise RuntimeError(f"ledger check failed after the benchmark: {report.problems[:5]}")
    return out


def _table(results: dict[str, Any]) -> None:
    rows = [
        ("baseline write txns /s (1 client)", "baseline", "per_s"),
        ("reserve+post pairs /s (1 client)", "single", "per_s"),
        ("  pair latency p50 ms", "single", "p50_ms"),
        ("  pair latency p99 ms", "single", "p99_ms"),
        (f"pairs /s ({THREADS} clients, 1 org)", "concurrent_one_org", "per_s"),
        (f"pairs /s ({THREADS} clients, {THREADS} orgs)", "concurrent_many_orgs", "per_s"),
        (f"baseline txns /s ({THREADS} clients)", "baseline_concurrent", "per_s"),
    ]
    backends = [b for b in ("sqlite", "postgresql") if b in results["backends"]]
    print()
    print(f"load average at start: {results['load_average_at_start']}")
    print(f"{'':40}" + "".join(f"{b:>14}" for b in backends))
    for label, section, key in rows:
        cells = [f"{results['backends'][b][section][key]:,}" for b in backends]
        print(f"{label:40}" + "".join(f"{c:>14}" for c in cells))
    for ratio in ("single_pairs_to_baseline_txns", "one_org_pairs_to_baseline_txns",
                  "many_orgs_pairs_to_baseline_txns"):  # fmt: skip
        cells = [str(results["backends"][b]["ratios"][ratio]) for b in backends]
        print(f"{ratio:40}" + "".join(f"{c:>14}" for c in cells))
    print(f"written to {RESULTS}")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--per-thread", type=int, default=100)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "benchmark": "ledger",
        "at": datetime.now(UTC).isoformat(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "threads": THREADS,
        "backends": {},
    }
    with sqlite_db() as db:
        results["backends"]["sqlite"] = run_backend("sqlite", db, args.pairs, args.per_thread)
    problem = None if not args.skip_postgres else "skipped (--skip-postgres)"
    problem = problem or postgres_problem()
    if problem is None:
        with postgres_db("bench_ledger") as db:
            results["backends"]["postgresql"] = run_backend(
                "postgresql", db, args.pairs, args.per_thread
            )
    else:
        results["postgresql_skipped"] = problem
        print(f"PostgreSQL not measured: {problem}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    _table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
