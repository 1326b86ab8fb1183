"""Shared by the ledger tests (imported by name, like admin_support)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from enclave.config.settings import ModelPrice
from enclave.ledger import CreditsService, LedgerService, PriceRef, Transfer, TransferId
from enclave.registry import Operator, Organisation, RegistryService
from enclave.store import Database

M = 1_000_000  # micro-credits per credit

PRICES = {
    # Anthropic-like: cache writes dearer than input, cache reads cheaper.
    "m-large": ModelPrice(
        input=3_000_000,
        output=15_000_000,
        cache_read=300_000,
        cache_write=3_750_000,
        max_output_tokens=8192,
        context_window=200_000,
    ),
    "m-free": ModelPrice(input=0, output=0, max_output_tokens=1024),
}


@dataclass
class World:
    ledger: LedgerService
    credits: CreditsService
    registry: RegistryService
    admin: Operator
    db: Database

    def approved_org(
        self, name: str, reviewers: tuple[Operator, Operator], kind: str = "maintainer"
    ) -> Organisation:
        org, app = self.registry.create_org(self.admin, name=name, kind=kind, tier=kind)
        self.registry.decide(reviewers[0], app.id, decision="approve", reason="ok")
        return self.registry.decide(reviewers[1], app.id, decision="approve", reason="ok")[1]

    def available(self, org: Organisation) -> int:
        account = self.credits.statement(self.admin, org.id).account
        return account.balance.available if account else 0

    def reserve(
        self, org: Organisation, tid: object, amount: object, price: PriceRef, minutes: int = 5
    ) -> Transfer:
        return self.ledger.reserve(
            transfer_id=TransferId(tid),  # type: ignore[arg-type]
            org_id=org.id,
            amount=amount,  # type: ignore[arg-type]
            timeout=timedelta(minutes=minutes),
            price=price,
            actor="key:key_test",
            key_id="key_test",
        )

    def snapshot(self) -> tuple[object, ...]:
        """Everything a refused call must leave as it was: balances, transfers, events."""
        accounts = self.credits.accounts(self.admin)
        transfers = [
            t for a in accounts for t in self.credits.history(self.admin, a.id, limit=1000)[1]
        ]
        events = self.registry.list_events(self.admin, limit=1000)
        return tuple(accounts), tuple(sorted(transfers, key=lambda t: t.seq)), tuple(events)
