"""200 concurrent reservations against a balance that covers exactly 50: exactly 50 are
held, the balance never goes below zero, and the check passes. Real threads on the real
database (SQLite and PostgreSQL), started together by a barrier."""

from __future__ import annotations

import threading

from ledger_support import M

from enclave.errors import EnclaveError
from enclave.ledger import InsufficientCredits, TransferId

THREADS = 200
COVERED = 50


def test_exactly_the_covered_reservations_succeed(world, reviewers, price):
    org = world.approved_org("racer", reviewers)
    world.credits.fund(world.admin, pool="oss", amount=COVERED * M, create=True)
    world.credits.grant(world.admin, pool="oss", org=org.id, amount=COVERED * M)

    gate = threading.Barrier(THREADS + 1)
    done = threading.Event()
    held: list[str] = []
    refused: list[int] = []
    other: list[EnclaveError] = []
    lowest: list[int] = []
    lock = threading.Lock()

    def request(i: int) -> None:
        gate.wait()
        try:
            world.reserve(org, f"req-{i}", M, price)
        except InsufficientCredits as exc:
            with lock:
                refused.append(exc.available)
        except EnclaveError as exc:  # a database error would be a failure of the test
            with lock:
                other.append(exc)
        else:
            with lock:
                held.append(f"req-{i}")

    def watch() -> None:
        # Reads the committed balance while the requests run.
        gate.wait()
        while not done.is_set():
            lowest.append(world.available(org))

    threads = [threading.Thread(target=request, args=(i,)) for i in range(THREADS)]
    watcher = threading.Thread(target=watch)
    for t in threads:
        t.start()
    watcher.start()
    for t in threads:
        t.join()
    done.set()
    watcher.join()

    assert other == []
    assert len(held) == COVERED and len(refused) == THREADS - COVERED
    assert all(available < M for available in refused)
    assert min(lowest) >= 0 and world.available(org) == 0
    report = world.credits.check(world.admin)
    assert report.ok, report.problems
    assert report.open_pending == COVERED

    # Settling them concurrently keeps every invariant too.
    def settle(tid: str) -> None:
        world.ledger.post(pending_id=TransferId(tid), amount=M // 2)

    settlers = [threading.Thread(target=settle, args=(tid,)) for tid in held]
    for t in settlers:
        t.start()
    for t in settlers:
        t.join()
    assert world.available(org) == COVERED * M // 2
    assert world.credits.check(world.admin).ok
