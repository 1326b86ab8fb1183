"""A stand-in for a gateway process, for tests/integration/test_ledger_processes.py.

The gateway (issue 3) is not wired to the ledger yet, so these tests run this script as
real OS processes that call the ledger and the rate limiter exactly as a gateway worker
will: their own Settings, engine and Redis client, nothing shared with the test but the
database and Redis. Each mode sets up, prints ``ready``, waits for a line on stdin (the
test's start signal, so several processes start together without sleeps), then works and
prints one JSON line.

Modes:
  reserve ORG_ID PREFIX COUNT AMOUNT   reserve COUNT times from 8 threads
  limit ORG_ID KEY_ID COUNT RPM        acquire COUNT times against a requests/min limit
  stream ORG_ID TRANSFER_ID AMOUNT     reserve, checkpoint usage, then hang (to be killed)
"""

from __future__ import annotations

import json
import sys
import threading
from datetime import timedelta

from enclave.config import load_settings
from enclave.errors import EnclaveError
from enclave.ledger import InsufficientCredits, Limits, TransferId, Usage
from enclave.ledger.pricing import price_ref
from enclave.registry import OrgId
from enclave.store import Database
from enclave.store.ledger_repo import open_ledger, open_rate_limiter

STREAM_USAGE = Usage(input_tokens=1200, output_tokens=300)


def main(argv: list[str]) -> int:
    settings = load_settings()
    mode, org_id = argv[0], OrgId(argv[1])
    db = Database(settings.database_url)
    ledger = open_ledger(db, settings)
    price = price_ref("m-large", settings.prices["m-large"])
    out: dict[str, object] = {}

    def ready() -> None:
        print("ready", flush=True)
        sys.stdin.readline()

    if mode == "reserve":
        prefix, count, amount = argv[2], int(argv[3]), int(argv[4])
        held: list[str] = []
        refused: list[int] = []
        errors: list[str] = []
        lock = threading.Lock()
        todo = iter(range(count))

        def work() -> None:
            while True:
                with lock:
                    i = next(todo, None)
                if i is None:
                    return
                tid = f"{prefix}-{i}"
                try:
                    ledger.reserve(
                        transfer_id=TransferId(tid),
                        org_id=org_id,
                        amount=amount,
                        timeout=timedelta(minutes=10),
                        price=price,
                        actor="key:worker",
                    )
                except InsufficientCredits as exc:
                    with lock:
                        refused.append(exc.available)
                except EnclaveError as exc:
                    with lock:
                        errors.append(exc.diagnostics())
                else:
                    with lock:
                        held.append(tid)

        threads = [threading.Thread(target=work) for _ in range(8)]
        ready()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out = {"held": held, "refused": len(refused), "errors": errors}
    elif mode == "limit":
        key_id, count, rpm = argv[2], int(argv[3]), int(argv[4])
        limiter = open_rate_limiter(settings)
        ready()
        decisions = [
            limiter.acquire(
                key_id=key_id,
                org_id=org_id,
                key_limits=Limits(requests_per_minute=rpm),
                org_limits=Limits(),
                tokens=0,
            )
            for _ in range(count)
        ]
        out = {
            "allowed": sum(d.allowed for d in decisions),
            "retry_after": [d.retry_after for d in decisions if not d.allowed],
        }
    elif mode == "stream":
        tid, amount = TransferId(argv[2]), int(argv[3])
        ledger.reserve(
            transfer_id=tid,
            org_id=org_id,
            amount=amount,
            timeout=timedelta(minutes=5),
            price=price,
            actor="key:worker",
        )
        # What a gateway does while streaming: checkpoint usage as the response goes out.
        ledger.record_usage(pending_id=tid, usage=Usage(input_tokens=1200, output_tokens=10))
        ledger.record_usage(pending_id=tid, usage=STREAM_USAGE)
        print("ready", flush=True)
        sys.stdin.readline()  # never answered: the test kills this process with SIGKILL
        return 1
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    db.close()
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
