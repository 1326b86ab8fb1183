"""The background sweeper a gateway process runs: ``LedgerService.sweep`` every interval.

Every gateway process may run one; they do not coordinate, because each resolution is a
claim only one of them wins (see LedgerService). A failed sweep is reported and retried
at the next interval: a stale reservation only holds credits a little longer.
"""

from __future__ import annotations

import logging
import threading

from enclave.errors import EnclaveError
from enclave.ledger.service import LedgerService, SweepReport

log = logging.getLogger("enclave.ledger.sweeper")


class PeriodicSweeper:
    def __init__(self, ledger: LedgerService, *, interval_seconds: float = 30.0) -> None:
        if interval_seconds <= 0:
            raise ValueError("interval_seconds must be positive")
        self._ledger = ledger
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last: SweepReport | None = None

    def run_once(self) -> SweepReport | None:
        try:
            self.last = self._ledger.sweep()
        except EnclaveError as exc:
            log.warning("ledger sweep failed: %s", exc.diagnostics())
            return None
        return self.last

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.run_once()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the sweeper is already running")
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="ledger-sweeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


__all__ = ["PeriodicSweeper"]
