"""Audit log throughput and proof costs, on SQLite and PostgreSQL.

Run: ``.venv/bin/python benchmarks/auditlog.py`` (or ``make bench-auditlog``); options:
``--leaves N`` (default 1,000,000), ``--skip-postgres``. Writes
benchmarks/results/auditlog.json and prints a table.

Per backend, on a fresh database:

1. ``events_insert``: append N events (SqlEvents.append_many, 20,000 per transaction):
   the cost of producing the log's input, the baseline the integrator is compared with.
2. ``integrate``: sequence and integrate all N (AuditLog.integrate, default batch 4,096:
   one signed, consistency-checked checkpoint per batch). Leaves per second.
3. ``integrate_small``: 50 rounds of 100 new events then integrate, at N leaves: the
   per-batch cost a busy gateway sees (one checkpoint per round).
4. ``inclusion_proof`` / ``consistency_proof``: 300 proofs each for random leaves and
   random old sizes at N leaves, through the service (read transaction, tiles, entry).
5. ``verify``: recompute the whole tree from the events rows and check every checkpoint.

Plus ``hash_only``, in memory: the RFC 9162 leaf hashes of N entries, the CPU ceiling.

Tessera (transparency-dev/tessera) reports about 10,000 writes/s with its POSIX driver on
NVMe with 7 cores, i.e. about 1,430 per core. Our integrator is one thread: on SQLite it
uses one core (the database is in process); on PostgreSQL the work is split between our
process and the server's backend, so we divide by two. The workloads differ: Tessera's
figure includes accepting entries over HTTP, ours starts from events already committed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench_databases import postgres_db, postgres_problem, sqlite_db

from enclave.auditlog import AuditLog, Signer, entry_bytes
from enclave.auditlog.merkle import leaf_hash
from enclave.events import Event, canonical_json
from enclave.store import Database
from enclave.store.auditlog_repo import SqlAuditLog
from enclave.store.engine import write_connection
from enclave.store.events_repo import SqlEvents

RESULTS = Path(__file__).parent / "results" / "auditlog.json"
TESSERA_WRITES_PER_S = 10_000
TESSERA_CORES = 7
BUDGET_SQLITE = 20_000
T0 = datetime(2026, 11, 1, tzinfo=UTC)
CHUNK = 20_000


def _events(start: int, n: int) -> list[Event]:
    # Shaped like the gateway's request events: ids, a verdict and body hashes.
    return [
        Event(
            kind="gateway.request",
            actor=f"key:key_{(start + i) % 997:016x}",
            subject=f"sess_{(start + i) // 20:016x}",
            at=T0 + timedelta(milliseconds=start + i),
            data={
                "model": "m-large",
                "purpose": "vuln-detection",
                "advice": "allow",
                "risk": 0.12,
                "prompt": "sha256:" + secrets.token_hex(32),
                "response": "sha256:" + secrets.token_hex(32),
                "tokens": {"input": 1234, "output": 567},
            },
        )
        for i in range(n)
    ]


def _append(db: Database, start: int, n: int) -> None:
    for offset in range(0, n, CHUNK):
        with write_connection(db.engine) as conn:
            SqlEvents(conn).append_many(_events(start + offset, min(CHUNK, n - offset)))


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def _samples(fn: Callable[[], Any], count: int) -> dict[str, float]:
    times = []
    for _ in range(count):
        elapsed, _ = _timed(fn)
        times.append(elapsed * 1000)
    times.sort()
    return {
        "median_ms": round(statistics.median(times), 3),
        "p99_ms": round(times[int(len(times) * 0.99) - 1], 3),
        "calls": count,
    }


def run_backend(name: str, db: Database, leaves: int) -> dict[str, Any]:
    signer = Signer.generate("bench.example/log")
    log = AuditLog(store=SqlAuditLog(db.engine), signer=signer)
    out: dict[str, Any] = {"backend": name, "leaves": leaves}
    print(f"[{name}] appending {leaves:,} events ...", flush=True)
    seconds, _ = _timed(lambda: _append(db, 0, leaves))
    out["events_insert"] = {"seconds": round(seconds, 2), "per_s": round(leaves / seconds)}

    print(f"[{name}] integrating ...", flush=True)
    cpu = time.process_time()
    seconds, done = _timed(log.integrate)
    cpu = time.process_time() - cpu
    assert done.tree_size == leaves, done
    rate = leaves / seconds
    cores = 1 if name == "sqlite" else 2
    out["integrate"] = {
        "seconds": round(seconds, 2),
        "leaves_per_s": round(rate),
        "process_cpu_s": round(cpu, 2),
        # Our process's CPU only: on SQLite that is all of the work, so this is the rate
        # per core whatever else the (shared) machine is doing; on PostgreSQL the server's
        # share is not counted.
        "leaves_per_cpu_s": round(leaves / cpu),
        "ratio_to_events_insert": round(rate / out["events_insert"]["per_s"], 2),
        "per_core": round(rate / cores),
        "cores_assumed": cores,
        "ratio_to_tessera_per_core": round(
            (rate / cores) / (TESSERA_WRITES_PER_S / TESSERA_CORES), 1
        ),
    }

    small = []
    for round_ in range(50):
        _append(db, leaves + round_ * 100, 100)
        elapsed, _ = _timed(log.integrate)
        small.append(elapsed * 1000)
    out["integrate_small"] = {
        "entries_per_batch": 100,
        "median_ms": round(statistics.median(small), 2),
        "max_ms": round(max(small), 2),
    }
    size = log.latest_checkpoint().size
    print(f"[{name}] proofs at {size:,} leaves ...", flush=True)
    rng = random.Random(7)
    out["inclusion_proof"] = _samples(lambda: log.inclusion_proof(rng.randrange(size)), 300)
    out["consistency_proof"] = _samples(lambda: log.consistency_proof(rng.randrange(1, size)), 300)
    print(f"[{name}] verifying ...", flush=True)
    seconds, report = _timed(log.verify)
    assert report.ok, report.problems
    out["verify"] = {
        "seconds": round(seconds, 2),
        "seconds_per_million": round(seconds * 1_000_000 / size, 2),
        "checkpoints_checked": len(report.checked),
    }
    return out


def hash_only(leaves: int) -> dict[str, Any]:
    entries = [
        entry_bytes(
            seq=i,
            at=e.at,
            kind=e.kind,
            actor=e.actor,
            subject=e.subject,
            data=canonical_json(e.data).decode(),
        )
        for i, e in enumerate(_events(0, min(leaves, 200_000)), 1)
    ]
    seconds, _ = _timed(lambda: [leaf_hash(e) for e in entries])
    return {
        "per_s": round(len(entries) / seconds),
        "entry_bytes_mean": round(sum(map(len, entries)) / len(entries)),
    }


def _table(results: dict[str, Any]) -> None:
    rows = [
        ("events appended /s", "events_insert", "per_s", "{:,}"),
        ("leaves integrated /s", "integrate", "leaves_per_s", "{:,}"),
        ("  per core", "integrate", "per_core", "{:,}"),
        ("  per CPU-second of this process", "integrate", "leaves_per_cpu_s", "{:,}"),
        ("  x Tessera per core", "integrate", "ratio_to_tessera_per_core", "{}"),
        ("  x event appends", "integrate", "ratio_to_events_insert", "{}"),
        ("batch of 100, ms (median)", "integrate_small", "median_ms", "{}"),
        ("inclusion proof, ms (median)", "inclusion_proof", "median_ms", "{}"),
        ("inclusion proof, ms (p99)", "inclusion_proof", "p99_ms", "{}"),
        ("consistency proof, ms (median)", "consistency_proof", "median_ms", "{}"),
        ("verify, s per million", "verify", "seconds_per_million", "{}"),
    ]
    backends = [b for b in ("sqlite", "postgresql") if b in results["backends"]]
    print()
    print(f"load average at start: {results['load_average_at_start']}")
    print(f"{'':34}" + "".join(f"{b:>14}" for b in backends))
    for label, section, key, fmt in rows:
        cells = [fmt.format(results["backends"][b][section][key]) for b in backends]
        print(f"{label:34}" + "".join(f"{c:>14}" for c in cells))
    print(f"\nleaf hashing alone, in memory: {results['hash_only']['per_s']:,} /s")
    print(
        f"Tessera: {TESSERA_WRITES_PER_S:,} writes/s on {TESSERA_CORES} cores "
        f"({TESSERA_WRITES_PER_S // TESSERA_CORES:,} per core)"
    )
    sqlite = results["backends"].get("sqlite")
    if sqlite:
        verdict = "meets" if sqlite["integrate"]["leaves_per_s"] >= BUDGET_SQLITE else "MISSES"
        print(f"SQLite budget >= {BUDGET_SQLITE:,} leaves/s: {verdict}")
    print(f"written to {RESULTS}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "benchmark": "auditlog",
        "at": datetime.now(UTC).isoformat(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "tessera": {"writes_per_s": TESSERA_WRITES_PER_S, "cores": TESSERA_CORES},
        "budget_sqlite_leaves_per_s": BUDGET_SQLITE,
        "hash_only": hash_only(args.leaves),
        "backends": {},
    }
    with sqlite_db() as db:
        results["backends"]["sqlite"] = run_backend("sqlite", db, args.leaves)
    problem = None if not args.skip_postgres else "skipped (--skip-postgres)"
    problem = problem or postgres_problem()
    if problem is None:
        with postgres_db("bench_auditlog") as db:
            results["backends"]["postgresql"] = run_backend("postgresql", db, args.leaves)
    else:
        results["postgresql_skipped"] = problem
        print(f"PostgreSQL not measured: {problem}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    _table(results)
    sqlite = results["backends"]["sqlite"]["integrate"]["leaves_per_s"]
    return 0 if sqlite >= BUDGET_SQLITE else 1


if __name__ == "__main__":
    sys.exit(main())
